"""The starter library: submit, status, watch, result, cancel, list."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.api.enums.v1 import EventType, PendingWorkflowTaskState, WorkerVersioningMode
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowHistoryEventFilterType,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from contracts import names, search
from contracts.budget import Budget
from contracts.gpus import GPU_CLASSES, render_queue
from contracts.job import JobError, parse_job
from contracts.plan import plan_video
from contracts.records import Progress, VideoResult
from contracts.tenancy import for_channel, task_priority
from runtime.connection import TemporalTarget
from runtime.farm import QuarantineNote, quarantined
from runtime.process import program
from runtime.queues import activity_pollers
from runtime.settings import ChannelEnv, DeploymentEnv, RenderEnv, load
from runtime.tracing import tracing_interceptor
from runtime.versioning import Build, Routing, routing, running_videos
from starter.stuck import failing_workflow_task

CLOSED = {
    WorkflowExecutionStatus.COMPLETED: "completed",
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.CANCELED: "canceled",
    WorkflowExecutionStatus.TERMINATED: "terminated",
    WorkflowExecutionStatus.TIMED_OUT: "timed out",
    WorkflowExecutionStatus.CONTINUED_AS_NEW: "continued",
}


def root_cause(err: WorkflowFailureError) -> BaseException:
    """The error that ended the render: an activity's own error rather than its ActivityError wrapper."""
    cause: BaseException = err.cause
    while isinstance(cause, ActivityError | ChildWorkflowError) and cause.cause is not None:
        cause = cause.cause
    return cause


POLLING_NOW = timedelta(seconds=75)
"""A polling worker renews its long poll at least every 70 s; the server remembers stopped ones for minutes."""
SERVER_QUERY_PREFIX = len("select * from table1 where ")
"""What the server puts before a visibility query when it parses it; its error positions count it."""
QUERY_TIMEOUT = timedelta(seconds=5)
UNCLAIMED = timedelta(seconds=10)
VERSIONED = WorkerVersioningMode.WORKER_VERSIONING_MODE_VERSIONED
ROUTING_MAX_AGE = 1.0
"""Seconds a client reuses the deployment's routing: a switch of current version is seen within this."""
ANY_BUILD = "*"
"""`unpolled`: a poller of any build counts."""
UNVERSIONED = "unversioned"
"""How `render workers` names workers that joined no deployment."""
SERVER_GONE_SECONDS = 120.0
"""How long a wait for a result rides out an unreachable server (a restart, a failover) before it gives up."""
"""A live control worker takes a workflow task within milliseconds; ten seconds means none is there."""


def failure_text(err: WorkflowFailureError) -> str:
    """What ended the render, in one line: the workflow's own message (it names the clip and the reason)."""
    cause = root_cause(err)
    text = cause.message if isinstance(cause, ApplicationError) else str(cause)
    return " ".join(text.split())


@dataclass(frozen=True)
class Poller:
    identity: str
    """The worker's identity: pid@host by default."""
    last_seen: str
    age_s: float = 0.0
    """Seconds since the worker last polled."""
    build_id: str | None = None
    """The Worker Deployment Version's build id it polls for; None: an unversioned worker."""


class JobRefused(Exception):
    """The job was not started; `field` names what is wrong with it (the first problem of several)."""

    def __init__(self, field: str, message: str, text: str | None = None) -> None:
        super().__init__(text or f"{field}: {message}")
        self.field = field


class ChannelFull(JobRefused):
    """The job's channel already has its limit of videos in flight: submit it again once one finishes."""

    def __init__(self, channel: str, running: int, limit: int) -> None:
        super().__init__("channel", f"channel {channel!r} has {running} videos in flight; its limit is {limit}")
        self.channel, self.running, self.limit = channel, running, limit


class AlreadyExists(JobRefused):
    """A render of this video id runs or has completed: it is never rendered twice."""


