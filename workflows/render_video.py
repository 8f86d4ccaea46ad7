"""RenderVideo: validate, plan, fan out clip renders, concat, upload.

Deterministic orchestration only: every side effect is an activity, every record
in history is small (URIs, counts, names), never media bytes.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any, NoReturn, TypeVar

from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.common import Priority, RawValue, RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    TimeoutError,
    TimeoutType,
    is_cancelled_exception,
)
from temporalio.workflow import ActivityCancellationType, ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from contracts import names, search
    from contracts.budget import RENDER_ALLOWANCE_SECONDS, SLOWEST_EXPECTED_FPS, clip_seconds
    from contracts.gpus import render_queue
    from contracts.job import Job, JobError, Profile, decoded_job, parse_job
    from contracts.plan import PlannedClip, VideoPlan, fit_narration, plan_video
    from contracts.records import (
        AudioResult,
        BuildAudioInput,
        CheckJobInput,
        CheckJobResult,
        ClipResult,
        ConcatInput,
        ConcatResult,
        DiscardInput,
        NarrateInput,
        NarrateResult,
        Progress,
        RenderClipInput,
        UploadInput,
        UploadResult,
        ValidatedJob,
        VideoResult,
        WebhookInput,
    )
    from contracts.tenancy import task_priority

    # Decoding a Job resolves its Theme's field types through the sandbox's module table: the module must be in it.
    from contracts.themes import Theme  # noqa: F401
    from workflows.cost import video_cost
    from workflows.notify import NotifyWebhook

# Transient failures (storage hiccups, a lost worker) retry with backoff; errors a
# retry cannot fix (bad job, bad asset, forbidden path) carry a non-retryable type.
VALIDATE_TIMEOUT = timedelta(seconds=60)
"""Laying out a job's text, bounded by its character limit, takes a few seconds of CPU; this leaves room
for a busy control worker. A timed-out attempt stops its layout before the next one starts."""
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


T = TypeVar("T")

NO_INPUT = RawValue(Payload(metadata={"encoding": b"binary/null"}))
"""What `run` sees when a workflow is started with no input at all (decodes to null)."""


NO_WORKER = "NoWorker"
"""A clip waited longer than the queue wait limit: nothing polls its task queue."""

POSTER = "poster"
"""Patch: concat takes a poster frame and upload publishes it beside the video."""

VALIDATED_ONCE = "validated-once"
"""Patch: the job validated and planned by a local activity (recorded once), outputs owned through a
manifest, cancels that stop concat and upload too, and webhook children that cannot fail the video."""

PRIORITIZED = "task-priority"
"""Patch: every task carries the job's priority key and its channel's fairness key and weight."""

AUDIO_ONCE = "audio-once"
"""Patch: the video's sound built once by one activity while the clips render video only; concat only muxes."""

NARRATION_TIMED = "narration-timed"
"""Patch: every narration synthesized before the clips render, and each clip sized to hold its narration."""


TRANSFER_ALLOWANCE = timedelta(seconds=RENDER_ALLOWANCE_SECONDS)
"""Added to every start-to-close budget: assets, checkpoints and videos may cross a slow link.
Liveness is the heartbeat's job (every activity beats every 2 s); these budgets only end livelock."""


RECIPE_COST = "recipe-cost"
"""Patch: a clip's start-to-close budget covers its recipe's own cost (a deep-zoom mandelbrot renders
at seconds per frame), not only frames at SLOWEST_EXPECTED_FPS."""


def render_timeout(clip: PlannedClip, profile: Profile | None = None) -> timedelta:
    """Start-to-close for one clip attempt; with `profile`, at least its estimated render time."""
    seconds = clip.frames / SLOWEST_EXPECTED_FPS
    if profile is not None:
        seconds = max(seconds, clip_seconds(clip.spec, clip.frames, profile))
    return timedelta(seconds=seconds) + TRANSFER_ALLOWANCE


def video_only(plan: VideoPlan) -> VideoPlan:
    """The plan with each clip's key marking a video-only intermediate, never mistaken for one with sound."""
    keys = [dataclasses.replace(c, key=c.key.removesuffix(".mov") + ".video.mov") for c in plan.clips]
    return dataclasses.replace(plan, clips=tuple(keys))


