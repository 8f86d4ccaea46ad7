"""The baseline for orchestration throughput: a bare workflow of RenderVideo's shape.

One activity on the control queue, a fan-out of `clips` activities on a second
queue, then two more on the control queue, each returning at once: what any
Temporal workflow of this shape costs on the same server, with nothing of ours in it.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import activity, workflow

BARE_WORKFLOW = "BareVideo"
BARE_CONTROL_QUEUE = "bench-bare-control"
BARE_FANOUT_QUEUE = "bench-bare-fanout"
TIMEOUT = timedelta(seconds=60)


@activity.defn(name="bare_step")
async def bare_step(step: str) -> str:
    return step


@activity.defn(name="bare_clip")
async def bare_clip(index: int) -> int:
    return index


@workflow.defn(name=BARE_WORKFLOW)
class BareVideo:
    @workflow.run
    async def run(self, clips: int) -> int:
        await workflow.execute_activity(
            bare_step, "check", task_queue=BARE_CONTROL_QUEUE, start_to_close_timeout=TIMEOUT
        )
        done = await asyncio.gather(
            *(
                workflow.execute_activity(bare_clip, i, task_queue=BARE_FANOUT_QUEUE, start_to_close_timeout=TIMEOUT)
                for i in range(clips)
            )
        )
        for step in ("concat", "upload"):
            await workflow.execute_activity(
                bare_step, step, task_queue=BARE_CONTROL_QUEUE, start_to_close_timeout=TIMEOUT
            )
        return len(done)
