"""RenderVideo's activities as instant stubs, registered under the real names.

With these, the real workflow runs its whole orchestration (validation, planning,
progress, summaries, the bounded fan-out) with no media work at all: the gap
between this and the bare workflow is what our workflow code costs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity

from activities.queues import QueueActivities
from activities.validate import ValidateActivities
from contracts import names
from contracts.budget import Budget
from contracts.records import (
    AudioResult,
    BuildAudioInput,
    CheckJobInput,
    CheckJobResult,
    ClipResult,
    ConcatInput,
    ConcatResult,
    DiscardInput,
    Loudness,
    RenderClipInput,
    UploadInput,
    UploadResult,
)

NOWHERE = "file:///nowhere"


@activity.defn(name=names.CHECK_JOB)
async def check_job(inp: CheckJobInput) -> CheckJobResult:
    return CheckJobResult(output_uri=inp.output_uri or f"{NOWHERE}/{inp.video_id}.mp4")


@activity.defn(name=names.RENDER_CLIP)
async def render_clip(inp: RenderClipInput) -> ClipResult:
    return ClipResult(inp.clip.index, f"{NOWHERE}/{inp.clip.key}", inp.clip.frames, "stub", 0.0, skipped=False)


@activity.defn(name=names.CONCAT_CLIPS)
async def concat_clips(inp: ConcatInput) -> ConcatResult:
    return ConcatResult(uri=f"{NOWHERE}/{inp.video_id}/video.mp4", frames=inp.expected_frames, reencoded=False)


@activity.defn(name=names.BUILD_AUDIO)
async def build_audio(inp: BuildAudioInput) -> AudioResult:
    return AudioResult(uri=f"{NOWHERE}/{inp.plan.video_id}/audio.m4a", loudness=Loudness(-14.0, -1.0, 0.0, -14.0, -1.0))


@activity.defn(name=names.UPLOAD_VIDEO)
async def upload_video(inp: UploadInput) -> UploadResult:
    return UploadResult(output_uri=inp.output_uri, bytes=0)


@activity.defn(name=names.DISCARD_INTERMEDIATES)
async def discard_intermediates(inp: DiscardInput) -> int:
    return 0


CONTROL: list[Callable[..., Any]] = [
    check_job,
    concat_clips,
    build_audio,
    upload_video,
    discard_intermediates,
    # Validation plans the job, which is orchestration: the real one, as the service's control worker runs it.
    ValidateActivities(Budget()).validate_job,
    QueueActivities().queue_has_workers,
]