def canceling() -> bool:
    """Whether this workflow task is being canceled: a failure now (a dead worker's timeout) is the cancel's."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def failure_reason(err: ActivityError) -> tuple[str, str | None]:
    """One line for what ended an activity, and its error type: the cause, not "Activity task failed"."""
    cause = err.cause
    if isinstance(cause, TimeoutError):
        if cause.type == TimeoutType.SCHEDULE_TO_START:
            return "no worker picked it up in time", NO_WORKER
        last = f": last failure: {cause.cause}" if cause.cause else ""
        return f"{cause.type.name.lower().replace('_', '-') if cause.type else 'activity'} timeout{last}", "Timeout"
    if isinstance(cause, ApplicationError):
        return cause.message, cause.type
    return str(cause or err), None


@workflow.defn(name=names.WORKFLOW_NAME)
class RenderVideo:
    def __init__(self) -> None:
        self._progress = Progress()
        self._searchable = False
        """Whether this run sets search attributes (every run since; the first histories replay without)."""
        self._durable = False
        """Whether this run follows VALIDATED_ONCE (every run started since; histories before it replay without)."""
        self._owned = False
        """Whether this run has started publishing: a cancel must then unpublish what it may have written."""
        self._prioritized = False
        """Whether this run follows PRIORITIZED (every run started since; histories before it replay without)."""
        self._priority = Priority.default
        """What every task this run schedules carries: unset before PRIORITIZED, so older histories match."""
        self._poster = False
        """Whether this run publishes a poster (every run since; earlier histories replay without)."""
        self._costed = False
        """Whether this run follows RECIPE_COST (every run started since)."""
        self._timed = False
        """Whether this run follows NARRATION_TIMED (every run started since; earlier histories replay without)."""
        self._audio_once = False
        """Whether this run follows AUDIO_ONCE (every run started since; earlier histories replay without)."""

    @workflow.query(name=names.PROGRESS_QUERY)
    def progress(self) -> Progress:
        return self._progress

    @workflow.run
    async def run(self, raw_job: RawValue = NO_INPUT) -> VideoResult:
        # The input is taken raw and decoded by our own code, so that no job, however
        # malformed, can fail before the workflow runs (JSON that Python refuses, such
        # as a 5,000-digit number or nesting deeper than the recursion limit, would
        # otherwise fail every workflow task, forever): every problem surfaces here
        # as a failed workflow.
        # Patches are decided before anything else: on replay, code that runs right after a
        # local activity resolves cannot yet see the markers of the task that follows it.
        self._searchable = workflow.patched("search-attributes")
        self._durable = workflow.patched(VALIDATED_ONCE)
        self._prioritized = workflow.patched(PRIORITIZED)
        self._poster = workflow.patched(POSTER)
        self._costed = workflow.patched(RECIPE_COST)
        self._timed = workflow.patched(NARRATION_TIMED)
        self._audio_once = workflow.patched(AUDIO_ONCE)
        validated = await self._validate(raw_job)
        job = validated.job
        if self._prioritized:
            self._priority = task_priority(job.priority, job.channel)
        self._publish(search.VIDEO_STATUS.value_set("rendering"), search.CHANNEL.value_set(job.channel),
                      search.CLIP_COUNT.value_set(len(job.clips)))  # fmt: skip
        try:
            result = await self._render_video(validated)
        except BaseException as err:
            state = "canceled" if is_cancelled_exception(err) else "failed"
            message = str(err.cause if isinstance(err, ActivityError) else err)
            self._publish(search.VIDEO_STATUS.value_set(state))
            if state == "failed":  # a cancel already said what it stopped and removed
                self._set_stage("failed", error=message)
            await self._notify(job, state, error=message)
            raise
        self._publish(search.VIDEO_STATUS.value_set("completed"), search.ENCODER.value_set(result.encoder),
                      search.COST_USD.value_set(result.cost_usd))  # fmt: skip
        await self._notify(job, "completed", result=result)
        return result

    async def _render_video(self, validated: ValidatedJob) -> VideoResult:
        job, plan = validated.job, validated.plan
        self._progress.clips_total = len(plan.clips)
        self._progress.frames_total = plan.frames

        checked: CheckJobResult = await self._step(
            None,
            workflow.execute_activity(
                names.CHECK_JOB,
                CheckJobInput(
                    video_id=job.video_id,
                    output_uri=job.output_uri,
                    asset_uris=job.asset_uris(),
                    job_hash=validated.job_hash,
                    channel=job.channel,
                ),
                result_type=CheckJobResult,
                task_queue=names.CONTROL_QUEUE,
                start_to_close_timeout=timedelta(minutes=10),
                heartbeat_timeout=timedelta(seconds=60),
                retry_policy=TRANSIENT_RETRY,
                summary=f"check job: {len(plan.clips)} clips, {len(job.asset_uris())} assets",
                priority=self._priority,
            ),
        )
        if self._prioritized:
            # The weight is the control workers' configuration, read once by the check and recorded.
            self._priority = task_priority(job.priority, job.channel, checked.fairness_weight)
        if checked.published is not None:
            # A restart of a video that already completed (any id reuse policy): its result, not a second render.
            self._progress.clips_done, self._progress.frames_done = len(plan.clips), plan.frames
            self._set_stage("completed: already published, nothing rendered")
            return checked.published
        try:
            return await self._produce(validated, checked)
        except BaseException as err:
            # A cancel surfaces as asyncio.CancelledError or as an ActivityError caused
            # by one; either way every activity has stopped by now
            # (WAIT_CANCELLATION_COMPLETED), so the intermediates can go.
            if not is_cancelled_exception(err):
                raise
            self._set_stage("canceling: discarding intermediates")
            removed = await self._discard(job.video_id, checked.output_uri if self._owned else None, checked)
            self._set_stage(f"canceled: work stopped, {removed} intermediate files removed")
            raise

    async def _produce(self, validated: ValidatedJob, checked: CheckJobResult) -> VideoResult:
        job, plan = validated.job, validated.plan
        durable = self._durable
        # Every activity heartbeats at least every 2 s whatever it is doing, so a
        # silent one is a dead worker: the configured render timeout applies here too.
        heartbeat = timedelta(seconds=checked.heartbeat_seconds)
        if self._timed:
            plan = await self._fit_narration(job, plan, checked)
        audio: AudioResult | None = None
        if self._audio_once:
            plan = video_only(plan)
            clips, audio = await self._render_with_audio(job, plan, checked)
        else:
            clips = await self._render_all(job, plan, checked)
        # Concat and upload see a cancel through their heartbeats and stop; the
        # workflow waits for them, so nothing is published after a cancel.
        self._set_stage("concatenating")
        concat = await self._step(
            "concat",
            workflow.execute_activity(
                names.CONCAT_CLIPS,
                ConcatInput(
                    video_id=job.video_id,
                    clip_uris=[c.uri for c in clips],
                    fps=plan.profile.fps,
                    expected_frames=plan.frames,
                    clip_encoders=[c.encoder for c in clips],
                    poster_seconds=plan.poster_seconds if self._poster else None,
                    clip_frames=[c.frames for c in clips],
                    loudness=job.loudness,
                    audio_uri=audio.uri if audio else None,
                ),
                result_type=ConcatResult,
                task_queue=names.CONTROL_QUEUE,
                # Stream copy plus one audio encode (or only a mux): seconds per minute of video.
                start_to_close_timeout=timedelta(seconds=plan.frames / 100) + TRANSFER_ALLOWANCE,
                heartbeat_timeout=heartbeat,
                retry_policy=TRANSIENT_RETRY,
                summary=f"concat {len(clips)} clips · {plan.duration_s:.1f} s",
                priority=self._priority,
                cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            ),
        )
        encoders = sorted({c.encoder for c in clips if not c.skipped} or {c.encoder for c in clips})
        if audio is not None:  # the track's encode is part of the video's CPU time
            concat = dataclasses.replace(concat, cpu_seconds=concat.cpu_seconds + audio.cpu_seconds)
        cost = video_cost(plan, clips, concat, checked.usd_per_hour, job.gpu_class)
        result = VideoResult(
            video_id=job.video_id,
            output_uri=checked.output_uri,
            duration_s=concat.frames / plan.profile.fps,
            frames=concat.frames,
            bytes=0,
            encoder="+".join(encoders),
            reencoded_at_concat=concat.reencoded,
            clips=clips,
            gpu_seconds=cost.gpu_seconds,
            cpu_seconds=cost.cpu_seconds,
            cost_usd=cost.usd,
            costliest_clips=cost.costliest,
            loudness=audio.loudness if audio else concat.loudness,
            clips_from_cache=sum(c.from_cache for c in clips),
            cache_hit_rate=round(sum(c.from_cache for c in clips) / len(clips), 4) if clips else 0.0,
        )

        self._set_stage("uploading")
        self._owned = durable
        upload = await self._step(
            "upload",
            workflow.execute_activity(
                names.UPLOAD_VIDEO,
                UploadInput(
                    video_id=job.video_id,
                    source_uri=concat.uri,
                    output_uri=checked.output_uri,
                    job_hash=validated.job_hash,
                    result=result if durable else None,
                    poster_source_uri=concat.poster_uri,
                ),
                result_type=UploadResult,
                task_queue=names.CONTROL_QUEUE,
                start_to_close_timeout=2 * TRANSFER_ALLOWANCE,
                heartbeat_timeout=heartbeat,
                retry_policy=TRANSIENT_RETRY,
                summary=f"upload to {checked.output_uri}",
                priority=self._priority,
                cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            ),
        )
        self._set_stage("completed")
        return dataclasses.replace(
            result, output_uri=upload.output_uri, bytes=upload.bytes, poster_uri=upload.poster_uri
        )

    async def _render_with_audio(
        self, job: Job, plan: VideoPlan, checked: CheckJobResult
    ) -> tuple[list[ClipResult], AudioResult]:
        """The clips (video only) and the video's sound side by side; a failure of either, or a cancel, stops both."""
        track = workflow.start_activity(
            names.BUILD_AUDIO,
            BuildAudioInput(
                plan=plan,
                loudness=job.loudness,
                voice=job.tts_voice,
                speed=job.tts_speed,
                tts_engine=job.tts_engine,
                channel=job.channel,
            ),
            result_type=AudioResult,
            task_queue=names.CONTROL_QUEUE,
            start_to_close_timeout=timedelta(seconds=plan.frames / 100) + TRANSFER_ALLOWANCE,
            heartbeat_timeout=timedelta(seconds=checked.heartbeat_seconds),
            retry_policy=TRANSIENT_RETRY,
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            summary=f"build the audio track · {plan.duration_s:.1f} s",
            priority=self._priority,
        )
        renders = asyncio.ensure_future(self._render_all(job, plan, checked, video_only=True))
        try:
            # Whichever fails first stops the other: a bad music file need not wait for every clip.
            await workflow.wait([renders, track], return_when=asyncio.FIRST_EXCEPTION)
        except BaseException:
            renders.cancel()
            track.cancel()
            await asyncio.gather(renders, track, return_exceptions=True)
            raise
        if track.done() and track.exception() is not None and not renders.done():
            renders.cancel()
            await asyncio.gather(renders, return_exceptions=True)
        elif renders.done() and renders.exception() is not None and not track.done():
            track.cancel()
            await asyncio.gather(track, return_exceptions=True)
            await renders  # the render's failure, as it would be raised without the track
        # A failure names the clip whose sound failed, or says what of the track did.
        audio: AudioResult = await self._step(None, track)
        clips = await renders
        return clips, audio

    async def _fit_narration(self, job: Job, plan: VideoPlan, checked: CheckJobResult) -> VideoPlan:
        """Synthesize every narration first, then size each clip to hold its own (or refuse the job)."""
        lines = [(c.index, c.spec.narration) for c in plan.clips if c.spec.narration]
        if not lines:
            return plan
        self._set_stage("narrating")
        wait = timedelta(seconds=checked.queue_wait_seconds) if checked.queue_wait_seconds else None
        narrated: NarrateResult = await self._step(
            "narration",
            workflow.execute_activity(
                names.NARRATE,
                NarrateInput(
                    video_id=job.video_id,
                    lines=lines,
                    voice=job.tts_voice,
                    speed=job.tts_speed,
                    tts_engine=job.tts_engine,
                    channel=job.channel,
                ),
                result_type=NarrateResult,
                task_queue=render_queue(job.gpu_class),
                start_to_close_timeout=TRANSFER_ALLOWANCE,
                schedule_to_start_timeout=wait,
                heartbeat_timeout=timedelta(seconds=checked.heartbeat_seconds),
                retry_policy=TRANSIENT_RETRY,
                cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
                summary=f"narrate {len(lines)} clips",
                priority=self._priority,
            ),
        )
        try:
            fitted = fit_narration(job, plan, narrated.takes)
        except JobError as err:
            self._set_stage("invalid", error=str(err))
            raise ApplicationError(str(err), {"field": err.field}, type=names.INVALID_JOB, non_retryable=True) from None
        self._progress.frames_total = fitted.frames
        self._set_stage("rendering")
        return fitted

    async def _step(self, what: str | None, running: Awaitable[T]) -> T:
        """Await an activity; a failure for good becomes one line naming the step (if any) and its cause."""
        try:
            return await running
        except ActivityError as err:
            self._raise_if_canceled(err)
            reason, error_type = failure_reason(err)
            message = f"{what}: {reason}" if what else reason
            raise ApplicationError(message, type=error_type, non_retryable=True) from err

    def _raise_if_canceled(self, err: ActivityError) -> None:
        """A cancel stays a cancel, even when the activity it stopped ended otherwise (its worker was dead)."""
        if is_cancelled_exception(err):
            raise err
        if self._durable and canceling():
            raise asyncio.CancelledError() from err

    async def _validate(self, raw_job: RawValue) -> ValidatedJob:
        if self._durable:
            try:
                validated: ValidatedJob = await workflow.execute_local_activity(
                    names.VALIDATE_JOB,
                    raw_job,
                    result_type=ValidatedJob,
                    start_to_close_timeout=VALIDATE_TIMEOUT,
                    retry_policy=TRANSIENT_RETRY,
                    summary="validate and plan the job",
                )
            except ActivityError as err:
                cause = err.cause
                if not isinstance(cause, ApplicationError) or cause.type != names.INVALID_JOB:
                    raise
                field = (
                    cause.details[0].get("field", "job")
                    if cause.details and isinstance(cause.details[0], dict)
                    else "job"
                )
                self._invalid(cause.message, field)
        else:
            try:
                job = parse_job(decoded_job(lambda: workflow.payload_converter().from_payload(raw_job.payload)))
            except JobError as err:
                self._invalid(str(err), err.field)
            validated = ValidatedJob(job=job, plan=plan_video(job), job_hash="")
        workflow_id = workflow.info().workflow_id
        if validated.job.video_id != workflow_id:
            self._invalid(
                f"video_id: {validated.job.video_id!r} must equal the workflow id {workflow_id!r}: "
                "one video, one workflow",
                "video_id",
            )
        self._set_stage("rendering")
        return validated

    def _invalid(self, message: str, field: str) -> NoReturn:
        self._set_stage("invalid", error=message)
        self._publish(search.VIDEO_STATUS.value_set("invalid"))
        raise ApplicationError(message, {"field": field}, type=names.INVALID_JOB, non_retryable=True) from None

    async def _render_all(
        self, job: Job, plan: VideoPlan, checked: CheckJobResult, *, video_only: bool = False
    ) -> list[ClipResult]:
        """Fan out one render per clip, at most `max_parallel_clips` at a time.

        The heartbeat timeout is short (tens of seconds) so a dead or preempted
        worker is noticed quickly rather than at the start-to-close deadline; a
        healthy render heartbeats every two seconds whatever it is doing. A clip
        that no worker picks up within the queue wait limit fails the video, naming
        the queue, instead of waiting forever.
        """
        slots = asyncio.Semaphore(job.max_parallel_clips)
        queue = render_queue(job.gpu_class)
        wait = timedelta(seconds=checked.queue_wait_seconds) if checked.queue_wait_seconds else None

        async def render(clip: PlannedClip) -> ClipResult:
            async with slots:
                while True:
                    try:
                        result: ClipResult = await workflow.execute_activity(
                            names.RENDER_CLIP,
                            RenderClipInput(
                                video_id=job.video_id,
                                clip=clip,
                                profile=plan.profile,
                                tts_voice=job.tts_voice,
                                tts_speed=job.tts_speed,
                                tts_engine=job.tts_engine,
                                channel=job.channel,
                                video_only=video_only,
                            ),
                            result_type=ClipResult,
                            task_queue=queue,
                            start_to_close_timeout=render_timeout(clip, plan.profile if self._costed else None),
                            schedule_to_start_timeout=wait,
                            heartbeat_timeout=timedelta(seconds=checked.heartbeat_seconds),
                            retry_policy=RENDER_RETRY,
                            # On cancel, wait until ffmpeg is stopped and partial files are gone.
                            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
                            summary=clip.label,
                            priority=self._priority,
                        )
                        break
                    except ActivityError as err:
                        self._raise_if_canceled(err)
                        reason, error_type = failure_reason(err)
                        if error_type == NO_WORKER and await self._queue_served(queue):
                            continue  # a backlog on a served queue, not a missing worker: wait again
                        if error_type == NO_WORKER:
                            start = f"RENDER_GPU_CLASS={job.gpu_class} " if job.gpu_class else ""
                            reason = (
                                f"no worker polls task queue {queue} (waited {checked.queue_wait_seconds:g} s); "
                                f"start one with `{start}render-worker --mode gpu`"
                            )
                        raise ApplicationError(f"{clip.label}: {reason}", type=error_type, non_retryable=True) from err
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

    async def _queue_served(self, queue: str) -> bool:
        """Whether any worker polls `queue` now: asked of the server by an activity, so replay reads the answer."""
        served: bool = await workflow.execute_activity(
            names.QUEUE_HAS_WORKERS,
            queue,
            result_type=bool,
            task_queue=names.CONTROL_QUEUE,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=TRANSIENT_RETRY,
            summary=f"who polls {queue}",
            priority=self._priority,
        )
        return served

    async def _discard(self, video_id: str, output_uri: str | None, checked: CheckJobResult) -> int:
        removed: int = await workflow.execute_activity(
            names.DISCARD_INTERMEDIATES,
            DiscardInput(video_id=video_id, output_uri=output_uri),
            result_type=int,
            task_queue=names.CONTROL_QUEUE,
            start_to_close_timeout=timedelta(minutes=10),
            heartbeat_timeout=timedelta(seconds=checked.heartbeat_seconds),
            retry_policy=TRANSIENT_RETRY,
            summary="discard intermediates" + (" and unpublish" if output_uri else ""),
            priority=self._priority,
        )
        return removed

    def _publish(self, *updates: SearchAttributeUpdate[Any]) -> None:
        """Search attributes for list queries and the Web UI's filters.

        Histories recorded before they existed carry no such commands, so they
        replay unchanged on this side of the patch.
        """
        if self._searchable:
            workflow.upsert_search_attributes(list(updates))

    async def _notify(
        self, job: Job, state: str, *, result: VideoResult | None = None, error: str | None = None
    ) -> None:
        """Start the completion webhook as an abandoned child: it retries on its own, never delaying the result.

        A notice can never fail the video: its id carries this run's id, so a
        resubmit's notice cannot collide with an earlier one still retrying, and
        if the start fails anyway the failure is recorded and the render stands.
        """
        if not job.webhook_url:
            return
        body = {"video_id": job.video_id, "state": state, "error": error,
                "output_uri": result.output_uri if result else None,
                "duration_s": result.duration_s if result else None,
                "cost_usd": result.cost_usd if result else None}  # fmt: skip
        start = workflow.start_child_workflow(
            NotifyWebhook.run,
            WebhookInput(url=job.webhook_url, body=body),
            id=f"{job.video_id}.notify.{workflow.info().run_id}" if self._durable else f"{job.video_id}.notify",
            task_queue=names.CONTROL_QUEUE,
            parent_close_policy=ParentClosePolicy.ABANDON,
            static_summary=f"notify {state}",
            priority=self._priority,
        )
        if not self._durable:
            await start
            return
        try:
            await start
        except Exception as err:
            if is_cancelled_exception(err):
                raise
            workflow.logger.warning("webhook notice not started: %s", err)
            self._progress.notify_error = f"webhook notice not started: {err}"

    def _set_stage(self, stage: str, *, error: str | None = None) -> None:
        self._progress.stage = stage
        self._progress.error = error
        p = self._progress
        workflow.set_current_details(
            f"**{stage}** · clips {p.clips_done}/{p.clips_total} · frames {p.frames_done}/{p.frames_total}"
            + (f"\n\n{error}" if error else "")
        )