class NoWorker(JobRefused):
    """No worker polls the task queue the job needs."""

    def __init__(self, field: str, queue: str, start: str, text: str | None = None) -> None:
        super().__init__(
            field,
            text
            or f"no worker polls task queue{'s' if ',' in queue else ''} {queue}; start one with `{start}`, "
            "or submit with --allow-no-worker where render workers scale from zero",
        )
        self.queue, self.start = queue, start


class NoCurrentVersion(NoWorker):
    """Workers poll, but the Worker Deployment's current version is not among them: new videos would wait."""

    def __init__(self, field: str, queue: str, deployment: str, current: str | None, polling: list[str]) -> None:
        builds = ", ".join(polling) or "none"
        choose = (
            f"temporal worker deployment set-current-version --deployment-name {deployment} "
            f"--build-id {polling[0] if len(polling) == 1 else 'BUILD_ID'}"
        )
        if current is None:
            text = f"worker deployment {deployment!r} has no current version (builds polling: {builds}); run `{choose}`"
        else:
            text = (
                f"no worker of the current version {deployment}:{current} polls task queue {queue} "
                f"(builds polling: {builds}); start its workers with RENDER_BUILD_ID={current}, or run `{choose}`"
            )
        super().__init__(field, queue, "render-worker", text)
        self.deployment, self.current, self.polling = deployment, current, polling


QUARANTINED_SHOWN = timedelta(hours=24)
"""How far back `render workers` names workers that quarantined themselves."""


class VideoNotFound(LookupError):
    """No render has this video id in the namespace."""

    def __init__(self, video_id: str) -> None:
        super().__init__(f"no render with video id {video_id!r}")
        self.video_id = video_id


class AlreadyEnded(Exception):
    """The render has already ended, so there is nothing to cancel."""

    def __init__(self, video_id: str, state: str) -> None:
        super().__init__(f"{video_id} already {state}; nothing to cancel")
        self.video_id, self.state = video_id, state


class BadQuery(ValueError):
    """The server refused a visibility query; the message points into the text the user wrote."""


def worker_command(queue: str) -> str:
    """The command that starts a worker polling `queue`, as it runs when pasted here: the worker's path when
    it is not on PATH, and RENDER_WEBHOOKS=false where a control worker would refuse to start without a secret."""
    worker = program("render-worker")
    if queue == names.CONTROL_QUEUE:  # every mode but gpu serves it; `all` renders too
        env = load(RenderEnv)
        return f"RENDER_WEBHOOKS=false {worker}" if env.webhooks.enabled and not env.webhooks.secret else worker
    gpu_class = queue.removeprefix(names.GPU_QUEUE).lstrip("-")
    return f"{f'RENDER_GPU_CLASS={gpu_class} ' if gpu_class else ''}{worker} --mode gpu"


def user_query_error(message: str, query: str) -> str:
    """The server's complaint about `query`, with its position counted in `query` itself."""
    text = message.removeprefix("invalid query: ")

    def shift(match: re.Match[str]) -> str:
        position = int(match.group(1)) - SERVER_QUERY_PREFIX
        return f"at position {position}" if 1 <= position <= len(query) + 1 else "in"

    return re.sub(r"at position (\d+)", shift, text)


def workflow_task_unclaimed(raw: Any, after: timedelta = UNCLAIMED) -> bool:
    """Whether a workflow task has waited longer than `after` for a worker: no control worker is alive.

    The server's poller list keeps a stopped worker for minutes, so this is the quicker sign.
    """
    if not raw.HasField("pending_workflow_task"):
        return False
    task = raw.pending_workflow_task
    if task.state != PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_SCHEDULED:
        return False
    since = task.original_scheduled_time if task.HasField("original_scheduled_time") else task.scheduled_time
    return bool(datetime.now(UTC) - since.ToDatetime(tzinfo=UTC) > after)


def not_found(err: RPCError) -> bool:
    return err.status == RPCStatusCode.NOT_FOUND


