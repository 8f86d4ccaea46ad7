"""RenderVideo: validate, plan, fan out clip renders, concat, upload.

Deterministic orchestration only: every side effect is an activity. History holds keys and
records of a fixed size: the job and its plan live in the work store (a claim check), the clips
are scheduled from pages of the plan, their figures are folded into a tally as they end, and
every clip's record goes to the output's manifest. No workflow task decodes more than one page.
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
    ApplicationErrorCategory,
    TimeoutError,
    TimeoutType,
    is_cancelled_exception,
)
from temporalio.workflow import ActivityCancellationType, ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from contracts import names, search
    from contracts.budget import RENDER_ALLOWANCE_SECONDS
    from contracts.gpus import render_queue
    from contracts.records import (
        AudioResult,
        BuildAudioInput,
        CheckJobInput,
        CheckJobResult,
        ClipResult,
        ClipTicket,
        ConcatInput,
        ConcatResult,
        DiscardInput,
        NarrateInput,
        NarrateResult,
        Progress,
        RenderClipInput,
        TicketsInput,
        UploadInput,
        UploadResult,
        ValidatedJob,
        VideoFacts,
        VideoResult,
        WebhookInput,
    )
    from contracts.tenancy import task_priority
    from workflows.cost import Tally
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

RETRY_WINDOW = timedelta(minutes=10)
"""What an activity that is retried by time (`BY_TIME`) may spend beyond its own start-to-close budget.

