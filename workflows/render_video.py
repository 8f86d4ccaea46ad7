"""RenderVideo: validate, plan, fan out clip renders, concat, upload.

Deterministic orchestration only: every side effect is an activity, every record
in history is small (URIs, counts, names), never media bytes.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.common import RawValue, RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception
from temporalio.workflow import ActivityCancellationType, ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from contracts import names, search
    from contracts.gpus import render_queue
    from contracts.job import Job, JobError, parse_job
    from contracts.plan import PlannedClip, VideoPlan, plan_video
    from contracts.records import (
        CheckJobInput,
        CheckJobResult,
        ClipResult,
        ConcatInput,
        ConcatResult,
        DiscardInput,
        Progress,
        RenderClipInput,
        UploadInput,
        UploadResult,
        VideoResult,
        WebhookInput,
    )
    from workflows.cost import video_cost
    from workflows.notify import NotifyWebhook

# Transient failures (storage hiccups, a lost worker) retry with backoff; errors a
# retry cannot fix (bad job, bad asset, forbidden path) carry a non-retryable type.
TRANSIENT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
    non_retryable_error_types=list(names.NON_RETRYABLE_ERRORS),
)

# Clip renders retry more often: every preemption or worker loss costs an attempt,
# and each attempt resumes from the last stored segment, so retrying is cheap.
RENDER_RETRY = dataclasses.replace(TRANSIENT_RETRY, maximum_attempts=10)

SLOWEST_EXPECTED_FPS = 5
"""Start-to-close budget for a clip: a 4K CPU-fallback render stays above this."""


NO_INPUT = RawValue(Payload(metadata={"encoding": b"binary/null"}))
"""What `run` sees when a workflow is started with no input at all (decodes to null)."""


def render_timeout(clip: PlannedClip) -> timedelta:
    return timedelta(seconds=max(300, clip.frames / SLOWEST_EXPECTED_FPS))


def _decode(raw_job: RawValue) -> Any:
    """The job as JSON, or a JobError when the payload is not something Python can decode."""
    try:
        return workflow.payload_converter().from_payload(raw_job.payload)
    except Exception as err:
        reason = str(err.__cause__ or err) or type(err).__name__
        raise JobError("job", f"could not be decoded as JSON: {reason[:200]}") from None


@workflow.defn(name=names.WORKFLOW_NAME)
class RenderVideo:
    def __init__(self) -> None:
        self._progress = Progress()

    @workflow.query(name=names.PROGRESS_QUERY)
    def progress(self) -> Progress:
        return self._progress

    @workflow.run
    async def run(self, raw_job: RawValue = NO_INPUT) -> VideoResult:
        # The input is taken raw and decoded here, so that no job, however malformed,
        # can fail before the workflow runs (JSON that Python refuses, such as a
        # 5,000-digit number or nesting deeper than the recursion limit, would
        # otherwise fail every workflow task, forever): every problem surfaces
        # here as a failed workflow.
        job = self._validate(raw_job)
        self._publish(search.VIDEO_STATUS.value_set("rendering"), search.CHANNEL.value_set(job.channel),
                      search.CLIP_COUNT.value_set(len(job.clips)))  # fmt: skip
        try:
            result = await self._render_video(job)
        except BaseException as err:
            state = "canceled" if is_cancelled_exception(err) else "failed"
            self._publish(search.VIDEO_STATUS.value_set(state))
            await self._notify(job, state, error=str(err.cause if isinstance(err, ActivityError) else err))
            raise
        self._publish(search.VIDEO_STATUS.value_set("completed"), search.ENCODER.value_set(result.encoder),
                      search.COST_USD.value_set(result.cost_usd))  # fmt: skip
        await self._notify(job, "completed", result=result)
        return result

    async def _render_video(self, job: Job) -> VideoResult:
        plan = plan_video(job)
        self._progress.clips_total = len(plan.clips)
        self._progress.frames_total = plan.frames

        checked = await workflow.execute_activity(
            names.CHECK_JOB,
            CheckJobInput(video_id=job.video_id, output_uri=job.output_uri, asset_uris=job.asset_uris()),
            result_type=CheckJobResult,
            task_queue=names.CONTROL_QUEUE,
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=TRANSIENT_RETRY,
            summary=f"check job: {len(plan.clips)} clips, {len(job.asset_uris())} assets",
        )
        try:
            clips = await self._render_all(job, plan, timedelta(seconds=checked.heartbeat_seconds))
        except BaseException as err:
            # A cancel surfaces as asyncio.CancelledError or as an ActivityError caused
            # by one; either way every render has stopped its ffmpeg by now
            # (WAIT_CANCELLATION_COMPLETED), so the intermediates can go.
            if not is_cancelled_exception(err):
                raise
            self._set_stage("canceling: discarding intermediates")
            removed = await self._discard(job.video_id)
            self._set_stage(f"canceled: renders stopped, {removed} intermediate files removed")
            raise

        self._set_stage("concatenating")
        concat = await workflow.execute_activity(
            names.CONCAT_CLIPS,
            ConcatInput(
                video_id=job.video_id,
                clip_uris=[c.uri for c in clips],
                fps=plan.profile.fps,
                expected_frames=plan.frames,
                clip_encoders=[c.encoder for c in clips],
            ),
            result_type=ConcatResult,
            task_queue=names.CONTROL_QUEUE,
            # Stream copy plus one audio encode: seconds per minute of video.
            start_to_close_timeout=timedelta(seconds=max(600, plan.frames / 100)),
            heartbeat_timeout=timedelta(seconds=60),
            retry_policy=TRANSIENT_RETRY,
            summary=f"concat {len(clips)} clips · {plan.duration_s:.1f} s",
        )

        self._set_stage("uploading")
        upload = await workflow.execute_activity(
            names.UPLOAD_VIDEO,
            UploadInput(video_id=job.video_id, source_uri=concat.uri, output_uri=checked.output_uri),
            result_type=UploadResult,
            task_queue=names.CONTROL_QUEUE,
            start_to_close_timeout=timedelta(minutes=30),
            heartbeat_timeout=timedelta(seconds=60),
            retry_policy=TRANSIENT_RETRY,
            summary=f"upload to {checked.output_uri}",
        )
        self._set_stage("completed")
        encoders = sorted({c.encoder for c in clips if not c.skipped} or {c.encoder for c in clips})
        cost = video_cost(plan, clips, concat, checked.usd_per_hour, job.gpu_class)
        return VideoResult(
            video_id=job.video_id,
            output_uri=upload.output_uri,
            duration_s=concat.frames / plan.profile.fps,
            frames=concat.frames,
            bytes=upload.bytes,
            encoder="+".join(encoders),
            reencoded_at_concat=concat.reencoded,
            clips=clips,
            gpu_seconds=cost.gpu_seconds,
            cpu_seconds=cost.cpu_seconds,
            cost_usd=cost.usd,
            costliest_clips=cost.costliest,
        )

    def _validate(self, raw_job: RawValue) -> Job:
        try:
            job = parse_job(_decode(raw_job))
        except JobError as err:
            self._set_stage("invalid", error=str(err))
            self._publish(search.VIDEO_STATUS.value_set("invalid"))
            raise ApplicationError(str(err), {"field": err.field}, type=names.INVALID_JOB, non_retryable=True) from None
        workflow_id = workflow.info().workflow_id
        if job.video_id != workflow_id:
            message = f"video_id: {job.video_id!r} must equal the workflow id {workflow_id!r}: one video, one workflow"
            self._set_stage("invalid", error=message)
            self._publish(search.VIDEO_STATUS.value_set("invalid"))
            raise ApplicationError(message, {"field": "video_id"}, type=names.INVALID_JOB, non_retryable=True)
        self._set_stage("rendering")
        return job

    async def _render_all(self, job: Job, plan: VideoPlan, heartbeat: timedelta) -> list[ClipResult]:
        """Fan out one render per clip, at most `max_parallel_clips` at a time.

        `heartbeat` is short (tens of seconds) so a dead or preempted worker is
        noticed quickly rather than at the start-to-close deadline; a healthy render
        reports progress twice a second.
        """
        slots = asyncio.Semaphore(job.max_parallel_clips)

        async def render(clip: PlannedClip) -> ClipResult:
            async with slots:
                result: ClipResult = await workflow.execute_activity(
                    names.RENDER_CLIP,
                    RenderClipInput(
                        video_id=job.video_id,
                        clip=clip,
                        profile=plan.profile,
                        tts_voice=job.tts_voice,
                        tts_speed=job.tts_speed,
                    ),
                    result_type=ClipResult,
                    task_queue=render_queue(job.gpu_class),
                    start_to_close_timeout=render_timeout(clip),
                    heartbeat_timeout=heartbeat,
                    retry_policy=RENDER_RETRY,
                    # On cancel, wait until ffmpeg is stopped and partial files are gone.
                    cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
                    summary=clip.label,
                )
            self._progress.clips_done += 1
            self._progress.frames_done += clip.frames
            self._set_stage("rendering")
            return result

        tasks = [asyncio.ensure_future(render(clip)) for clip in plan.clips]
        try:
            results = await asyncio.gather(*tasks)
        except BaseException:
            # One clip failed for good (or the workflow was canceled): stop the rest.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return sorted(results, key=lambda r: r.index)

    async def _discard(self, video_id: str) -> int:
        removed: int = await workflow.execute_activity(
            names.DISCARD_INTERMEDIATES,
            DiscardInput(video_id=video_id),
            result_type=int,
            task_queue=names.CONTROL_QUEUE,
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=TRANSIENT_RETRY,
            summary="discard intermediates",
        )
        return removed

    def _publish(self, *updates: SearchAttributeUpdate[Any]) -> None:
        """Search attributes for list queries and the Web UI's filters.

        Histories recorded before they existed carry no such commands, so they
        replay unchanged on this side of the patch.
        """
        if workflow.patched("search-attributes"):
            workflow.upsert_search_attributes(list(updates))

    async def _notify(
        self, job: Job, state: str, *, result: VideoResult | None = None, error: str | None = None
    ) -> None:
        """Start the completion webhook as an abandoned child: it retries on its own, never delaying the result."""
        if not job.webhook_url:
            return
        body = {"video_id": job.video_id, "state": state, "error": error,
                "output_uri": result.output_uri if result else None,
                "duration_s": result.duration_s if result else None,
                "cost_usd": result.cost_usd if result else None}  # fmt: skip
        await workflow.start_child_workflow(
            NotifyWebhook.run,
            WebhookInput(url=job.webhook_url, body=body),
            id=f"{job.video_id}.notify",
            task_queue=names.CONTROL_QUEUE,
            parent_close_policy=ParentClosePolicy.ABANDON,
            static_summary=f"notify {state}",
        )

    def _set_stage(self, stage: str, *, error: str | None = None) -> None:
        self._progress.stage = stage
        self._progress.error = error
        p = self._progress
        workflow.set_current_details(
            f"**{stage}** · clips {p.clips_done}/{p.clips_total} · frames {p.frames_done}/{p.frames_total}"
            + (f"\n\n{error}" if error else "")
        )
