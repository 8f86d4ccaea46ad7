"""build_audio: the whole video's soundtrack, built once while the clips render.

Everything the sound needs (each clip's frame count, music and narration) is known
once the plan is fitted, so the clips render video only and this activity mixes
every clip's sound (levelled music ducked under levelled narration, the theme's
countdown ticks and reveal sting on top, each clip ending in a fade), brings the
programme to its loudness target with a true-peak limiter and encodes AAC: the
final step then only muxes, off the critical path of the encode.
"""

from __future__ import annotations

from pathlib import Path

from temporalio import activity

from activities.common import temporal_errors
from activities.keeper import Heartbeats, keep_heartbeating
from activities.logs import activity_log
from activities.narration import narration_file, narration_key
from activities.plans import PlanStore
from contracts import names
from contracts.job import AUDIO_RATE, LOUDNESS_TARGETS
from contracts.plan import samples_for
from contracts.records import AudioResult, AudioWork, BuildAudioInput, Loudness, finite
from engine.deps import Deps, scratch
from engine.errors import BadAsset, MediaMismatch
from engine.media.bed import BedPlay, merged_spans
from engine.media.graphs import MIX_GROUP, ClipInputs, clip_audio_command
from engine.media.loudness import measure, measure_file
from engine.media.probe import counted
from engine.media.process import FfmpegError, run_ffmpeg
from engine.media.programme import GroupFailed, encode_programme, mix_programme
from engine.media_assets import asset_audio, fetch_video
from engine.sound_assets import SoundAssets, clip_effects, theme_bed
from engine.threads import stoppable
from engine.tts import TtsEngine, Voices


