"""Control-queue activities: pre-flight checks, the join, publishing, clean-up.

Each heartbeats through all of its work (`keep_heartbeating`) and stops its
transfers and ffmpeg when its attempt is canceled or abandoned, so a superseded
attempt never publishes.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from temporalio import activity

from activities.captions import publish_captions, unpublish_captions
from activities.common import temporal_errors
from activities.keeper import Heartbeats, keep_heartbeating
from activities.logs import activity_log
from activities.manifest import Manifest, claim_manifest, manifest_uri, read_manifest, refusal, write_manifest
from activities.plans import PlanStore
from contracts import names
from contracts.job import LOUDNESS_TARGETS, JobError, Profile, check_output_uri
from contracts.records import (
    CheckJobInput,
    CheckJobResult,
    ClipResult,
    ConcatInput,
    ConcatResult,
    ConcatWork,
    DiscardInput,
    Loudness,
    UploadInput,
    UploadResult,
    finite,
)
from contracts.tenancy import for_channel
from engine import integrity, metrics
from engine.deps import Deps, fetch, scratch
from engine.errors import BadAsset, IntermediateDamaged, IntermediateLost, InvalidOutput, MediaMismatch, OutputTaken
from engine.media.encoder import choose_encoder, video_args
from engine.media.graphs import concat_command, concat_list, mux_command
from engine.media.loudness import measure, measure_file, normalize_filter
from engine.media.probe import MediaInfo, counted, probe, video_samples
from engine.media.process import run_ffmpeg
from engine.poster import poster_from_clip, poster_uri, publish_poster
from engine.storage import confine, file_path, split_s3
from engine.threads import in_thread, stoppable

MAX_S3_KEY_BYTES = 1024 - len(".render.json")
"""S3 keys are at most 1024 bytes, and the manifest's key is the output's plus its suffix."""


def check_output_place(output: str) -> None:
    """Refuse an output that can never be written: a directory, under a file, or a key S3 refuses."""
    if output.startswith("s3://"):
        key = split_s3(output)[1]
        if len(key.encode()) > MAX_S3_KEY_BYTES:
            message = f"output_uri: the key is {len(key.encode())} bytes long; S3 allows {MAX_S3_KEY_BYTES} here"
            raise InvalidOutput(message)
        return
    path = file_path(output)
    if path.exists() and not path.is_file():
        raise InvalidOutput(f"output_uri: {output[:200]} is not a regular file")
    parent = next((p for p in path.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise InvalidOutput(f"output_uri: {parent} is a file, not a directory")


def check_output_name(output: str) -> None:
    """The job contract's rule for an output's name, on the output the worker resolved (a default one too)."""
    try:
        check_output_uri("output_uri", output)
    except JobError as err:
        raise InvalidOutput(str(err)) from None


def published_before(manifest: Manifest | None, exists: bool, video_id: str, job_hash: str) -> bool:
    """Whether this video already published this very job at the output (a restart of a completed id)."""
    return bool(
        job_hash
        and exists
        and manifest
        and manifest.result
        and (manifest.video_id, manifest.job_hash) == (video_id, job_hash)
    )


def check_duration(info: MediaInfo, frames: int, fps: int) -> None:
    """The joined video must last its planned frames, to within one frame, in every stream."""
    planned = frames / fps
    for kind, stream in (("video", info.video), ("audio", info.audio)):
        if stream is not None and abs(stream.duration_s - planned) > 1 / fps:
            message = f"joined {kind} lasts {stream.duration_s:.6f} s, the plan has {planned:.6f} s ({frames} frames)"
            raise MediaMismatch(message)


class AssembleActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.plans = PlanStore(deps)

    @activity.defn(name=names.CHECK_JOB)
    async def check_job(self, inp: CheckJobInput) -> CheckJobResult:
        """Refuse what would only fail after minutes of rendering: bad or taken destinations, missing assets.

        When this video already published this job at its output, its result is
        returned instead and nothing is rendered.
        """
        with temporal_errors():
            assets = (await self.plans.job(inp.plan_key)).asset_uris()
        return await self.check(inp.video_id, inp.output_uri, assets, inp.job_hash, inp.channel)

    async def check(
        self, video_id: str, output_uri: str | None, asset_uris: list[str], job_hash: str = "", channel: str = ""
    ) -> CheckJobResult:
        """The checks themselves, on the job's output and assets (run inside an activity: it heartbeats)."""
        settings = self.deps.settings
        output = output_uri or f"{settings.storage.output_roots[0]}/{video_id}.mp4"
        checked = CheckJobResult(
            output,
            settings.render.heartbeat_seconds,
            dict(settings.render.usd_per_hour),
            settings.render.queue_wait_seconds,
            fairness_weight=for_channel(settings.render.channel_weights, channel, 1.0) or 1.0,
        )
        with temporal_errors():
            async with keep_heartbeating() as beats:
                beats.stage("checking the output")
                confine(output, settings.storage.output_roots, "output_uri")
                check_output_name(output)
                check_output_place(output)
                manifest, exists = await self._owner(video_id, output)
                if published_before(manifest, exists, video_id, job_hash):
                    assert manifest is not None
                    return dataclasses.replace(checked, published=manifest.result)
                if reason := refusal(manifest, exists, video_id, job_hash, output):
                    raise OutputTaken(reason)
                for number, uri in enumerate(asset_uris, 1):
                    beats.stage(f"checking asset {number}/{len(asset_uris)}")
                    confine(uri, settings.storage.asset_roots, "asset")
                    if not await in_thread(self.deps.storages.for_uri(uri).exists, uri):
                        raise BadAsset(f"asset {uri} does not exist")
        return checked

    async def _owner(self, video_id: str, output: str) -> tuple[Manifest | None, bool]:
        """The output's manifest, if any, and whether the output itself exists."""
        storage = self.deps.storages.for_uri(output)
        async with scratch(self.deps.settings, f"{video_id}-owner") as tmp:
            manifest = await in_thread(read_manifest, storage, output, tmp)
        exists = await in_thread(storage.exists, output)
        return manifest, exists

    @activity.defn(name=names.CONCAT_CLIPS)
    async def concat_clips(self, inp: ConcatInput) -> ConcatResult:
        """Join the stored plan's clips under the video's sound track, as the renders' records describe them."""
        with temporal_errors():
            async with keep_heartbeating() as beats:
                beats.stage("reading the plan and the clip records")
                plan = await self.plans.plan(inp.plan_key)
                records = await self.plans.records(inp.video_id, len(plan.clips))
        work = ConcatWork(
            video_id=inp.video_id,
            clip_uris=[self.deps.settings.work_uri_for(c.key) for c in plan.clips],
            fps=plan.profile.fps,
            expected_frames=plan.frames,
            clip_encoders=[r.encoder for r in records] if records else [],
            poster_seconds=plan.poster_seconds,
            clip_frames=[c.frames for c in plan.clips],
            audio_uri=inp.audio_uri,
        )
        return await self.concat(work)

    async def concat(self, inp: ConcatWork) -> ConcatResult:
        """The join itself (run inside an activity: it heartbeats and stops when canceled)."""
        log = activity_log(video_id=inp.video_id, clips=len(inp.clip_uris))
        joined_uri = self.deps.settings.work_uri_for(f"{inp.video_id}/video.mp4")
        with temporal_errors():
            async with (
                keep_heartbeating() as beats,
                scratch(self.deps.settings, f"{inp.video_id}-concat") as tmp,
            ):
                await beats.confirm("starting")  # a frozen worker's late attempt stops here, before any work
                paths = []
                for i, uri in enumerate(inp.clip_uris):
                    beats.stage(f"fetching clip {i + 1}/{len(inp.clip_uris)}")
                    paths.append(await self._fetch_clip(i, uri, tmp / f"clip-{i:04d}.mov"))
                beats.stage("checking codec parameters")
                reencode = await self._mixed_parameters(inp, paths)
                extra: list[str] | None = None
                if reencode:
                    # A retry landed on a different encoder: a stream-copy join would glitch.
                    first = (await probe(paths[0])).video
                    assert first is not None
                    profile = Profile(width=first.width, height=first.height, fps=inp.fps)
                    encoder = await choose_encoder(self.deps.settings.render.encoder)
                    extra = video_args(encoder, profile, self.deps.settings.render.ffmpeg_threads)
                    log.warning("clips differ in codec parameters, re-encoding at concat", encoder=encoder)
                beats.stage("reading clip lengths")
                frames_each = await self._clip_frames(inp, paths)
                list_file = tmp / "clips.ffconcat"
                list_file.write_text(concat_list(paths, frames_each, inp.fps), encoding="utf-8")
                out = tmp / "video.mp4"

                async def joined(frames_done: int) -> bool:
                    beats.update(stage="joining", frames_done=frames_done, frames_total=inp.expected_frames)
                    return True

                target = LOUDNESS_TARGETS.get(inp.loudness) if inp.loudness and not inp.audio_uri else None
                audio_filter = None
                if target is not None:
                    beats.stage("measuring the programme's loudness")
                    mixed = await measure(["-f", "concat", "-safe", "0", "-i", str(list_file)])
                    audio_filter = normalize_filter(mixed, target)
                    log.info("programme measured", lufs=mixed.integrated_lufs, true_peak=mixed.true_peak_dbtp)
                # The poster comes from its clip, beside the join rather than after it: off the critical path.
                taking = (
                    asyncio.ensure_future(poster_from_clip(paths, frames_each, inp.fps, inp.poster_seconds, tmp))
                    if inp.poster_seconds is not None
                    else None
                )
                try:
                    if inp.audio_uri:
                        beats.stage("fetching the audio track")
                        track = await fetch(self.deps, inp.audio_uri, tmp / "audio.m4a")
                        cpu = await run_ffmpeg(mux_command(list_file, track, out, extra), joined)
                    else:
                        cpu = await run_ffmpeg(concat_command(list_file, out, extra, audio_filter), joined)
                    jpeg = await taking if taking is not None else None
                except BaseException:
                    if taking is not None:
                        taking.cancel()
                        await asyncio.gather(taking, return_exceptions=True)
                    raise
                beats.stage("checking the joined video")
                info = await counted(out)  # frames and durations, from the headers
                frames = info.video.packets if info.video else 0
                if frames != inp.expected_frames:
                    raise MediaMismatch(f"joined video has {frames} frames, the plan has {inp.expected_frames}")
                check_duration(info, inp.expected_frames, inp.fps)
                loudness = None
                if target is not None:
                    beats.stage("measuring the delivered loudness")
                    delivered = await measure(measure_file(out))
                    loudness = Loudness(
                        integrated_lufs=finite(delivered.integrated_lufs),
                        true_peak_dbtp=finite(delivered.true_peak_dbtp),
                        range_lu=finite(delivered.range_lu),
                        target_lufs=target.integrated_lufs,
                        target_true_peak_dbtp=target.true_peak_dbtp,
                    )
                await beats.confirm("storing the joined video")
                await self._store(beats, "storing the joined video", out, joined_uri)
                poster = ""
                if jpeg is not None:
                    poster = self.deps.settings.work_uri_for(f"{inp.video_id}/poster.jpg")
                    await self._store(beats, "storing the poster", jpeg, poster)
        log.info("clips joined", frames=frames, reencoded=reencode, loudness=loudness)
        return ConcatResult(
            uri=joined_uri,
            frames=frames,
            reencoded=reencode,
            cpu_seconds=round(cpu, 3),
            loudness=loudness,
            poster_uri=poster,
        )

    async def _fetch_clip(self, index: int, uri: str, dest: Path) -> Path:
        """The clip's bytes, checked against the record stored with them (a clip stored before records were kept
        has none, and is joined as before)."""
        storage = self.deps.storages.for_uri(uri)
        path = await fetch(self.deps, uri, dest)
        record = await in_thread(integrity.recorded, storage, uri)
        if record is None:
            return path
        checked = await stoppable(integrity.check_file, path, record)
        if not checked.good:
            metrics.DAMAGED.labels("clip").inc()
            await in_thread(integrity.remove, storage, uri)
            raise IntermediateDamaged(
                f"clip {index + 1}'s intermediate {uri} was damaged after it was stored ({checked.why}); "
                "it was removed, and submitting the video again renders that clip again"
            )
        return path

    async def _clip_frames(self, inp: ConcatWork, paths: list[Path]) -> list[int]:
        """Each clip's frames: from the plan when the workflow sent them, else from the clips' headers."""
        if len(inp.clip_frames) == len(paths):
            return list(inp.clip_frames)
        counted = [await in_thread(video_samples, p) for p in paths]
        missing = [str(i) for i, n in enumerate(counted) if not n]
        if missing:
            raise MediaMismatch(f"clips {', '.join(missing)} have no readable video track")
        return [n for n in counted if n]

    async def _store(self, beats: Heartbeats, stage: str, src: Path, uri: str) -> None:
        total = src.stat().st_size
        beats.update(stage=stage, bytes_done=0, bytes_total=total)
        storage = self.deps.storages.for_uri(uri)
        await stoppable(storage.upload, src, uri, progress=lambda done: beats.update(bytes_done=done))

    async def _mixed_parameters(self, inp: ConcatWork, paths: list[Path]) -> bool:
        """Whether the clips' codec parameters differ.

        Clips of one video share a profile, so one encoder means one parameter set;
        only when the renders report different or unknown encoders are the clips probed.
        """
        if (
            len(inp.clip_encoders) == len(paths)
            and len(set(inp.clip_encoders)) == 1
            and "reused" not in inp.clip_encoders
        ):
            return False
        infos = await asyncio.gather(*(probe(p) for p in paths))
        return len({i.video.signature for i in infos if i.video}) > 1

    @activity.defn(name=names.UPLOAD_VIDEO)
    async def upload_video(self, inp: UploadInput) -> UploadResult:
        """Publish atomically under this video's manifest, then remove intermediates. Safe to retry at any point."""
        log = activity_log(video_id=inp.video_id, output_uri=inp.output_uri)
        source = self.deps.storages.for_uri(inp.source_uri)
        dest = self.deps.storages.for_uri(inp.output_uri)
        with temporal_errors():
            confine(inp.output_uri, self.deps.settings.storage.output_roots, "output_uri")
            async with (
                keep_heartbeating() as beats,
                scratch(self.deps.settings, f"{inp.video_id}-upload") as tmp,
            ):
                await beats.confirm("claiming the output")
                manifest, exists = await self._owner(inp.video_id, inp.output_uri)
                if reason := refusal(manifest, exists and manifest is None, inp.video_id, inp.job_hash, inp.output_uri):
                    raise OutputTaken(reason)
                claim = Manifest(inp.video_id, inp.job_hash)
                if manifest is None and not await in_thread(claim_manifest, dest, inp.output_uri, claim):
                    # Another video claimed the output between our look and our claim: exactly one wins.
                    manifest, exists = await self._owner(inp.video_id, inp.output_uri)
                    if reason := refusal(manifest, exists and manifest is None, inp.video_id, "", inp.output_uri):
                        raise OutputTaken(reason)
                if await in_thread(source.exists, inp.source_uri):
                    beats.stage("fetching the joined video")
                    local = await fetch(self.deps, inp.source_uri, tmp / "video.mp4")
                    await beats.confirm("publishing")
                    await self._store(beats, "publishing", local, inp.output_uri)
                elif not exists:
                    raise IntermediateLost(f"neither {inp.source_uri} nor {inp.output_uri} exists")
                size = await in_thread(dest.size, inp.output_uri)
                poster = ""
                if inp.poster_source_uri:
                    beats.stage("publishing the poster")
                    poster = await publish_poster(self.deps, inp.poster_source_uri, inp.output_uri, tmp)
                beats.stage("publishing the captions")
                captions = await publish_captions(self.deps, self.plans, inp.plan_key, inp.output_uri, manifest, tmp)
                published = UploadResult(
                    output_uri=inp.output_uri,
                    bytes=size,
                    poster_uri=poster,
                    manifest_uri=manifest_uri(inp.output_uri),
                    caption_uri=captions.get("vtt", ""),
                    srt_uri=captions.get("srt", ""),
                )
                if inp.result is not None:
                    await beats.confirm("writing the manifest")
                    # The manifest's result says what was published, field for field as the upload returns it.
                    result = dataclasses.replace(inp.result, **dataclasses.asdict(published))
                    clips = await self._clip_records(inp, manifest)
                    done = dataclasses.replace(claim, result=result, clips=clips)
                    await in_thread(write_manifest, dest, inp.output_uri, done, tmp)
                await beats.confirm("removing intermediates")
                await self._discard(inp.video_id)
        metrics.UPLOADED_BYTES.inc(size)
        log.info("video published", bytes=size)
        return published

    async def _clip_records(self, inp: UploadInput, manifest: Manifest | None) -> list[ClipResult]:
        """Every clip's record for the manifest: from the work store, or, when a retry finds them removed with
        the intermediates, from the manifest this upload already wrote."""
        if not inp.plan_key or inp.result is None:
            return []
        records = await self.plans.records(inp.video_id, inp.result.clips)
        if records is None and manifest is not None:
            return list(manifest.clips)
        return records or []

    @activity.defn(name=names.DISCARD_INTERMEDIATES)
    async def discard_intermediates(self, inp: DiscardInput) -> int:
        """Remove a video's intermediates; after a cancel that raced the upload, also what it published."""
        with temporal_errors():
            async with keep_heartbeating() as beats:
                beats.stage("removing intermediates")
                removed = await self._discard(inp.video_id)
                if inp.output_uri:
                    beats.stage("unpublishing")
                    removed += await self._unpublish(inp.video_id, inp.output_uri)
        activity_log(video_id=inp.video_id).info("intermediates discarded", files=removed)
        return removed

    async def _unpublish(self, video_id: str, output_uri: str) -> int:
        """Remove the output and what lies beside it (poster, captions, manifest), where this video owns them."""
        manifest, _ = await self._owner(video_id, output_uri)
        if manifest is None or manifest.video_id != video_id:
            return 0
        storage = self.deps.storages.for_uri(output_uri)
        removed = int(await in_thread(storage.delete, output_uri))
        removed += int(await in_thread(storage.delete, poster_uri(output_uri)))
        removed += await unpublish_captions(self.deps, output_uri)
        return removed + int(await in_thread(storage.delete, manifest_uri(output_uri)))

    async def _discard(self, video_id: str) -> int:
        prefix = self.deps.settings.work_uri_for(f"{video_id}/")
        storage = self.deps.storages.for_uri(prefix)
        return await in_thread(storage.delete_prefix, prefix)
