"""A render-like workload for autoscaler tests: one workflow, one activity on a queue of the test's choosing.

Kept apart from devtools.testing (which re-exports it) so the workflow sandbox imports nothing but Temporal.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow


@dataclass(frozen=True)
class ProbeInput:
    task_queue: str
    """Activity queue, unique per test: the session's real workers poll render-gpu."""
    seconds: float


@activity.defn(name="render_like")
async def render_like(seconds: float) -> None:
    await asyncio.sleep(seconds)


@workflow.defn(name="ScaleProbe")
class ScaleProbe:
    @workflow.run
    async def run(self, probe: ProbeInput) -> None:
        await workflow.execute_activity(
            render_like,
            probe.seconds,
            task_queue=probe.task_queue,
            # Long enough to wait in the backlog while no worker polls.
            schedule_to_close_timeout=timedelta(minutes=5),
        )