class AudioActivities:
    def __init__(self, deps: Deps, tts: TtsEngine | None = None) -> None:
        self.deps = deps
        self.voices = Voices(deps.settings, tts)
        self.plans = PlanStore(deps)

    @activity.defn(name=names.BUILD_AUDIO)
    async def build_audio(self, inp: BuildAudioInput) -> AudioResult:
        """The stored plan's whole soundtrack, read by key: history never carries the plan."""
        with temporal_errors():
            plan = await self.plans.plan(inp.plan_key)
        return await self.build(AudioWork(plan, inp.loudness, inp.voice, inp.speed, inp.tts_engine, inp.channel))

    async def build(self, inp: AudioWork) -> AudioResult:
        """Mix, level and encode the track (run inside an activity: it heartbeats and stops when canceled)."""
        plan = inp.plan
        log = activity_log(video_id=plan.video_id, clips=len(plan.clips))
        uri = self.deps.settings.work_uri_for(f"{plan.video_id}/audio.m4a")
        target = LOUDNESS_TARGETS[inp.loudness]
        with temporal_errors():
            async with (
                keep_heartbeating() as beats,
                scratch(self.deps.settings, f"{plan.video_id}-audio") as tmp,
            ):
                await beats.confirm("starting")  # a frozen worker's late attempt stops here, before any work
                clips, beds = await self._inputs(inp, tmp, beats)
                try:
                    source, cpu = await mix_programme(plan.profile, clips, beds, tmp, beats.stage)
                except GroupFailed as failed:
                    raise await self._culprit(inp, clips, failed.first, tmp, beats, failed.error) from failed.error
                out = tmp / "audio.m4a"
                cpu += await encode_programme(source, target, out, beats.stage)
                beats.stage("checking the track")
                info = await counted(out)
                planned = samples_for(plan.frames, plan.profile.fps) / AUDIO_RATE
                if info.audio is None or abs(info.audio.duration_s - planned) > 1 / plan.profile.fps:
                    found = info.audio.duration_s if info.audio else 0.0
                    raise MediaMismatch(f"the audio track lasts {found:.6f} s, the plan has {planned:.6f} s")
                delivered = await measure(measure_file(out))
                await beats.confirm("storing the track")
                await stoppable(self.deps.storages.for_uri(uri).upload, out, uri)
        loudness = Loudness(
            integrated_lufs=finite(delivered.integrated_lufs),
            true_peak_dbtp=finite(delivered.true_peak_dbtp),
            range_lu=finite(delivered.range_lu),
            target_lufs=target.integrated_lufs,
            target_true_peak_dbtp=target.true_peak_dbtp,
        )
        log.info("audio built", lufs=loudness.integrated_lufs, true_peak=loudness.true_peak_dbtp)
        return AudioResult(uri=uri, loudness=loudness, cpu_seconds=round(cpu, 3))

    async def _culprit(
        self,
        inp: AudioWork,
        clips: list[tuple[int, ClipInputs]],
        first: int,
        tmp: Path,
        beats: Heartbeats,
        err: FfmpegError,
    ) -> FfmpegError:
        """The failure named after the first clip whose sound fails alone (ffmpeg's reason, as a clip render gives it).

        Only after a group's mix failed, from its `first` clip on; the group's error when every clip mixes alone.
        """
        for n in range(first, min(first + MIX_GROUP, len(clips))):
            frames, inputs = clips[n]
            beats.stage(f"finding the clip that fails: {n + 1}/{len(clips)}")
            try:
                await run_ffmpeg(clip_audio_command(inp.plan.profile, frames, inputs, tmp / "alone.wav"))
            except FfmpegError as alone:
                return FfmpegError(alone.returncode, alone.stderr_tail, inp.plan.clips[n].label)
        return err

    async def _inputs(
        self, inp: AudioWork, tmp: Path, beats: Heartbeats
    ) -> tuple[list[tuple[int, ClipInputs]], list[BedPlay]]:
        """Each clip's frames and local sound files, and the theme's beds with the clips they play under; an
        asset used by several clips is fetched once."""
        plan, fps = inp.plan, inp.plan.profile.fps
        assets = SoundAssets(self.deps, tmp)
        beds: dict[str, Path] = {}
        spans: dict[str, list[tuple[int, int]]] = {}
        clips = []
        start = 0
        for clip in plan.clips:
            beats.stage(f"fetching sound for clip {clip.index + 1}/{len(plan.clips)}")
            spec = clip.spec
            music, gain = None, 0.0
            if spec.audio:
                music, gain = await assets.music(spec.audio, clip.label)
            narration = None
            if spec.narration:
                tts = self.voices.choose(inp.tts_engine, inp.channel)
                voice = spec.voice or inp.voice
                key = clip.narration_key or narration_key(tts.name, voice, inp.speed, spec.narration)
                stem = tmp / f"narration-{clip.index:04d}"
                narration = await narration_file(self.deps, tts, key, spec.narration, voice, inp.speed, stem)
            if spec.video:
                # A video asset's own sound, cut to in..out: kept as it is, lowered under narration, or dropped.
                try:
                    asset = await fetch_video(self.deps, spec, tmp / f"video-{clip.index:04d}")
                except BadAsset as err:
                    raise BadAsset(f"{clip.label}: {err}") from None
                stem = tmp / f"video-sound-{clip.index:04d}.wav"
                music, _ = await asset_audio(spec, asset, stem, narrated=narration is not None)
                gain = 0.0
            if music is None and clip.theme is not None and clip.theme.sounds.music:
                # No sound of its own: the theme's bed plays under this clip, laid under the whole programme once.
                uri = clip.theme.sounds.music
                if uri not in beds:
                    beats.stage("levelling the theme's music")
                    beds[uri] = await theme_bed(assets, plan, uri)
                first = samples_for(start, fps)
                spans.setdefault(uri, []).append((first, samples_for(start + clip.frames, fps)))
            effects = await clip_effects(assets, clip, fps)
            inputs = ClipInputs(audio=music, narration=narration, music_gain_db=gain, effects=effects)
            clips.append((clip.frames, inputs))
            start += clip.frames
        return clips, [BedPlay(beds[uri], merged_spans(runs)) for uri, runs in spans.items()]
