"""render_clip: one planned clip → one intermediate in the work store, resumable mid-clip."""

from __future__ import annotations

import dataclasses
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio import activity

from activities.common import fail, temporal_errors
from activities.keeper import Beat, Heartbeats, confirm_attempt, keep_heartbeating
from activities.logs import activity_log
from activities.narration import narration_file
from activities.plans import PlanStore
from contracts import names
from contracts.job import AUDIO_RATE
from contracts.pictures import question_picture
from contracts.plan import samples_for
from contracts.records import ClipResult, ClipWork, RenderClipInput
from engine import integrity, metrics
from engine.clip_cache import ClipCache
from engine.deps import Deps, fetch_asset, scratch
from engine.errors import MediaMismatch, TextDoesNotFit
from engine.gpu_slots import GpuSlots
from engine.integrity import Verdict
from engine.kinds import renderer_for
from engine.media.encoder import NVENC, choose_encoder, video_args
from engine.media.graphs import (
    MUSIC_BED_LUFS,
    ClipCommands,
    ClipInputs,
    Fonts,
    Segments,
    build_clip_commands,
    concat_list,
    join_clip_command,
)
from engine.media.images import frame_sized, write_picture
from engine.media.layers import DoesNotFit
from engine.media.loudness import bed_gain_db
from engine.media.probe import ProbeError, counted, shows_all
from engine.media.process import FfmpegStopped, run_ffmpeg
from engine.media.text import text_hyphenation
from engine.media.themed import clip_theme, theme_fonts
from engine.media.themed_graph import Look
from engine.media_assets import asset_audio, fetch_loop_video, fetch_video
from engine.segments import SegmentStore, SegmentTracker, claimed_segments, segment_frames
from engine.threads import in_thread, stoppable
from engine.tts import TtsEngine, Voices, make_tts

WORKER_DRAINING = "WorkerDraining"


@dataclass
class RenderWork:
    """What one attempt's ffmpeg runs used, for the cost of the video."""

    encoder: str
    narration: str
    cpu_seconds: float = 0.0
    gpu_seconds: float = 0.0


