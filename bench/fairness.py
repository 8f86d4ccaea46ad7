"""Fairness between channels: how long one channel's video waits behind another channel's backlog.

    PYTHONPATH=. python -m bench.fairness [--backlog-videos 12] [--clips 8]

Two dev servers, one after the other, each with its own control worker and one
render worker with a single render slot: the same farm, once with the matching
service's fairness on (`matching.enableFairness`) and once without. On each,
channel A submits a backlog of cheap videos (one-frame clips at 64x64); once A's
clips wait in the render queue, channel B submits one video. The figure is B's
wait from its start to its first clip starting (server timestamps, from B's
history), with fairness on ÷ with fairness off: far below 1 means B no longer
queues behind A's whole backlog. Beside B, channel C submits one video with
priority 1 at the same moment: its wait shows priority keys at work on both farms.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass
from typing import Any

from temporalio.api.enums.v1 import EventType, TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowHistory

from bench.cluster import data_dir, dev_server, workers
from bench.report import machine, progress, table, verdict
from bench.service import start_service_workers
from contracts import names
from devtools.devserver import FAIR_MATCHING, dynamic_config_args
from runtime.process import exit_now
from starter import RenderClient

GOAL = 0.25
"""B with fairness waits at most a quarter of what it waits behind A's whole backlog."""
FIFO_MATCHING = {k: v for k, v in FAIR_MATCHING.items() if k != "matching.enableFairness"}
"""The same single partition, fairness left off: the only difference between the two farms."""


def tiny_job(video_id: str, channel: str, clips: int) -> dict[str, Any]:
    """`clips` one-frame cards at 64x64: each render is a short ffmpeg run, so the queue, not media, is timed."""
    return {
        "video_id": video_id,
        "channel": channel,
        "profile": {"width": 64, "height": 64, "fps": 10},
        "max_parallel_clips": clips,
        "clips": [{"kind": "card", "duration": 0.1, "lines": [f"{channel} {i}"]} for i in range(clips)],
    }


def render_starts(history: WorkflowHistory) -> list[float]:
    """When each clip render of this history started (its attempt that completed), epoch seconds."""
    scheduled = {
        e.event_id
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == names.RENDER_CLIP
    }
    return [
        e.event_time.ToMilliseconds() / 1000
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        and e.activity_task_started_event_attributes.scheduled_event_id in scheduled
    ]


def first_render_wait(history: WorkflowHistory) -> float:
    """Seconds from the workflow's start to its first clip render starting, by the server's clock."""
    started = render_starts(history)
    if not started:
        raise ValueError("no clip render started in this history")
    return min(started) - history.events[0].event_time.ToMilliseconds() / 1000


@dataclass(frozen=True)
class Phase:
    name: str
    b_wait: float
    """B's start → its first clip started, seconds."""
    backlog_at_b: int
    """Render tasks waiting when B was submitted (approximate, from DescribeTaskQueue)."""
    a_clips_before_b: int
    """A's clip renders that started before B's first one."""
    c_wait: float
    """The same wait for C, submitted beside B with priority 1."""


async def render_backlog(client: Client) -> int:
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=names.GPU_QUEUE, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
            report_stats=True,
        )
    )
    return int(response.stats.approximate_backlog_count)


async def run_phase(name: str, matching: dict[str, str], videos: int, clips: int) -> Phase:
    with data_dir() as data:
        async with dev_server(dynamic_config_args(matching)) as (client, _), workers(client, data) as group:
            await start_service_workers(group, render_slots=1)
            renders = RenderClient(client)
            progress(f"{name}: channel A submits {videos} videos of {clips} clips")
            a_ids = [f"a-{i:03d}" for i in range(videos)]
            for video_id in a_ids:
                await renders.submit(tiny_job(video_id, "channel-a", clips))
            wanted = videos * clips // 2  # most of A's clips queued: B arrives behind a real backlog
            deadline = time.monotonic() + 120
            while (backlog := await render_backlog(client)) < wanted and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            progress(f"{name}: channel B submits one video behind a backlog of {backlog} renders")
            await renders.submit(tiny_job("b-000", "channel-b", 1))
            await renders.submit({**tiny_job("c-000", "channel-c", 1), "priority": 1})
            await renders.result("b-000")
            await renders.result("c-000")
            c_wait = first_render_wait(await client.get_workflow_handle("c-000").fetch_history())
            history = await client.get_workflow_handle("b-000").fetch_history()
            b_wait = first_render_wait(history)
            b_first = history.events[0].event_time.ToMilliseconds() / 1000 + b_wait
            before = 0
            for video_id in a_ids:
                a_history = await client.get_workflow_handle(video_id).fetch_history()
                before += sum(1 for t in render_starts(a_history) if t < b_first)
            for video_id in a_ids:
                await renders.cancel(video_id)
            return Phase(name, b_wait, backlog, before, c_wait)


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.fairness", description=__doc__)
    parser.add_argument("--backlog-videos", type=int, default=12, help="channel A's videos (default 12)")
    parser.add_argument("--clips", type=int, default=8, help="clips per A video, all queued at once (default 8)")
    args = parser.parse_args(argv)
    print(machine())
    fifo = await run_phase("fairness off", FIFO_MATCHING, args.backlog_videos, args.clips)
    fair = await run_phase("fairness on", FAIR_MATCHING, args.backlog_videos, args.clips)
    print(
        table(
            [[p.name, p.backlog_at_b, p.a_clips_before_b, f"{p.b_wait:.2f}", f"{p.c_wait:.2f}"] for p in (fifo, fair)],
            ["dev server", "render backlog at B", "A clips started before B", "B wait (s)", "C wait, priority 1 (s)"],
        )
    )
    print(f"priority 1 ÷ default priority behind the same backlog, fairness off: {fifo.c_wait / fifo.b_wait:.3f}")
    ratio = fair.b_wait / fifo.b_wait if fifo.b_wait > 0 else float("nan")
    print(
        f"headline: channel B's time to its first clip behind channel A's backlog, fairness on ÷ off = "
        f"{ratio:.3f} ({fair.b_wait:.2f} s ÷ {fifo.b_wait:.2f} s); {verdict(ratio, GOAL, at_most=True)}"
    )
    return 0


if __name__ == "__main__":
    exit_now(asyncio.run(main()))
