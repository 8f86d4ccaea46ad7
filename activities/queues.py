"""queue_has_workers: whether a worker of this build polls a task queue now, from the server's poller list.

A clip that waited past the queue wait limit is either behind a backlog (keep
waiting) or on a queue nobody serves (fail, naming it); only the server knows which.
A pinned video's clips go only to workers of its own build (runtime.versioning), so
pollers of other builds do not count: they would never take the clip.
"""

from __future__ import annotations

from temporalio import activity

from contracts import names
from runtime.queues import activity_pollers


class QueueActivities:
    def __init__(self, build_id: str | None = None) -> None:
        self.build_id = build_id
        """This worker's build: the build of every video whose activities it runs. None: any poller counts."""

    @activity.defn(name=names.QUEUE_HAS_WORKERS)
    async def queue_has_workers(self, queue: str) -> bool:
        pollers = await activity_pollers(activity.client(), queue)
        return any(self.build_id in (None, p.deployment_options.build_id) for p in pollers)
