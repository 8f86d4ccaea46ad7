"""Who polls a task queue now: the server's poller list, asked the same way by the CLI and the workflow's activity."""

from __future__ import annotations

from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import PollerInfo, TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client


async def activity_pollers(client: Client, queue: str) -> list[PollerInfo]:
    """Workers polling `queue` for activities, as the server last saw them (it forgets them after a few minutes)."""
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        ),
        # A busy server may answer "operation was canceled" or be unavailable for a moment: asked again.
        retry=True,
    )
    return list(response.pollers)
