"""Control-queue activities: pre-flight checks, the join, publishing, clean-up."""

from __future__ import annotations

import asyncio
from pathlib import Path

from temporalio import activity

from activities import metrics
from activities.common import Deps, fail, fetch, scratch, temporal_errors
from activities.logs import activity_log
from activities.media.encoder import choose_encoder, video_args
from activities.media.graphs import concat_command, concat_list
from activities.media.probe import probe
from activities.media.process import run_ffmpeg
from activities.storage import StorageError, confine
from contracts import names
from contracts.job import Profile
from contracts.records import (
    CheckJobInput,
    CheckJobResult,
    ConcatInput,
    ConcatResult,
    DiscardInput,
    UploadInput,
    UploadResult,
)


class AssembleActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    @activity.defn(name=names.CHECK_JOB)
    async def check_job(self, inp: CheckJobInput) -> CheckJobResult:
        """Refuse what would only fail after minutes of rendering: bad destinations, missing assets."""
        settings = self.deps.settings
        output = inp.output_uri or f"{settings.output_roots[0]}/{inp.video_id}.mp4"
        with temporal_errors():
            confine(output, settings.output_roots, "output_uri")
            if not output.endswith((".mp4", ".m4v", ".mov")):
                fail(f"output_uri: {output} must end in .mp4, .m4v or .mov", names.INVALID_JOB, non_retryable=True)
            for uri in inp.asset_uris:
                confine(uri, settings.asset_roots, "asset")
                if not await asyncio.to_thread(self.deps.storages.for_uri(uri).exists, uri):
                    raise StorageError(f"asset {uri} does not exist", names.BAD_ASSET)
        return CheckJobResult(output, settings.heartbeat_seconds, dict(settings.usd_per_hour))

    @activity.defn(name=names.CONCAT_CLIPS)
    async def concat_clips(self, inp: ConcatInput) -> ConcatResult:
        log = activity_log(video_id=inp.video_id, clips=len(inp.clip_uris))
        target = self.deps.settings.work_uri_for(f"{inp.video_id}/video.mp4")
        with temporal_errors():
            async with scratch(self.deps.settings, f"{inp.video_id}-concat") as tmp:
                paths = [await fetch(self.deps, uri, tmp / f"clip-{i:04d}.mov") for i, uri in enumerate(inp.clip_uris)]
                reencode = await self._mixed_parameters(inp, paths)
                extra: list[str] | None = None
                if reencode:
                    # A retry landed on a different encoder: a stream-copy join would glitch.
                    first = (await probe(paths[0])).video
                    assert first is not None
                    profile = Profile(width=first.width, height=first.height, fps=inp.fps)
                    encoder = await choose_encoder(self.deps.settings.encoder)
                    extra = video_args(encoder, profile, self.deps.settings.ffmpeg_threads)
                    log.warning("clips differ in codec parameters, re-encoding at concat", encoder=encoder)
                list_file = tmp / "clips.ffconcat"
                list_file.write_text(concat_list(paths), encoding="utf-8")
                out = tmp / "video.mp4"

                async def heartbeat(frames_done: int) -> bool:
                    activity.heartbeat({"frames_done": frames_done, "frames_total": inp.expected_frames})
                    return True

                cpu = await run_ffmpeg(concat_command(list_file, out, extra), heartbeat)
                joined = await probe(out)
                frames = joined.video.packets if joined.video else 0
                if frames != inp.expected_frames:
                    fail(
                        f"joined video has {frames} frames, the plan has {inp.expected_frames}",
                        names.MEDIA_MISMATCH,
                        non_retryable=True,
                    )
                await asyncio.to_thread(self.deps.storages.for_uri(target).upload, out, target)
        log.info("clips joined", frames=frames, reencoded=reencode)
        return ConcatResult(uri=target, frames=frames, reencoded=reencode, cpu_seconds=round(cpu, 3))

    async def _mixed_parameters(self, inp: ConcatInput, paths: list[Path]) -> bool:
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
        """Publish atomically, then remove intermediates. Safe to retry at any point."""
        log = activity_log(video_id=inp.video_id, output_uri=inp.output_uri)
        source = self.deps.storages.for_uri(inp.source_uri)
        dest = self.deps.storages.for_uri(inp.output_uri)
        with temporal_errors():
            confine(inp.output_uri, self.deps.settings.output_roots, "output_uri")
            if await asyncio.to_thread(source.exists, inp.source_uri):
                async with scratch(self.deps.settings, f"{inp.video_id}-upload") as tmp:
                    local = await fetch(self.deps, inp.source_uri, tmp / "video.mp4")
                    await asyncio.to_thread(dest.upload, local, inp.output_uri)
            elif not await asyncio.to_thread(dest.exists, inp.output_uri):
                fail(f"neither {inp.source_uri} nor {inp.output_uri} exists", names.MEDIA_MISMATCH, non_retryable=True)
            size = await asyncio.to_thread(dest.size, inp.output_uri)
            await self._discard(inp.video_id)
        metrics.UPLOADED_BYTES.inc(size)
        log.info("video published", bytes=size)
        return UploadResult(output_uri=inp.output_uri, bytes=size)

    @activity.defn(name=names.DISCARD_INTERMEDIATES)
    async def discard_intermediates(self, inp: DiscardInput) -> int:
        with temporal_errors():
            removed = await self._discard(inp.video_id)
        activity_log(video_id=inp.video_id).info("intermediates discarded", files=removed)
        return removed

    async def _discard(self, video_id: str) -> int:
        prefix = self.deps.settings.work_uri_for(f"{video_id}/")
        storage = self.deps.storages.for_uri(prefix)
        return await asyncio.to_thread(storage.delete_prefix, prefix)