A frozen worker (SIGSTOPped, a paused VM, a stalled node) keeps its open polls on the server: the SDK holds five
per worker and queue, and the server hands each of them a task as if the worker were alive. Every task handed
over costs one attempt and one heartbeat timeout. Five attempts were all absorbed by one frozen control worker
while a healthy one polled beside it, and a fully rendered video failed at its upload. A poll lasts at most a
minute on the server, so a frozen worker absorbs attempts only in the minute after it froze, however many
attempts there are: bounding retries by time instead of by count lets the next attempt reach a live worker."""

BY_TIME = dataclasses.replace(TRANSIENT_RETRY, maximum_attempts=0)
"""Unlimited attempts, bounded by the activity's schedule-to-close budget (`retry_budget`): for every activity a
task queue hands out (the control queue's, and narration). A failure that cannot be cured still ends the video
at once, as a non-retryable type; one that might be is tried again, with backoff up to 30 s, until the budget
is spent."""


def retry_budget(start_to_close: timedelta) -> timedelta:
    """The schedule-to-close budget of an activity retried `BY_TIME`: one whole attempt and the retry window."""
    return start_to_close + RETRY_WINDOW


CLIP_PAGE = 25
"""Clip tickets a workflow task fetches and decodes at once (a few KB): small enough that no task of a video
of any size comes near the SDK's 2 s deadlock budget, even on a busy worker."""

T = TypeVar("T")

NO_INPUT = RawValue(Payload(metadata={"encoding": b"binary/null"}))
"""What `run` sees when a workflow is started with no input at all (decodes to null)."""

CHECK_HEARTBEAT = timedelta(seconds=60)
"""The job check's heartbeat timeout (the render timeout is the control workers' configuration, read by it)."""

NO_WORKER = "NoWorker"
"""A clip waited longer than the queue wait limit: nothing polls its task queue."""

TRANSFER_ALLOWANCE = timedelta(seconds=RENDER_ALLOWANCE_SECONDS)
"""Added to every start-to-close budget: assets, checkpoints and videos may cross a slow link.
Liveness is the heartbeat's job (every activity beats every 2 s); these budgets only end livelock."""


def canceling() -> bool:
    """Whether this workflow task is being canceled: a failure now (a dead worker's timeout) is the cancel's."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def failure_reason(err: ActivityError | ApplicationError) -> tuple[str, str | None]:
    """One line for what ended an activity, and its error type: the cause, not "Activity task failed".

    A remote activity's failure arrives as an ActivityError around its cause; a failed local activity's
    arrives bare, as the ApplicationError it raised.
    """
    cause = err.cause if isinstance(err, ActivityError) else err
    if isinstance(cause, TimeoutError):
        if cause.type == TimeoutType.SCHEDULE_TO_START:
            return "no worker picked it up in time", NO_WORKER
        last = f": last failure: {cause.cause}" if cause.cause else ""
        return f"{cause.type.name.lower().replace('_', '-') if cause.type else 'activity'} timeout{last}", "Timeout"
    if isinstance(cause, ApplicationError):
        return cause.message, cause.type
    return str(cause or err), None


def failure(message: str, error_type: str | None, *details: Any) -> ApplicationError:
    """The video's failure for good: BENIGN when it is the job's own mistake (no stack trace in the logs,
    not counted in the SDK's failure metrics), as every activity raises it."""
    expected = error_type in names.EXPECTED_ERRORS
    category = ApplicationErrorCategory.BENIGN if expected else ApplicationErrorCategory.UNSPECIFIED
    return ApplicationError(message, *details, type=error_type, non_retryable=True, category=category)


def invalid_field(err: ActivityError | ApplicationError) -> tuple[str, str] | None:
    """(message, field) when an activity (local or remote) refused the job itself (INVALID_JOB), else None."""
    cause = err.cause if isinstance(err, ActivityError) else err
    if not isinstance(cause, ApplicationError) or cause.type != names.INVALID_JOB:
        return None
    details = cause.details[0] if cause.details and isinstance(cause.details[0], dict) else {}
    return cause.message, str(details.get("field", "job"))


@workflow.defn(name=names.WORKFLOW_NAME)
class RenderVideo:
    def __init__(self) -> None:
        self._progress = Progress()
        self._owned = False
        """Whether this run has started publishing: a cancel must then unpublish what it may have written."""
        self._priority = Priority.default
        """What every task this run schedules carries: the job's priority key and its channel's fairness."""

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
        validated = await self._validate(raw_job)
        facts = validated.facts
        self._priority = task_priority(facts.priority, facts.channel)
        self._publish(search.VIDEO_STATUS.value_set("rendering"), search.CHANNEL.value_set(facts.channel),
                      search.CLIP_COUNT.value_set(validated.clips))  # fmt: skip
        try:
            result = await self._render_video(validated)
        except BaseException as err:
            state = "canceled" if is_cancelled_exception(err) else "failed"
            message = str(err.cause if isinstance(err, ActivityError) else err)
            self._publish(search.VIDEO_STATUS.value_set(state))
            if state == "failed":  # a cancel already said what it stopped and removed
                self._set_stage("failed", error=message)
            await self._notify(facts, state, error=message)
            raise
        self._publish(search.VIDEO_STATUS.value_set("completed"), search.ENCODER.value_set(result.encoder),
                      search.COST_USD.value_set(result.cost_usd))  # fmt: skip
        await self._notify(facts, "completed", result=result)
        return result

    async def _render_video(self, validated: ValidatedJob) -> VideoResult:
        facts = validated.facts
        self._progress.clips_total = validated.clips
        self._progress.frames_total = validated.frames
        checked: CheckJobResult | None = None
        try:
            checked = await self._check(validated)
            if checked.published is not None:
                # A restart of a video that already completed (any id reuse policy): its result, not a second
                # render; the plan this run stored goes.
                self._progress.clips_done, self._progress.frames_done = validated.clips, validated.frames
                await self._discard(facts.video_id, None, checked.heartbeat_seconds)
                self._set_stage("completed: already published, nothing rendered")
                return checked.published
            return await self._produce(validated, checked)
        except BaseException as err:
            # A cancel surfaces as asyncio.CancelledError or as an ActivityError caused
            # by one; either way every activity has stopped by now
            # (WAIT_CANCELLATION_COMPLETED), so the intermediates (the stored plan from the start) can go.
            if not is_cancelled_exception(err):
                raise
            self._set_stage("canceling: discarding intermediates")
            owned = checked.output_uri if checked is not None and self._owned else None
            heartbeat = checked.heartbeat_seconds if checked is not None else CHECK_HEARTBEAT.total_seconds()
            removed = await self._discard(facts.video_id, owned, heartbeat)
            self._set_stage(f"canceled: work stopped, {removed} intermediate files removed")
            raise

    async def _check(self, validated: ValidatedJob) -> CheckJobResult:
        """The output and the assets checked; the priority's fairness weight read from the control workers."""
        facts = validated.facts
        checked: CheckJobResult = await self._step(
            None,
            workflow.execute_activity(
                names.CHECK_JOB,
                CheckJobInput(facts.video_id, facts.output_uri, validated.plan_key, validated.job_hash, facts.channel),
                result_type=CheckJobResult,
                task_queue=names.CONTROL_QUEUE,
                start_to_close_timeout=timedelta(minutes=10),
                schedule_to_close_timeout=retry_budget(timedelta(minutes=10)),
                heartbeat_timeout=CHECK_HEARTBEAT,
                retry_policy=BY_TIME,
                summary=f"check job: {validated.clips} clips, {validated.assets} assets",
                priority=self._priority,
            ),
        )
        # The weight is the control workers' configuration, read once by the check and recorded.
        self._priority = task_priority(facts.priority, facts.channel, checked.fairness_weight)
        return checked

    async def _produce(self, validated: ValidatedJob, checked: CheckJobResult) -> VideoResult:
        facts = validated.facts
        # Every activity heartbeats at least every 2 s whatever it is doing, so a
        # silent one is a dead worker: the configured render timeout applies here too.
        heartbeat = timedelta(seconds=checked.heartbeat_seconds)
        plan_key, frames = validated.plan_key, validated.frames
        if facts.narrated_clips:
            plan_key, frames = await self._fit_narration(facts, plan_key, checked)
        duration = frames / validated.fps
        tally, audio = await self._render_with_audio(facts, plan_key, validated.clips, frames, checked)
        # Concat and upload see a cancel through their heartbeats and stop; the
        # workflow waits for them, so nothing is published after a cancel.
        self._set_stage("concatenating")
        concat: ConcatResult = await self._step(
            "concat",
            workflow.execute_activity(
                names.CONCAT_CLIPS,
                ConcatInput(facts.video_id, plan_key, audio.uri),
                result_type=ConcatResult,
                task_queue=names.CONTROL_QUEUE,
                # A stream copy and a mux: seconds per minute of video.
                start_to_close_timeout=timedelta(seconds=frames / 100) + TRANSFER_ALLOWANCE,
                schedule_to_close_timeout=retry_budget(timedelta(seconds=frames / 100) + TRANSFER_ALLOWANCE),
                heartbeat_timeout=heartbeat,
                retry_policy=BY_TIME,
                summary=f"concat {validated.clips} clips · {duration:.1f} s",
                priority=self._priority,
                cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            ),
        )
        control_cpu = concat.cpu_seconds + audio.cpu_seconds  # the track's encode is part of the video's CPU time
        result = VideoResult(
            video_id=facts.video_id,
            output_uri=checked.output_uri,
            duration_s=concat.frames / validated.fps,
            frames=concat.frames,
            bytes=0,
            encoder=tally.encoder,
            reencoded_at_concat=concat.reencoded,
            clips=tally.clips,
            gpu_seconds=round(tally.gpu_seconds, 3),
            cpu_seconds=round(tally.cpu_seconds + control_cpu, 3),
            cost_usd=tally.usd_with(control_cpu),
            costliest_clips=tally.costliest_labels(),
            loudness=audio.loudness,
            clips_from_cache=tally.from_cache,
            cache_hit_rate=round(tally.from_cache / tally.clips, 4) if tally.clips else 0.0,
        )
        self._set_stage("uploading")
        self._owned = True
        upload: UploadResult = await self._step(
            "upload",
            workflow.execute_activity(
                names.UPLOAD_VIDEO,
                UploadInput(
                    video_id=facts.video_id,
                    source_uri=concat.uri,
                    output_uri=checked.output_uri,
                    job_hash=validated.job_hash,
                    result=result,
                    poster_source_uri=concat.poster_uri,
                    plan_key=plan_key,
                ),
                result_type=UploadResult,
                task_queue=names.CONTROL_QUEUE,
                start_to_close_timeout=2 * TRANSFER_ALLOWANCE,
                schedule_to_close_timeout=retry_budget(2 * TRANSFER_ALLOWANCE),
                heartbeat_timeout=heartbeat,
                retry_policy=BY_TIME,
                summary=f"upload to {checked.output_uri}",
                priority=self._priority,
                cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            ),
        )
        self._set_stage("completed")
        return dataclasses.replace(
            result,
            output_uri=upload.output_uri,
            bytes=upload.bytes,
            poster_uri=upload.poster_uri,
            manifest_uri=upload.manifest_uri,
            caption_uri=upload.caption_uri,
            srt_uri=upload.srt_uri,
        )

    async def _render_with_audio(
        self, facts: VideoFacts, plan_key: str, clips: int, frames: int, checked: CheckJobResult
    ) -> tuple[Tally, AudioResult]:
        """The clips (video only) and the video's sound side by side; a failure of either, or a cancel, stops both."""
        track = workflow.start_activity(
            names.BUILD_AUDIO,
            BuildAudioInput(
                facts.video_id,
                plan_key,
                facts.loudness,
                facts.tts_voice,
                facts.tts_speed,
                facts.tts_engine,
                facts.channel,
            ),
            result_type=AudioResult,
            task_queue=names.CONTROL_QUEUE,
            start_to_close_timeout=timedelta(seconds=frames / 100) + TRANSFER_ALLOWANCE,
            schedule_to_close_timeout=retry_budget(timedelta(seconds=frames / 100) + TRANSFER_ALLOWANCE),
            heartbeat_timeout=timedelta(seconds=checked.heartbeat_seconds),
            retry_policy=BY_TIME,
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            summary=f"build the audio track · {frames} frames",
            priority=self._priority,
        )
        renders = asyncio.ensure_future(self._render_all(facts, plan_key, clips, checked))
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
        return await renders, audio

    async def _fit_narration(self, facts: VideoFacts, plan_key: str, checked: CheckJobResult) -> tuple[str, int]:
        """Synthesize every narration first, then size each clip to hold its own (or refuse the job).

        The narrate activity stores the fitted plan: history gets its key and its length, never the takes.
        """
        self._set_stage("narrating")
        wait = timedelta(seconds=checked.queue_wait_seconds) if checked.queue_wait_seconds else None
        try:
            narrated: NarrateResult = await workflow.execute_activity(
                names.NARRATE,
                NarrateInput(
                    facts.video_id, plan_key, facts.tts_voice, facts.tts_speed, facts.tts_engine, facts.channel
                ),
                result_type=NarrateResult,
                task_queue=render_queue(facts.gpu_class),
                start_to_close_timeout=TRANSFER_ALLOWANCE,
                schedule_to_close_timeout=retry_budget(TRANSFER_ALLOWANCE),
                schedule_to_start_timeout=wait,
                heartbeat_timeout=timedelta(seconds=checked.heartbeat_seconds),
                retry_policy=BY_TIME,
                cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
                summary=f"narrate {facts.narrated_clips} clips",
                priority=self._priority,
            )
        except ActivityError as err:
            self._raise_if_canceled(err)
            if refused := invalid_field(err):
                self._invalid(*refused)
            reason, error_type = failure_reason(err)
            raise failure(f"narration: {reason}", error_type) from err
        self._progress.frames_total = narrated.frames
        self._set_stage("rendering")
        return narrated.plan_key, narrated.frames

    async def _step(self, what: str | None, running: Awaitable[T]) -> T:
        """Await an activity; a failure for good becomes one line naming the step (if any) and its cause."""
        try:
            return await running
        except ActivityError as err:
            self._raise_if_canceled(err)
            reason, error_type = failure_reason(err)
            message = f"{what}: {reason}" if what else reason
            raise failure(message, error_type) from err

    def _raise_if_canceled(self, err: ActivityError) -> None:
        """A cancel stays a cancel, even when the activity it stopped ended otherwise (its worker was dead)."""
        if is_cancelled_exception(err):
            raise err
        if canceling():
            raise asyncio.CancelledError() from err

    async def _validate(self, raw_job: RawValue) -> ValidatedJob:
        try:
            validated: ValidatedJob = await workflow.execute_local_activity(
                names.VALIDATE_JOB,
                raw_job,
                result_type=ValidatedJob,
                start_to_close_timeout=VALIDATE_TIMEOUT,
                retry_policy=TRANSIENT_RETRY,
                summary="validate and plan the job",
            )
        except (ActivityError, ApplicationError) as err:
            if refused := invalid_field(err):
                self._invalid(*refused)
            reason, error_type = failure_reason(err)
            self._set_stage("failed", error=reason)
            raise failure(f"validation: {reason}", error_type) from err
        self._set_stage("rendering")
        return validated

    def _invalid(self, message: str, field: str) -> NoReturn:
        self._set_stage("invalid", error=message)
        self._publish(search.VIDEO_STATUS.value_set("invalid"))
        raise failure(message, names.INVALID_JOB, {"field": field}) from None

    async def _tickets(self, plan_key: str, first: int) -> list[ClipTicket]:
        """One page of the stored plan as it is scheduled: bounded, whatever the job's size."""
        tickets: list[ClipTicket] = await workflow.execute_local_activity(
            names.CLIP_TICKETS,
            TicketsInput(plan_key, first, CLIP_PAGE),
            result_type=list[ClipTicket],
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=TRANSIENT_RETRY,
            summary=f"clips {first + 1}…{first + CLIP_PAGE}",
        )
        return tickets

    async def _render_all(self, facts: VideoFacts, plan_key: str, clips: int, checked: CheckJobResult) -> Tally:
        """Fan out one render per clip, at most `max_parallel_clips` at a time, a page of the plan at a time.

        The heartbeat timeout is short (tens of seconds) so a dead or preempted
        worker is noticed quickly rather than at the start-to-close deadline; a
        healthy render heartbeats every two seconds whatever it is doing. A clip
        that no worker picks up within the queue wait limit fails the video, naming
        the queue, instead of waiting forever. Each result is folded into the tally
        as it arrives: nothing kept grows with the clip count.
        """
        slots = asyncio.Semaphore(facts.max_parallel_clips)
        queue = render_queue(facts.gpu_class)
        wait = timedelta(seconds=checked.queue_wait_seconds) if checked.queue_wait_seconds else None
        tally = Tally.priced(checked.usd_per_hour, facts.gpu_class)
        failures: list[BaseException] = []
        running: dict[asyncio.Future[None], None] = {}
        """In the order started (a dict, not a set): cancels must be issued in the same order on replay."""

        async def render(ticket: ClipTicket) -> None:
            try:
                result = await self._render_clip(facts, plan_key, ticket, queue, wait, checked)
                tally.add(result, ticket.label)
                self._progress.clips_done += 1
                self._progress.frames_done += ticket.frames
                self._set_stage("rendering")
            except BaseException as err:
                failures.append(err)
                raise
            finally:
                slots.release()

        try:
            for first in range(0, clips, CLIP_PAGE):
                for ticket in await self._tickets(plan_key, first):
                    await slots.acquire()
                    if failures:
                        raise failures[0]
                    task: asyncio.Future[None] = asyncio.ensure_future(render(ticket))
                    running[task] = None
                    task.add_done_callback(lambda done: running.pop(done, None))
            await asyncio.gather(*running)
            if failures:
                raise failures[0]
        except BaseException:
            # One clip failed for good (or the workflow was canceled): stop the rest.
            stopping = list(running)
            for task in stopping:
                task.cancel()
            await asyncio.gather(*stopping, return_exceptions=True)
            raise
        return tally

    async def _render_clip(
        self,
        facts: VideoFacts,
        plan_key: str,
        ticket: ClipTicket,
        queue: str,
        wait: timedelta | None,
        checked: CheckJobResult,
    ) -> ClipResult:
        while True:
            try:
                result: ClipResult = await workflow.execute_activity(
                    names.RENDER_CLIP,
                    RenderClipInput(
                        facts.video_id,
                        plan_key,
                        ticket.index,
                        facts.tts_voice,
                        facts.tts_speed,
                        facts.tts_engine,
                        facts.channel,
                    ),
                    result_type=ClipResult,
                    task_queue=queue,
                    start_to_close_timeout=timedelta(seconds=ticket.timeout_seconds),
                    schedule_to_start_timeout=wait,
                    heartbeat_timeout=timedelta(seconds=checked.heartbeat_seconds),
                    retry_policy=RENDER_RETRY,
                    # On cancel, wait until ffmpeg is stopped and partial files are gone.
                    cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
                    summary=ticket.label,
                    priority=self._priority,
                )
                return result
            except ActivityError as err:
                self._raise_if_canceled(err)
                reason, error_type = failure_reason(err)
                if error_type == NO_WORKER and await self._queue_served(queue):
                    continue  # a backlog on a served queue, not a missing worker: wait again
                if error_type == NO_WORKER:
                    start = f"RENDER_GPU_CLASS={facts.gpu_class} " if facts.gpu_class else ""
                    reason = (
                        f"no worker polls task queue {queue} (waited {checked.queue_wait_seconds:g} s); "
                        f"start one with `{start}render-worker --mode gpu`"
                    )
                raise failure(f"{ticket.label}: {reason}", error_type) from err

    async def _queue_served(self, queue: str) -> bool:
        """Whether any worker polls `queue` now: asked of the server by an activity, so replay reads the answer."""
        served: bool = await workflow.execute_activity(
            names.QUEUE_HAS_WORKERS,
            queue,
            result_type=bool,
            task_queue=names.CONTROL_QUEUE,
            start_to_close_timeout=timedelta(seconds=30),
            schedule_to_close_timeout=retry_budget(timedelta(seconds=30)),
            retry_policy=BY_TIME,
            summary=f"who polls {queue}",
            priority=self._priority,
        )
        return served

    async def _discard(self, video_id: str, output_uri: str | None, heartbeat_seconds: float) -> int:
        removed: int = await workflow.execute_activity(
            names.DISCARD_INTERMEDIATES,
            DiscardInput(video_id=video_id, output_uri=output_uri),
            result_type=int,
            task_queue=names.CONTROL_QUEUE,
            start_to_close_timeout=timedelta(minutes=10),
            schedule_to_close_timeout=retry_budget(timedelta(minutes=10)),
            heartbeat_timeout=timedelta(seconds=heartbeat_seconds),
            retry_policy=BY_TIME,
            summary="discard intermediates" + (" and unpublish" if output_uri else ""),
            priority=self._priority,
        )
        return removed

    def _publish(self, *updates: SearchAttributeUpdate[Any]) -> None:
        """Search attributes for list queries and the Web UI's filters."""
        workflow.upsert_search_attributes(list(updates))

    async def _notify(
        self, facts: VideoFacts, state: str, *, result: VideoResult | None = None, error: str | None = None
    ) -> None:
        """Start the completion webhook as an abandoned child: it retries on its own, never delaying the result.

        A notice can never fail the video: its id carries this run's id, so a
        resubmit's notice cannot collide with an earlier one still retrying, and
        if the start fails anyway the failure is recorded and the render stands.
        """
        if not facts.webhook_url:
            return
        body = {"video_id": facts.video_id, "state": state, "error": error,
                "output_uri": result.output_uri if result else None,
                "duration_s": result.duration_s if result else None,
                "cost_usd": result.cost_usd if result else None}  # fmt: skip
        try:
            await workflow.start_child_workflow(
                NotifyWebhook.run,
                WebhookInput(url=facts.webhook_url, body=body),
                id=f"{facts.video_id}.notify.{workflow.info().run_id}",
                task_queue=names.CONTROL_QUEUE,
                parent_close_policy=ParentClosePolicy.ABANDON,
                static_summary=f"notify {state}",
                priority=self._priority,
            )
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
