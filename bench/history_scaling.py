"""What one video's history costs as the job grows: events, bytes and control CPU per clip, and replay CPU.

    PYTHONPATH=. python -m bench.scaling --history [--counts 20,100,500,2000]

The real workflow and validation with instant stub activities (`bench.fake_worker --flavour stub`), so the
figures are orchestration alone: what the Temporal side of a video costs, whatever its clips render.
Goals, as ratios in one run: history bytes a clip at the largest count ÷ at the smallest ≤ 1.1; the largest
payload at the largest count ÷ at the smallest ≤ 1.5; replaying the largest history stays far under the
SDK's 2 s deadlock budget for any one workflow task (the whole replay's CPU is shown, an upper bound).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from temporalio.client import Client
from temporalio.worker import Replayer

from bench.cluster import Workers
from bench.procstat import cpu_seconds
from bench.report import progress, table
from bench.throughput import start_workers
from starter.client import RenderClient
from workflows import RenderVideo

PAYLOAD_FIELDS = (
    ("activity_task_scheduled_event_attributes", "input"),
    ("activity_task_completed_event_attributes", "result"),
    ("workflow_execution_completed_event_attributes", "result"),
)
"""What the workflow and its activities write. The workflow's input, the job itself, is the caller's: it is
shown on its own (bounded by MAX_JOB_BYTES)."""


def cards_job(video_id: str, clips: int) -> dict[str, Any]:
    cards = [{"kind": "card", "lines": [f"Card {n}"], "duration": 0.1} for n in range(clips)]
    return {"video_id": video_id, "profile": {"width": 128, "height": 72, "fps": 30}, "clips": cards}


@dataclass
class Row:
    clips: int
    events: int
    history_bytes: int
    largest_payload: int
    largest_where: str
    job_bytes: int
    control_cpu: float
    replay_cpu: float
    seconds: float


def payloads(event: Any) -> list[tuple[str, int]]:
    found = []
    for name, field in PAYLOAD_FIELDS:
        if event.HasField(name):
            found += [(name.split("_event_")[0], p.ByteSize()) for p in getattr(getattr(event, name), field).payloads]
    if event.HasField("marker_recorded_event_attributes"):
        details = event.marker_recorded_event_attributes.details
        found += [("local activity", p.ByteSize()) for d in details.values() for p in d.payloads]
    return found


async def one_video(client: Client, control_pid: int, clips: int) -> Row:
    video_id = f"history-{clips}-{time.monotonic_ns()}"
    renders = RenderClient(client)
    before = cpu_seconds(control_pid)[0]
    started = time.monotonic()
    await renders.submit(cards_job(video_id, clips))
    await renders.result(video_id)
    seconds = time.monotonic() - started
    control = cpu_seconds(control_pid)[0] - before
    history = await client.get_workflow_handle(video_id).fetch_history()
    sizes = [(where, size) for e in history.events for where, size in payloads(e)]
    largest = max(sizes, key=lambda pair: pair[1])
    replay_started = time.process_time()
    await Replayer(workflows=[RenderVideo]).replay_workflow(history)
    replay = time.process_time() - replay_started
    total = sum(e.ByteSize() for e in history.events)
    job = history.events[0].workflow_execution_started_event_attributes.input.payloads[0].ByteSize()
    return Row(clips, len(history.events), total, largest[1], largest[0], job, control, replay, seconds)


async def measure_history(client: Client, group: Workers, counts: list[int]) -> list[Row]:
    control, _ = await start_workers(group, "stub")
    await one_video(client, control.pid, 2)  # warm-up
    rows = []
    for clips in counts:
        rows.append(await one_video(client, control.pid, clips))
        progress(f"{clips} clips: {rows[-1].events} events in {rows[-1].seconds:.1f} s")
    return rows


def print_history(rows: list[Row]) -> None:
    header = ["clips", "events a clip", "history bytes a clip", "largest payload (B)", "largest is",
              "the job (B)", "control CPU a clip (ms)", "replay CPU (s)"]  # fmt: skip
    cells: list[list[object]] = [
        [r.clips, r.events / r.clips, r.history_bytes / r.clips, r.largest_payload, r.largest_where,
         r.job_bytes, 1000 * r.control_cpu / r.clips, r.replay_cpu]
        for r in rows
    ]  # fmt: skip
    print(table(cells, header) + "\n")
    first, last = rows[0], rows[-1]
    per_clip = (last.history_bytes / last.clips) / (first.history_bytes / first.clips)
    print(f"history bytes a clip at {last.clips} ÷ at {first.clips}: {per_clip:.3f} (goal ≤ 1.1)")
    growth = last.largest_payload / first.largest_payload
    print(f"largest payload at {last.clips} ÷ at {first.clips}: {growth:.3f} (goal ≤ 1.5)")
    replay = f"{last.replay_cpu:.2f} s of CPU in all, no task past the SDK's 2 s deadlock budget"
    print(f"replay of the {last.clips}-clip history: {replay} (a task decodes at most one page of clips)")