@dataclass
class VideoStatus:
    video_id: str
    state: str
    """running, completed, failed, canceled, terminated, timed out."""
    stage: str = ""
    clips_done: int = 0
    clips_total: int = 0
    frames_done: int = 0
    """Finished clips' frames plus the frames in-flight renders last reported."""
    frames_total: int = 0
    error: str | None = None
    output_uri: str | None = None
    cost_usd: float | None = None
    costliest_clips: list[str] | None = None
    waiting_for: list[str] = field(default_factory=list)
    """Task queues this running render needs that no worker polls now."""

    @property
    def fraction(self) -> float:
        return self.frames_done / self.frames_total if self.frames_total else 0.0

    @property
    def closed(self) -> bool:
        return self.state != "running"


class RenderClient:
    def __init__(
        self,
        client: Client,
        target: TemporalTarget | None = None,
        *,
        channel_limits: dict[str, int] | None = None,
        budget: Budget | None = None,
        deployment: str = "render",
    ) -> None:
        self.client = client
        self.deployment = deployment
        """The Worker Deployment whose current version takes new videos (RENDER_DEPLOYMENT_NAME)."""
        self._routing: tuple[float, Routing | None] | None = None
        self._routing_lock = asyncio.Lock()
        self.target = target or TemporalTarget()
        self.channel_limits = dict(channel_limits or {})
        """Videos in flight at once by channel ('*' for every other channel); none named: no limit."""
        self.budget = budget
        """Checked before submitting; the workers' own budget (RENDER_* settings) decides in the end."""

    @classmethod
    async def connect(cls, target: TemporalTarget | None = None) -> RenderClient:
        target = target or TemporalTarget.from_env()
        tracing = tracing_interceptor()  # a submitted video's trace starts here when OTLP is configured
        client = await target.connect(interceptors=[tracing] if tracing else [])
        return cls(
            client,
            target,
            channel_limits=load(ChannelEnv).limits(),
            budget=load(RenderEnv).limits.budget,
            deployment=load(DeploymentEnv).deployment_name,
        )

    async def submit(self, job: dict[str, Any], *, require_worker: bool = True, grace_seconds: float = 5.0) -> str:
        """Validate and start a render; the workflow id is the video id.

        A second submit of the same id is refused while it runs or once it has
        completed; a failed or canceled render may be submitted again, and reuses
        every clip it had already finished. A job whose render queue no worker
        polls is refused, naming the queue, unless `require_worker` is False (for
        workers that scale from zero on the queue's backlog).
        """
        try:
            parsed = parse_job(job, self.budget)
            plan = plan_video(parsed)
        except JobError as err:
            raise JobRefused(err.field, err.message, str(err)) from None  # every problem, one per line
        if require_worker:
            await self._require_worker(parsed.gpu_class, grace_seconds)
        limited = await self._require_channel_room(parsed.channel)
        try:
            await self.client.start_workflow(
                names.WORKFLOW_NAME,
                job,
                id=plan.video_id,
                task_queue=names.CONTROL_QUEUE,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                static_summary=f"{plan.video_id} · {len(plan.clips)} clips · {plan.duration_s:.1f} s",
                # The workflow's own tasks queue by the job's priority and channel too; the channel is
                # searchable from the start, so the next submit's in-flight count includes this one.
                priority=task_priority(parsed.priority, parsed.channel),
                search_attributes=TypedSearchAttributes([SearchAttributePair(search.CHANNEL, parsed.channel)]),
            )
        except WorkflowAlreadyStartedError:
            raise AlreadyExists(
                "video_id", f"a render of {plan.video_id!r} already exists; use a new video_id"
            ) from None
        if limited:
            await self._until_counted(plan.video_id)
        return plan.video_id

    def handle(self, video_id: str) -> WorkflowHandle[Any, Any]:
        return self.client.get_workflow_handle(video_id, result_type=VideoResult)

    async def describe(self, video_id: str) -> Any:
        try:
            return await self.handle(video_id).describe()
        except RPCError as err:
            if not_found(err):
                raise VideoNotFound(video_id) from None
            raise

    async def status(self, video_id: str, *, check_workers: bool = True) -> VideoStatus:
        """Where the render is; raises VideoNotFound. `check_workers` also names queues nobody polls."""
        handle = self.handle(video_id)
        desc = await self.describe(video_id)
        state = CLOSED.get(desc.status, "running") if desc.status else "running"
        status = VideoStatus(video_id=video_id, state=state)
        if state == "completed":
            result = await self.result(video_id)
            status.stage = "completed"
            status.output_uri = result.output_uri
            status.cost_usd, status.costliest_clips = result.cost_usd, result.costliest_clips
            status.clips_done = status.clips_total = result.clips
            status.frames_done = status.frames_total = result.frames
            return status
        if state == "failed" and await self._refused(video_id, None):
            state = status.state = "invalid"  # the workflow refused the job: nothing was rendered
        if state != "running":
            status.stage = state
            status.error = await self._failure(handle)
            await self._count_from_history(handle, status)
            return status
        if stuck := await failing_workflow_task(self.client, video_id, desc.raw_description):
            status.stage, status.error = "workflow task failing", stuck  # no query would answer
            return status
        if check_workers:
            pinned = desc.raw_description.workflow_execution_info.versioning_info.deployment_version.build_id
            status.waiting_for = await self.unpolled(await self.needed_queues(video_id), build_id=pinned or ANY_BUILD)
        if names.CONTROL_QUEUE not in status.waiting_for and workflow_task_unclaimed(desc.raw_description):
            status.waiting_for.insert(0, names.CONTROL_QUEUE)  # its last worker stopped; the server still lists it
        if names.CONTROL_QUEUE in status.waiting_for:
            status.stage = "waiting for a worker"  # and nobody would answer the query
            return status
        try:
            progress = await handle.query(names.PROGRESS_QUERY, result_type=Progress, rpc_timeout=QUERY_TIMEOUT)
        except RPCError:
            status.stage = "waiting for a worker"
            return status  # no worker has picked the workflow up yet
        status.stage, status.error = progress.stage, progress.error
        status.clips_done, status.clips_total = progress.clips_done, progress.clips_total
        status.frames_total = progress.frames_total
        status.frames_done = progress.frames_done + await self._in_flight_frames(desc.raw_description)
        return status

    async def _count_from_history(self, handle: WorkflowHandle[Any, Any], status: VideoStatus) -> None:
        """How far a render that ended got: its plan (recorded once) and the clips whose renders completed."""
        render_events: set[int] = set()
        async for event in handle.fetch_history_events():
            if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED and not status.clips_total:
                data = event.marker_recorded_event_attributes.details.get("result")  # a local activity's result
                decoded = await self.client.data_converter.decode(data.payloads) if data else []
                validated = decoded[0] if decoded and isinstance(decoded[0], dict) else {}
                if "plan_key" in validated:  # the validation's record, not a page of clip tickets
                    status.clips_total = int(validated["clips"])
                    status.frames_total = int(validated["frames"])
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                if event.activity_task_scheduled_event_attributes.activity_type.name == names.RENDER_CLIP:
                    render_events.add(event.event_id)
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                completed = event.activity_task_completed_event_attributes
                if completed.scheduled_event_id in render_events:
                    decoded = await self.client.data_converter.decode(completed.result.payloads)
                    status.clips_done += 1
                    if decoded and isinstance(decoded[0], dict):
                        status.frames_done += int(decoded[0].get("frames", 0))

    async def _in_flight_frames(self, raw: Any) -> int:
        """Frames that running renders reported in their last heartbeat."""
        frames = 0
        for pending in raw.pending_activities:
            if pending.activity_type.name != names.RENDER_CLIP or not pending.heartbeat_details.payloads:
                continue
            details = await self.client.data_converter.decode(pending.heartbeat_details.payloads)
            if details and isinstance(details[0], dict):
                frames += int(details[0].get("frames_done", 0))
        return frames

    async def _failure(self, handle: WorkflowHandle[Any, Any]) -> str | None:
        try:
            await handle.result()
        except WorkflowFailureError as err:
            return failure_text(err)
        return None

    async def result(self, video_id: str) -> VideoResult:
        """Wait for the render to finish; raises WorkflowFailureError if it failed, VideoNotFound.

        A wait outlives a server that restarts or answers a long poll late: the render goes on meanwhile,
        so the wait is asked again, for up to SERVER_GONE_SECONDS of the server being unreachable."""
        handle = self.handle(video_id)
        unreachable_since: float | None = None
        while True:
            try:
                result: VideoResult = await handle.result()
                return result
            except RPCError as err:
                if not_found(err):
                    raise VideoNotFound(video_id) from None
                if err.status == RPCStatusCode.DEADLINE_EXCEEDED:
                    continue  # a busy server let the long poll run out; it still holds the render
                if err.status != RPCStatusCode.UNAVAILABLE:
                    raise
                now = time.monotonic()
                unreachable_since = unreachable_since or now
                if now - unreachable_since > SERVER_GONE_SECONDS:
                    raise
                await asyncio.sleep(1)

    async def cancel(self, video_id: str) -> None:
        """Ask a running render to stop; raises AlreadyEnded (with its state) or VideoNotFound."""
        desc = await self.describe(video_id)
        if desc.status and desc.status != WorkflowExecutionStatus.RUNNING:
            raise AlreadyEnded(video_id, CLOSED.get(desc.status, "ended"))
        try:
            await self.handle(video_id).cancel()
        except RPCError as err:
            if not_found(err):  # it ended between the two calls
                raise AlreadyEnded(video_id, "ended") from None
            raise

    async def watch(
        self, video_id: str, interval: float = 1.0, workers_every: float = 5.0
    ) -> AsyncIterator[VideoStatus]:
        """Status every `interval` seconds until the render closes; the queues nobody polls every `workers_every`."""
        loop = asyncio.get_running_loop()
        checked, waiting_for = float("-inf"), list[str]()
        while True:
            check = waiting_for != [] or loop.time() - checked >= workers_every
            status = await self.status(video_id, check_workers=check)
            if check:
                checked, waiting_for = loop.time(), status.waiting_for
            else:
                status.waiting_for = list(dict.fromkeys([*status.waiting_for, *waiting_for]))
            if status.closed:
                status.waiting_for = []
            yield status
            if status.closed:
                return
            await asyncio.sleep(interval)

    async def _require_worker(self, gpu_class: str | None, grace_seconds: float = 5.0) -> None:
        """Refuse a job nobody would render: no worker of the deployment's current version on the control
        queue or on its render queue (a new video starts on the current version and stays there).

        A worker that is just starting gets a few seconds to poll and to make its version current.
        """
        queues = [names.CONTROL_QUEUE, render_queue(gpu_class)]
        deadline = asyncio.get_running_loop().time() + grace_seconds
        while True:
            found = await self.routing()
            current = found.current if found else None  # None: unversioned workers take new videos
            pollers = await self.pollers(queues)
            missing = [q for q in queues if not any(p.build_id == current for p in pollers[q])]
            if not missing:
                return
            if asyncio.get_running_loop().time() >= deadline:
                break
            await asyncio.sleep(0.5)
        field = "gpu_class" if gpu_class and missing == queues[1:] else "task_queue"
        polling = sorted({p.build_id for q in missing for p in pollers[q] if p.build_id is not None})
        if polling:  # versioned workers poll there, but not the current version's
            raise NoCurrentVersion(field, missing[0], self.deployment, current, polling)
        # One `render-worker` (mode all) polls both queues when neither has a worker.
        start = worker_command(missing[0] if len(missing) == 1 else names.CONTROL_QUEUE)
        raise NoWorker(field, ", ".join(missing), start)

    async def routing(self, max_age: float = ROUTING_MAX_AGE) -> Routing | None:
        """The deployment's routing, asked at most once per `max_age` seconds by this client.

        The server limits how many describe a deployment at once ("too many requests issued to Worker
        Deployment"): 200 submits started together would trip it. They share one answer instead.
        """
        async with self._routing_lock:
            now = asyncio.get_running_loop().time()
            if self._routing is None or now - self._routing[0] > max_age:
                self._routing = (now, await routing(self.client, self.deployment))
            return self._routing[1]

    async def in_flight(self, channel: str) -> int:
        """Renders of `channel` running now, as the server's visibility store counts them."""
        escaped = channel.replace("\\", "\\\\").replace("'", "\\'")
        query = f"WorkflowType = '{names.WORKFLOW_NAME}' AND ExecutionStatus = 'Running' AND Channel = '{escaped}'"
        return (await self.client.count_workflows(query)).count

    async def _require_channel_room(self, channel: str) -> bool:
        """Refuse a video while its channel already has its limit of videos in flight; whether a limit applies."""
        limit = for_channel({c: float(n) for c, n in self.channel_limits.items()}, channel)
        if limit is None:
            return False
        running = await self.in_flight(channel)
        if running >= limit:
            raise ChannelFull(channel, running, int(limit))
        return True

    async def _until_counted(self, video_id: str, timeout: float = 10.0) -> None:
        """Return once visibility counts the video just started (it writes a moment after the start), so this
        client's next in-flight count includes it: one submitter, however fast, never overshoots a limit."""
        query = f"WorkflowId = '{video_id}' AND ExecutionStatus = 'Running'"
        deadline = asyncio.get_running_loop().time() + timeout
        while not (await self.client.count_workflows(query)).count:
            if asyncio.get_running_loop().time() >= deadline:
                return  # the video has already ended, or visibility lags badly: counting goes on without it
            await asyncio.sleep(0.05)

    async def pollers(
        self, queues: list[str] | None = None, polling_now: timedelta = POLLING_NOW
    ) -> dict[str, list[Poller]]:
        """Workers polling each render queue now, by queue name: those the server saw poll within `polling_now`."""
        if queues is None:
            queues = [names.CONTROL_QUEUE, names.GPU_QUEUE, *(render_queue(c) for c in sorted(GPU_CLASSES))]
        now = datetime.now(UTC)
        found: dict[str, list[Poller]] = {}
        for queue in queues:
            found[queue] = []
            for p in await activity_pollers(self.client, queue):
                seen = p.last_access_time.ToDatetime(tzinfo=UTC)
                if now - seen <= polling_now:
                    age = max(0.0, (now - seen).total_seconds())
                    build_id = (
                        p.deployment_options.build_id
                        if p.deployment_options.worker_versioning_mode == VERSIONED
                        else None
                    )
                    found[queue].append(Poller(p.identity, seen.isoformat(timespec="seconds"), round(age, 1), build_id))
        return found

    async def versions(self) -> Deployment:
        """The Worker Deployment as `render workers` shows it: routing, and per version its pollers and videos."""
        found = await routing(self.client, self.deployment)
        pollers = await self.pollers()
        builds = {v.build_id: v.status for v in (found.versions if found else [])}
        for queue_pollers in pollers.values():
            for p in queue_pollers:
                builds.setdefault(p.build_id or UNVERSIONED, "polling")
        versions = []
        for build_id, state in builds.items():
            polling = {q: sum(p.build_id == build_id or (p.build_id is None and build_id == UNVERSIONED)
                              for p in ps) for q, ps in pollers.items()}  # fmt: skip
            videos = (
                0 if build_id == UNVERSIONED else await running_videos(self.client, Build(self.deployment, build_id))
            )
            versions.append(VersionInfo(build_id, state, {q: n for q, n in polling.items() if n}, videos))
        try:
            notes = await quarantined(self.client, since=QUARANTINED_SHOWN)
        except RPCError:  # schedules not listable here: the workers are shown all the same
            notes = []
        return Deployment(self.deployment, found or Routing(None), versions, pollers, notes)

    async def _refused(self, video_id: str, run_id: str | None) -> bool:
        """Whether a failed render failed because its job was invalid: the type of the failure that closed it."""
        handle = self.client.get_workflow_handle(video_id, run_id=run_id)
        async for event in handle.fetch_history_events(event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT):
            failure = event.workflow_execution_failed_event_attributes.failure
            while failure.HasField("cause") and not failure.application_failure_info.type:
                failure = failure.cause
            return failure.application_failure_info.type == names.INVALID_JOB
        return False

    async def needed_queues(self, video_id: str) -> list[str]:
        """The task queues a render needs: control, and the render queue of its job's GPU class."""
        queues = [names.CONTROL_QUEUE]
        async for event in self.handle(video_id).fetch_history_events(page_size=1):
            payloads = event.workflow_execution_started_event_attributes.input.payloads
            decoded = await self.client.data_converter.decode(payloads) if payloads else []
            with contextlib.suppress(JobError, IndexError, TypeError, ValueError):  # an invalid job renders nothing
                queues.append(render_queue(parse_job(decoded[0]).gpu_class))
            break
        return queues

    async def unpolled(self, queues: list[str], *, build_id: str | None = ANY_BUILD) -> list[str]:
        """Those of `queues` no worker polls now; with `build_id`, no worker of that build (None: unversioned)."""
        pollers = await self.pollers(queues)
        return [q for q in queues if not any(build_id == ANY_BUILD or p.build_id == build_id for p in pollers[q])]

    async def list(self, query: str | None = None, limit: int = 50) -> list[VideoSummary]:
        """Recent renders, newest first; `query` is a visibility query (BadQuery if the server refuses it)."""
        if query:
            try:
                await self.client.count_workflows(query)  # alone, so that an error's position is in the user's text
            except RPCError as err:
                if err.status == RPCStatusCode.INVALID_ARGUMENT:
                    raise BadQuery(user_query_error(err.message, query)) from None
                raise
        clause = f"WorkflowType = '{names.WORKFLOW_NAME}'" + (f" AND ({query})" if query else "")
        found = []
        async for execution in self.client.list_workflows(clause, limit=limit):
            attributes = execution.typed_search_attributes
            state = CLOSED.get(execution.status, "running") if execution.status else "running"
            if state == "failed" and await self._refused(execution.id, execution.run_id):
                state = "invalid"
            found.append(
                VideoSummary(
                    video_id=execution.id,
                    state=state,
                    started_at=execution.start_time,
                    closed_at=execution.close_time,
                    channel=attributes.get(search.CHANNEL),
                    clips=attributes.get(search.CLIP_COUNT),
                    cost_usd=attributes.get(search.COST_USD),
                )
            )
        return found


@dataclass(frozen=True)
class VersionInfo:
    """One Worker Deployment Version: its status, who polls for it and how many videos are pinned to it."""

    build_id: str
    status: str
    """current, ramping, draining, drained, inactive; `polling` for workers the deployment does not list yet."""
    pollers: dict[str, int]
    """Workers polling for this version now, by task queue."""
    running_videos: int


@dataclass(frozen=True)
class Deployment:
    name: str
    routing: Routing
    versions: list[VersionInfo]
    pollers: dict[str, list[Poller]]
    quarantined: list[QuarantineNote] = field(default_factory=list)
    """Workers that took themselves out of the farm within `QUARANTINED_SHOWN`."""


@dataclass(frozen=True)
class VideoSummary:
    """One render as `list` finds it, from its search attributes."""

    video_id: str
    state: str
    """running, completed, failed, invalid (the job was refused), canceled, terminated, timed out."""
    started_at: datetime | None = None
    closed_at: datetime | None = None
    channel: str | None = None
    clips: int | None = None
    cost_usd: float | None = None
