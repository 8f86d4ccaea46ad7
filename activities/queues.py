"""queue_has_workers: whether any worker polls a task queue now, from the server's poller list.

A clip that waited past the queue wait limit is either behind a backlog (keep
waiting) or on a queue nobody serves (fail, naming it); only the server knows which.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

from contracts import names


@activity.defn(name=names.QUEUE_HAS_WORKERS)
async def queue_has_workers(queue: str) -> bool:
    client = activity.client()
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        )
    )
    return len(response.pollers) > 0
