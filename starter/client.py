"""The starter library: submit, status, watch, result, cancel, list."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, ChildWorkflowError, WorkflowAlreadyStartedError
from temporalio.service import RPCError

from contracts import names
from contracts.budget import Budget
from contracts.gpus import GPU_CLASSES, render_queue
from contracts.job import JobError, parse_job
from contracts.plan import plan_video
from contracts.records import Progress, VideoResult
from runtime.connection import TemporalTarget
from runtime.queues import activity_pollers
from runtime.settings import RenderEnv, load

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


@dataclass(frozen=True)
class Poller:
    identity: str
    """The worker's identity: pid@host by default."""
    last_seen: str


class JobRefused(Exception):
    """The job was not started; `field` names what is wrong with it (the first problem of several)."""

    def __init__(self, field: str, message: str, text: str | None = None) -> None:
        super().__init__(text or f"{field}: {message}")
        self.field = field


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

    @property
    def fraction(self) -> float:
        return self.frames_done / self.frames_total if self.frames_total else 0.0

    @property
    def closed(self) -> bool:
        return self.state != "running"


class RenderClient:
    def __init__(self, client: Client, target: TemporalTarget | None = None, budget: Budget | None = None) -> None:
        self.client = client
        self.target = target or TemporalTarget()
        self.budget = budget
        """Checked before submitting; the workers' own budget (RENDER_* settings) decides in the end."""

    @classmethod
    async def connect(cls, target: TemporalTarget | None = None) -> RenderClient:
        target = target or TemporalTarget.from_env()
        return cls(await target.connect(), target, load(RenderEnv).budget())

    async def submit(self, job: dict[str, Any], *, require_worker: bool = True) -> str:
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
            await self._require_worker(parsed.gpu_class)
        try:
            await self.client.start_workflow(
                names.WORKFLOW_NAME,
                job,
                id=plan.video_id,
                task_queue=names.CONTROL_QUEUE,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                static_summary=f"{plan.video_id} · {len(plan.clips)} clips · {plan.duration_s:.1f} s",
            )
        except WorkflowAlreadyStartedError:
            raise JobRefused("video_id", f"a render of {plan.video_id!r} already exists; use a new video_id") from None
        return plan.video_id

    def handle(self, video_id: str) -> WorkflowHandle[Any, Any]:
        return self.client.get_workflow_handle(video_id, result_type=VideoResult)

    async def status(self, video_id: str) -> VideoStatus:
        handle = self.handle(video_id)
        desc = await handle.describe()
        state = CLOSED.get(desc.status, "running") if desc.status else "running"
        status = VideoStatus(video_id=video_id, state=state)
        if state == "completed":
            result = await self.result(video_id)
            status.stage = "completed"
            status.output_uri = result.output_uri
            status.cost_usd, status.costliest_clips = result.cost_usd, result.costliest_clips
            status.clips_done = status.clips_total = len(result.clips)
            status.frames_done = status.frames_total = result.frames
            return status
        if state != "running":
            status.stage = state
            status.error = await self._failure(handle)
            return status
        try:
            progress = await handle.query(names.PROGRESS_QUERY, result_type=Progress)
        except RPCError:
            return status  # no worker has picked the workflow up yet
        status.stage, status.error = progress.stage, progress.error
        status.clips_done, status.clips_total = progress.clips_done, progress.clips_total
        status.frames_total = progress.frames_total
        status.frames_done = progress.frames_done + await self._in_flight_frames(desc.raw_description)
        return status

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
            return str(root_cause(err))
        return None

    async def result(self, video_id: str) -> VideoResult:
        """Wait for the render to finish; raises WorkflowFailureError if it failed."""
        result: VideoResult = await self.handle(video_id).result()
        return result

    async def cancel(self, video_id: str) -> None:
        await self.handle(video_id).cancel()

    async def watch(self, video_id: str, interval: float = 1.0) -> AsyncIterator[VideoStatus]:
        """Status every `interval` seconds until the render closes."""
        while True:
            status = await self.status(video_id)
            yield status
            if status.closed:
                return
            await asyncio.sleep(interval)

    async def _require_worker(self, gpu_class: str | None, grace_seconds: float = 5.0) -> None:
        """Refuse a job nobody would render; a worker that is just starting gets a few seconds to poll."""
        queue = render_queue(gpu_class)
        deadline = asyncio.get_running_loop().time() + grace_seconds
        while not (await self.pollers([queue]))[queue]:
            if asyncio.get_running_loop().time() >= deadline:
                break
            await asyncio.sleep(0.5)
        else:
            return
        field = "gpu_class" if gpu_class else "task_queue"
        start = f"RENDER_GPU_CLASS={gpu_class} " if gpu_class else ""
        raise JobRefused(
            field,
            f"no worker polls task queue {queue}; start one with `{start}render-worker --mode gpu`, "
            "or submit with --allow-no-worker where render workers scale from zero",
        )

    async def pollers(self, queues: list[str] | None = None) -> dict[str, list[Poller]]:
        """Workers polling each render queue now (the server's poller lists), by queue name."""
        if queues is None:
            queues = [names.CONTROL_QUEUE, names.GPU_QUEUE, *(render_queue(c) for c in sorted(GPU_CLASSES))]
        found: dict[str, list[Poller]] = {}
        for queue in queues:
            found[queue] = [
                Poller(p.identity, p.last_access_time.ToDatetime(tzinfo=UTC).isoformat(timespec="seconds"))
                for p in await activity_pollers(self.client, queue)
            ]
        return found

    async def list(self, query: str | None = None, limit: int = 50) -> list[tuple[str, str]]:
        """(video id, state) of recent renders, newest first."""
        clause = f"WorkflowType = '{names.WORKFLOW_NAME}'" + (f" AND ({query})" if query else "")
        found = []
        async for execution in self.client.list_workflows(clause, limit=limit):
            state = CLOSED.get(execution.status, "running") if execution.status else "running"
            found.append((execution.id, state))
        return found
