"""queue_has_workers: whether any worker polls a task queue now, from the server's poller list.

A clip that waited past the queue wait limit is either behind a backlog (keep
waiting) or on a queue nobody serves (fail, naming it); only the server knows which.
"""

from __future__ import annotations

from temporalio import activity

from contracts import names
from runtime.queues import activity_pollers


@activity.defn(name=names.QUEUE_HAS_WORKERS)
async def queue_has_workers(queue: str) -> bool:
    return len(await activity_pollers(activity.client(), queue)) > 0
