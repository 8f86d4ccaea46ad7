"""What the autoscaler reads from Temporal: a queue's backlog statistics and the work in flight.

Backlog comes from DescribeTaskQueue with `report_stats` on the activity queue (count, age of the oldest
task, add and dispatch rates). Work in flight comes from a visibility count of running workflows (by default
`RenderVideo`), chosen over the queue's poller and dispatch figures because:

* a running video may have clips rendering right now: the backlog is empty exactly when workers are busy;
* a running video may still schedule clips (at most `max_parallel_clips` are in flight, the rest wait
  inside the workflow, invisible to the queue);
* pollers only show idle slots (a worker with every slot busy stops polling), and the rates are moving
  averages that take about half a minute to fall to zero.

The rates still feed `QueueSignal.effective_backlog`, where they reveal a backlog the cached count misses.
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

from temporalio.api.deployment.v1 import WorkerDeploymentVersion
from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType, VersionDrainageStatus
from temporalio.api.taskqueue.v1 import TaskQueue, TaskQueueStats
from temporalio.api.workflowservice.v1 import (
    DescribeTaskQueueRequest,
    DescribeWorkerDeploymentRequest,
    DescribeWorkerDeploymentVersionRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from workers.autoscaler.policy import QueueSignal


class Signals(Protocol):
    async def queue(self, task_queue: str, version: str | None = None) -> QueueSignal: ...

    async def running(self, query: str) -> int: ...


@runtime_checkable
class DrainSignals(Protocol):
    async def draining(self, deployment: str) -> dict[str, float]: ...


class TemporalSignals:
    """`Signals` from a Temporal frontend through the client's raw workflow service."""

    def __init__(self, client: Client) -> None:
        self._client = client

    async def queue(self, task_queue: str, version: str | None = None) -> QueueSignal:
        """Backlog of the activity side of `task_queue` (`running` left at 0; see `running`); with
        `version` (`deployment:build id`), that build's share only: the tasks of videos pinned to it."""
        if version is not None:
            return await self._version_queue(task_queue, version)
        response = await self._client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=self._client.namespace,
                task_queue=TaskQueue(name=task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
                report_stats=True,
            )
        )
        return _signal(response.stats, pollers=len(response.pollers))

    async def _version_queue(self, task_queue: str, version: str) -> QueueSignal:
        deployment, _, build_id = version.partition(":")
        try:
            response = await self._client.workflow_service.describe_worker_deployment_version(
                DescribeWorkerDeploymentVersionRequest(
                    namespace=self._client.namespace,
                    deployment_version=WorkerDeploymentVersion(deployment_name=deployment, build_id=build_id),
                    report_task_queue_stats=True,
                )
            )
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:  # no worker of that build has polled yet: nothing waits
                return QueueSignal(backlog=0)
            raise
        for found in response.version_task_queues:
            if found.name == task_queue and found.type == TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY:
                return _signal(found.stats)
        return QueueSignal(backlog=0)

    async def running(self, query: str) -> int:
        return (await self._client.count_workflows(query)).count

    async def draining(self, deployment: str) -> dict[str, float]:
        """Seconds each draining version of `deployment` has drained (since it stopped taking new work), by build id.

        A version drains while workflows pinned to it are still open; one that never drains keeps its
        workers (and their GPUs) alive for nothing, or hides workflows stuck on old code.
        """
        response = await self._client.workflow_service.describe_worker_deployment(
            DescribeWorkerDeploymentRequest(namespace=self._client.namespace, deployment_name=deployment)
        )
        now = time.time()
        draining: dict[str, float] = {}
        for summary in response.worker_deployment_info.version_summaries:
            if summary.drainage_status != VersionDrainageStatus.VERSION_DRAINAGE_STATUS_DRAINING:
                continue
            since = summary.last_deactivation_time if summary.HasField("last_deactivation_time") else None
            started = since.ToSeconds() if since else now
            draining[summary.deployment_version.build_id or summary.version] = max(0.0, now - started)
        return draining


def _signal(stats: TaskQueueStats, pollers: int = -1) -> QueueSignal:
    return QueueSignal(
        backlog=int(stats.approximate_backlog_count),
        backlog_age_seconds=stats.approximate_backlog_age.ToTimedelta().total_seconds(),
        add_rate=float(stats.tasks_add_rate),
        dispatch_rate=float(stats.tasks_dispatch_rate),
        pollers=pollers,
    )