class RenderActivities:
    def __init__(self, deps: Deps, tts: TtsEngine | None = None, gpus: int = 0) -> None:
        self.deps = deps
        self.tts = tts or make_tts(deps.settings.speech.engine, deps.settings)
        self.voices = Voices(deps.settings, self.tts)
        self.gpu_slots = GpuSlots(gpus)
        self.cache = ClipCache(deps)
        self.plans = PlanStore(deps)

    @activity.defn(name=names.RENDER_CLIP)
    async def render_clip(self, inp: RenderClipInput) -> ClipResult:
        """Render the stored plan's clip `inp.index`, video only (the video's sound is built once, beside it),
        and store its record for the concat and the manifest."""
        with temporal_errors():
            clip = await self.plans.clip(inp.plan_key, inp.index)
            profile = (await self.plans.head(inp.plan_key)).profile
        work = ClipWork(
            inp.video_id, clip, profile, inp.tts_voice, inp.tts_speed, inp.tts_engine, inp.channel, video_only=True
        )
        result = await self.render(work)
        with temporal_errors():
            await self.plans.keep_record(inp.video_id, result)
        return result

    async def render(self, inp: ClipWork) -> ClipResult:
        """One clip, resumable mid-clip (run inside an activity: it heartbeats and stops when canceled)."""
        clip = inp.clip
        log = activity_log(clip_index=clip.index, video_id=inp.video_id)
        uri = self.deps.settings.work_uri_for(clip.key)
        started = time.monotonic()
        try:
            with temporal_errors():
                await confirm_attempt()  # a frozen worker's late attempt stops before it renders or stores
                async with keep_heartbeating(Beat(frames_total=clip.frames, clip=clip.label)) as beats:
                    result = await self._render_clip(inp, uri, log, beats)
        except BaseException:
            metrics.CLIPS.labels("failed").inc()
            raise
        finally:
            metrics.IN_FLIGHT.pop((inp.video_id, clip.index), None)
        if result.skipped:
            metrics.CLIPS.labels("reused").inc()
            return result
        seconds = time.monotonic() - started
        metrics.CLIPS.labels("rendered").inc()
        metrics.CLIP_SECONDS.observe(seconds)
        metrics.ENCODE_FPS.observe((clip.frames - result.reused_frames) / max(seconds, 1e-6))
        if result.reused_frames:
            metrics.RESUMES.inc()
        log.info("clip rendered", seconds=round(seconds, 3), reused_frames=result.reused_frames, encoder=result.encoder)
        return dataclasses.replace(result, render_seconds=round(seconds, 3))

    async def _render_clip(self, inp: ClipWork, uri: str, log: Any, beats: Heartbeats) -> ClipResult:
        clip, info = inp.clip, activity.info()
        beats.stage("looking for a finished clip")
        if await self._finished(uri, clip.frames, log):
            # Same video id + same spec hash = same pixels: never render it twice.
            log.info("clip already rendered, reusing", uri=uri)
            return ClipResult(
                clip.index,
                uri,
                clip.frames,
                "reused",
                0.0,
                skipped=True,
                attempt=info.attempt,
                grown_frames=clip.grown_frames,
            )
        beats.stage("looking in the clip cache")
        key = await self.cache.key(inp) if self.cache.enabled else None  # before any asset is fetched
        if cached := await self.cache.take(inp, uri, beats, key):
            return ClipResult(
                clip.index,
                uri,
                clip.frames,
                cached,
                0.0,
                skipped=True,
                attempt=info.attempt,
                grown_frames=clip.grown_frames,
                from_cache=True,
            )
        store = SegmentStore(
            self.deps, inp.video_id, clip, segment_frames(inp.profile, self.deps.settings.render.segment_seconds)
        )
        async with scratch(self.deps.settings, f"{inp.video_id}-{clip.index}") as tmp:
            claimed = claimed_segments(info.heartbeat_details)
            beats.update(stage="verifying checkpoints", segments_done=claimed)
            done = await store.verified_prefix(claimed, tmp, beats)
            if claimed or done:
                log.info("resuming clip", segments_claimed=claimed, segments_verified=done, of=store.count)
            work = await self._render(inp, store, done, tmp, beats)
            parts = [store.local[n] for n in range(store.count)]
            if inp.video_only and store.count == 1:
                out = parts[0]  # one segment is the whole clip: stored as it is, no join to start
            else:
                out = tmp / "clip.mov"
                beats.update(stage="joining segments", frames_done=clip.frames, segments_done=store.count)
                lengths = [store.frames_in(n) for n in range(store.count)]
                (tmp / "segments.ffconcat").write_text(concat_list(parts, lengths, inp.profile.fps))
                audio = None if inp.video_only else tmp / "audio.wav"
                work.cpu_seconds += await run_ffmpeg(join_clip_command(tmp / "segments.ffconcat", audio, out))
            beats.stage("checking the clip")
            await self._check_clip(out, clip.frames, inp.profile.fps, with_audio=not inp.video_only)
            beats.stage("storing the clip")
            # With the record of its bytes: a resume, and the clip cache, hash what they reuse against it.
            content = await stoppable(integrity.store, self.deps.storages.for_uri(uri), out, uri)
        await self.cache.keep(inp, uri, beats, key, content)
        beats.stage("removing checkpoints")
        await store.discard()
        return ClipResult(
            clip.index,
            uri,
            clip.frames,
            work.encoder,
            0.0,
            skipped=False,
            narration=work.narration,
            reused_frames=min(clip.frames, done * store.frames_per_segment),
            attempt=info.attempt,
            gpu_seconds=round(work.gpu_seconds, 3),
            cpu_seconds=round(work.cpu_seconds, 3),
            grown_frames=clip.grown_frames,
        )

    async def _render(self, inp: ClipWork, store: SegmentStore, done: int, tmp: Path, beats: Heartbeats) -> RenderWork:
        """Render the audio track and every video segment not yet stored."""
        clip = inp.clip
        beats.stage("choosing the encoder")
        encoder = await choose_encoder(self.deps.settings.render.encoder)
        beats.stage("fetching assets and narration")
        inputs, narration = await self._inputs(inp, tmp)
        look = await self._look(inp, inputs, tmp)
        settings = self.deps.settings
        hyphenation = text_hyphenation(clip.spec.language, clip.spec.voice, inp.tts_voice)
        fonts = Fonts(settings.render.font, settings.render.font_bold, clip.language or None, hyphenation)
        if look is not None:
            fonts = theme_fonts(look.theme, fonts)
        inputs = dataclasses.replace(inputs, first_frame=done * store.frames_per_segment)
        segments = Segments(directory=tmp / "segments", frames=store.frames_per_segment, start=done)
        segments.directory.mkdir()
        (tmp / "text").mkdir()
        with self.gpu_slots.hold() if encoder == NVENC else nullcontext() as gpu:

            def prepare() -> ClipCommands:
                """Lay out and draw the clip's text (CPU work, off the event loop) and write its files."""
                try:
                    commands = build_clip_commands(
                        clip.spec,
                        inp.profile,
                        clip.frames,
                        inputs=inputs,
                        fonts=fonts,
                        video_args=video_args(encoder, inp.profile, self.deps.settings.render.ffmpeg_threads, gpu),
                        text_dir=tmp / "text",
                        segments=segments,
                        audio_out=None if inp.video_only else tmp / "audio.wav",
                        look=look,
                    )
                except DoesNotFit as err:
                    raise TextDoesNotFit(f"{clip.label}: {err.part} does not fit even at the minimum size") from None
                for path, text in commands.text_files.items():
                    path.write_text(text, encoding="utf-8")
                for path, image in commands.images.items():
                    write_picture(path, image)
                return commands

            beats.stage("drawing text")
            commands = await in_thread(prepare)
            work = RenderWork(encoder, narration)
            if commands.audio:
                beats.stage("rendering audio")
                work.cpu_seconds += await run_ffmpeg(commands.audio)
            if done == store.count:
                return work
            beats.stage("rendering")
            tracker = SegmentTracker(
                store, segments, done, beats=beats, shutting_down=activity.is_worker_shutdown, encoder=encoder, gpu=gpu
            )
            started = time.monotonic()
            try:
                work.cpu_seconds += await run_ffmpeg(commands.video, tracker.on_progress)
            except FfmpegStopped:
                fail(
                    f"worker shutting down: {tracker.done}/{store.count} segments stored, the clip resumes elsewhere",
                    WORKER_DRAINING,
                    non_retryable=False,
                )
            if encoder == NVENC:
                work.gpu_seconds = time.monotonic() - started
        await tracker.publish_finished()
        if tracker.done != store.count:
            raise MediaMismatch(f"ffmpeg wrote {tracker.done} of {store.count} segments")
        return work

    async def _check_clip(self, path: Path, frames: int, fps: int, *, with_audio: bool = True) -> None:
        """Every frame and every audio sample the plan asks for, before the clip is stored (read from its headers)."""
        info = await counted(path)
        found = info.video.packets if info.video else 0
        if found != frames:
            raise MediaMismatch(f"clip has {found} frames, the plan has {frames}")
        if info.video is not None and not shows_all(info.video, frames, fps):
            # An edit list can hide frames the sample tables still hold: players skip them.
            raise MediaMismatch(f"clip shows {info.video.duration_s:.3f} s of video, the plan has {frames} frames")
        if not with_audio:
            return
        samples = round(info.audio.duration_s * AUDIO_RATE) if info.audio else 0
        if samples != samples_for(frames, fps):
            message = f"clip has {samples} audio samples, the plan has {samples_for(frames, fps)}"
            raise MediaMismatch(message)

    async def _finished(self, uri: str, frames: int, log: Any) -> bool:
        """Whether the clip is stored already and its bytes are the ones recorded when it was stored.

        A damaged one is removed (and counted); one stored without a record (before records were kept)
        is not trusted either: it may be the copy of a bad cache entry. Both are rendered again.
        """
        storage = self.deps.storages.for_uri(uri)
        checked = await stoppable(integrity.check, storage, uri)
        if checked.verdict is Verdict.UNRECORDED:
            log.info("finished clip has no content record, rendering it again", uri=uri)
            return False
        if checked.verdict is Verdict.DAMAGED:
            log.warning("finished clip failed its content check, removed; rendering it again", uri=uri, why=checked.why)
            metrics.DAMAGED.labels("clip").inc()
            await in_thread(integrity.remove, storage, uri)
            return False
        if not checked.good:
            return False
        local = storage.local_path(uri)
        if local is None:
            return True  # stored whole, checked before it was stored, and these are its bytes
        try:
            info = await counted(local)
        except ProbeError:
            return False
        return info.video is not None and info.video.packets == frames

    async def _look(self, inp: ClipWork, inputs: ClipInputs, tmp: Path) -> Look | None:
        """The clip's theme with its pictures fetched; None for plans made before themes (their plain look)."""
        clip = inp.clip
        if clip.theme is None:
            return None
        theme = clip_theme(clip.theme, clip.spec)  # a clip's own colour replaces the theme's background
        background = inputs.image
        if background is None and theme.background.image:
            background = await fetch_asset(self.deps, theme.background.image, tmp / "theme-background", "image")
        logo = await fetch_asset(self.deps, theme.logo.uri, tmp / "theme-logo", "image") if theme.logo else None
        video = None
        if background is None and theme.background.video:
            video = await fetch_loop_video(self.deps, theme.background.video, tmp / "theme-background-video")
        picture_uri = question_picture(clip.spec, theme)
        picture = await fetch_asset(self.deps, picture_uri, tmp / "picture", "image") if picture_uri else None
        return Look(theme, clip.number, clip.total, background, logo, video, picture)

    async def _inputs(self, inp: ClipWork, tmp: Path) -> tuple[ClipInputs, str]:
        spec = inp.clip.spec
        image = await fetch_asset(self.deps, spec.image, tmp / "image", "image") if spec.image else None
        if image is not None and renderer_for(spec.kind).still:  # a Ken Burns image is fitted as it zooms
            image = await frame_sized(image, inp.profile, spec.background, tmp / "frame.png")
        video = await fetch_video(self.deps, spec, tmp / "video") if spec.video else None
        if inp.video_only:
            return ClipInputs(image=image, video=video), "track"
        audio = await fetch_asset(self.deps, spec.audio, tmp / "audio", "audio") if spec.audio else None
        gain = await bed_gain_db(audio, MUSIC_BED_LUFS) if audio else 0.0
        narration: Path | None = None
        if spec.narration and inp.clip.narration_key:
            # Made before the plan was fitted; made again, the same way, if the store lost it.
            narration = await narration_file(
                self.deps,
                self.voices.choose(inp.tts_engine, inp.channel),
                inp.clip.narration_key,
                spec.narration,
                spec.voice or inp.tts_voice,
                inp.tts_speed,
                tmp / "speech",
            )
        elif spec.narration:
            wav = tmp / "narration.wav"
            tts = self.voices.choose(inp.tts_engine, inp.channel)
            if await tts.synthesize(spec.narration, spec.voice or inp.tts_voice, inp.tts_speed, wav):
                narration = wav
        if video is not None:
            audio, _ = await asset_audio(spec, video, tmp / "asset-audio.wav", narrated=narration is not None)
        kind = "tts" if narration else "asset" if audio else "none"
        return ClipInputs(image=image, audio=audio, narration=narration, music_gain_db=gain, video=video), kind
