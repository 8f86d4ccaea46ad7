"""RenderVideo's activities as instant stubs, registered under the real names.

With these, the real workflow runs its whole orchestration (validation, planning,
progress, summaries, the bounded fan-out) with no media work at all: the gap
between this and the bare workflow is what our workflow code costs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity

from activities.plans import PlanStore
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
from engine.deps import Deps
from runtime.settings import render_settings

NOWHERE = "file:///nowhere"


@activity.defn(name=names.CHECK_JOB)
async def check_job(inp: CheckJobInput) -> CheckJobResult:
    return CheckJobResult(inp.output_uri or f"{NOWHERE}/{inp.video_id}.mp4", 30.0, {}, 0.0, 1.0)


@activity.defn(name=names.RENDER_CLIP)
async def render_clip(inp: RenderClipInput) -> ClipResult:
    return ClipResult(inp.index, f"{NOWHERE}/{inp.video_id}/{inp.index}", 1, "stub", 0.0, skipped=False)


@activity.defn(name=names.BUILD_AUDIO)
async def build_audio(inp: BuildAudioInput) -> AudioResult:
    return AudioResult(uri=f"{NOWHERE}/{inp.video_id}/audio.m4a", loudness=Loudness(-14.0, -1.0, 0.0, -14.0, -1.0))


@activity.defn(name=names.UPLOAD_VIDEO)
async def upload_video(inp: UploadInput) -> UploadResult:
    return UploadResult(output_uri=inp.output_uri, bytes=0)


@activity.defn(name=names.DISCARD_INTERMEDIATES)
async def discard_intermediates(inp: DiscardInput) -> int:
    return 0


def control(deps: Deps | None = None) -> list[Callable[..., Any]]:
    """The control worker's activities: validation real (it plans the job and stores the plan, which is
    orchestration), the rest instant; the concat reads the stored plan's length."""
    deps = deps or Deps.from_settings(render_settings())
    plans = PlanStore(deps)
    validate = ValidateActivities(deps, Budget())

    @activity.defn(name=names.CONCAT_CLIPS)
    async def concat_clips(inp: ConcatInput) -> ConcatResult:
        frames = (await plans.head(inp.plan_key)).frames
        return ConcatResult(uri=f"{NOWHERE}/{inp.video_id}/video.mp4", frames=frames, reencoded=False)

    return [
        check_job,
        concat_clips,
        build_audio,
        upload_video,
        discard_intermediates,
        validate.validate_job,
        validate.clip_tickets,
        QueueActivities().queue_has_workers,
    ]
