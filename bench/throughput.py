"""Orchestration throughput: videos of 10 one-frame clips per second, many in flight, ÷ a bare workflow.

    PYTHONPATH=. python -m bench.throughput [--videos 60] [--in-flight 20] [--py-spy DIR]

One dev server; phases one after another, each with its own two worker
subprocesses (a control and a fan-out worker, the service's slot counts):

- bare: a workflow of RenderVideo's shape (1 activity, a fan-out of 10, then 2) whose activities return at once;
- stub: the real RenderVideo workflow with instant stub activities under the real names;
- service: the real workflow and the real activities (ffmpeg renders, probes, concat, publish);
- bare again, to show how far the server drifted over the run.

Each phase first runs one batch untimed (worker start-up, sandbox imports). The
CPU table says where the time goes: per video, each process's own CPU and that
of the children it started (ffmpeg, ffprobe).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.client import Client

from bench.bare import BARE_CONTROL_QUEUE, BARE_FANOUT_QUEUE, BARE_WORKFLOW
from bench.cluster import ACTIVITY_QUEUE, WORKFLOW_QUEUE, WorkerProcess, Workers, data_dir, dev_server, workers
from bench.flame import Recording, record, summarise
from bench.procstat import cpu_seconds, machine_busy_seconds
from bench.report import machine, progress, table, verdict
from bench.service import start_service_workers
from contracts import names
from runtime.process import exit_now
from starter import RenderClient

CLIPS = 10
ACTIVITIES_PER_VIDEO = 1 + CLIPS + 2
GOAL = 0.8
CLIP_CPU_GOAL_MS = 100
"""CPU a one-frame clip may cost beyond orchestration: the child processes' fixed start-up and teardown."""
LABELS = {
    "bare": "bare workflow, instant activities",
    "stub": "RenderVideo, instant stub activities",
    "service": "RenderVideo, real activities",
    "bare-again": "bare workflow again (drift check)",
}

Submit = Callable[[str], Awaitable[None]]


def one_frame_job(video_id: str) -> dict[str, Any]:
    """Ten cards of one frame each (0.1 s at 10 fps), 64x64, no narration: orchestration, not media."""
    return {
        "video_id": video_id,
        "profile": {"width": 64, "height": 64, "fps": 10},
        "clips": [{"kind": "card", "duration": 0.1, "lines": [str(i)]} for i in range(CLIPS)],
    }


def submitter(client: Client, flavour: str) -> Submit:
    if flavour.startswith("bare"):

        async def bare(video_id: str) -> None:
            handle = await client.start_workflow(BARE_WORKFLOW, CLIPS, id=video_id, task_queue=BARE_CONTROL_QUEUE)
            await handle.result()

        return bare
    renders = RenderClient(client)

    async def render(video_id: str) -> None:
        await renders.submit(one_frame_job(video_id))
        result = await renders.result(video_id)
        if result.clips != CLIPS:
            raise RuntimeError(f"{video_id} came back with {result.clips} clips")

    return render


async def drive(submit: Submit, prefix: str, videos: int, in_flight: int) -> float:
    """Seconds to finish `videos` videos with at most `in_flight` running at once."""
    slots = asyncio.Semaphore(in_flight)

    async def one(n: int) -> None:
        async with slots:
            await submit(f"{prefix}-{n:05d}")

    started = time.monotonic()
    await asyncio.gather(*(one(n) for n in range(videos)))
    return time.monotonic() - started


@dataclass
class Phase:
    flavour: str
    videos: int
    seconds: float
    cpu: dict[str, float] = field(default_factory=dict)
    """CPU seconds in the measured window by process: server, control, control children, fanout, …"""
    profiles: dict[str, Path] = field(default_factory=dict)
    others: float = 0.0
    """Share of the machine's CPUs that other processes used during the measured window."""

    @property
    def cpu_per_video(self) -> float:
        return sum(self.cpu.values()) / self.videos

    @property
    def per_second(self) -> float:
        return self.videos / self.seconds


async def start_workers(group: Workers, flavour: str) -> tuple[WorkerProcess, WorkerProcess]:
    if flavour == "service":
        return await start_service_workers(group)
    kind = flavour.removesuffix("-again")
    args = ["bench.fake_worker", "--flavour", kind, "--mode"]
    control_queue, fanout_queue = (
        (BARE_CONTROL_QUEUE, BARE_FANOUT_QUEUE) if kind == "bare" else (names.CONTROL_QUEUE, names.GPU_QUEUE)
    )
    control = await group.start(
        f"{flavour}-control", [*args, "control"], [(control_queue, WORKFLOW_QUEUE), (control_queue, ACTIVITY_QUEUE)]
    )
    fanout = await group.start(f"{flavour}-fanout", [*args, "gpu"], [(fanout_queue, ACTIVITY_QUEUE)])
    return control, fanout


def cpu_snapshot(pids: dict[str, int]) -> dict[str, float]:
    snapshot = {"bench (client)": cpu_seconds(os.getpid())[0], "dev server": cpu_seconds(pids["server"])[0]}
    for name in ("control", "fanout"):
        own, reaped = cpu_seconds(pids[name])
        snapshot[f"{name} worker"] = own
        snapshot[f"{name} worker's children"] = reaped
    return snapshot


async def run_phase(
    client: Client, group: Workers, server: int, flavour: str, videos: int, in_flight: int, spy: Path | None
) -> Phase:
    control, fanout = await start_workers(group, flavour)
    submit = submitter(client, flavour)
    await drive(submit, f"{flavour}-warm-up", in_flight, in_flight)
    pids = {"server": server, "control": control.pid, "fanout": fanout.pid}
    recordings: dict[str, Recording] = {}
    if spy is not None:
        recordings = {name: record(pids[name], spy / f"{flavour}-{name}.txt") for name in ("control", "fanout")}
    before, busy = cpu_snapshot(pids), machine_busy_seconds()
    seconds = await drive(submit, flavour, videos, in_flight)
    after, busy = cpu_snapshot(pids), machine_busy_seconds() - busy
    phase = Phase(flavour, videos, seconds, {k: after[k] - before[k] for k in before})
    phase.others = max(0.0, busy - sum(phase.cpu.values())) / (seconds * (os.cpu_count() or 1))
    phase.profiles = {name: rec.stop() for name, rec in recordings.items()}
    await group.stop(control)
    await group.stop(fanout)
    progress(f"{flavour}: {videos} videos in {seconds:.2f} s")
    return phase


async def measure(videos: int, in_flight: int, spy: Path | None) -> list[Phase]:
    phases = []
    with data_dir() as data:
        async with dev_server() as (client, server), workers(client, data) as group:
            for flavour in LABELS:
                phases.append(await run_phase(client, group, server, flavour, videos, in_flight, spy))
    return phases


def print_report(phases: list[Phase], videos: int, in_flight: int) -> None:
    by = {p.flavour: p for p in phases}
    bare = (by["bare"].per_second + by["bare-again"].per_second) / 2
    print(f"throughput: {videos} videos of {CLIPS} one-frame clips per phase, {in_flight} in flight")
    print(machine())
    print("workers: a control and a fan-out worker per phase, each its own subprocess; dev server in-memory\n")
    rows = [
        [
            LABELS[p.flavour],
            p.seconds,
            p.per_second,
            p.per_second * ACTIVITIES_PER_VIDEO,
            p.per_second / bare,
            f"{p.others:.0%}",
        ]
        for p in phases
    ]
    print(table(rows, ["phase", "seconds", "videos/s", "activities/s", "÷ bare (mean)", "others' load"]) + "\n")
    names_ = list(phases[0].cpu)
    cpu_rows = [[name, *(f"{1000 * p.cpu[name] / p.videos:.0f}" for p in phases)] for name in names_]
    cpu_rows.append(["total", *(f"{1000 * sum(p.cpu.values()) / p.videos:.0f}" for p in phases)])
    cpus = os.cpu_count() or 1
    cpu_rows.append(["wall per video × CPUs", *(f"{1000 * p.seconds * cpus / p.videos:.0f}" for p in phases)])
    print(table(cpu_rows, ["CPU ms per video", *(p.flavour for p in phases)]) + "\n")
    for phase in phases:
        for name, path in phase.profiles.items():
            if not path.exists():
                continue
            total, hot, packages = summarise(path.read_text(encoding="utf-8"))
            print(f"py-spy, {phase.flavour} phase, {name} worker: {total} samples on CPU ({path})")
            print(table([[f, f"{n / total:.1%}"] for f, n in hot], ["hottest functions (own samples)", ""]))
            print(table([[f, f"{n / total:.1%}"] for f, n in packages], ["packages on the stack", ""]) + "\n")
    stub, service = by["stub"].per_second / bare, by["service"].per_second / bare
    media_ms = 1000 * (by["service"].cpu_per_video - by["stub"].cpu_per_video) / CLIPS
    clip_goal = verdict(media_ms, CLIP_CPU_GOAL_MS, at_most=True)
    print(f"per-clip fixed CPU (real one-frame clips − stubs) = {media_ms:.0f} ms ({clip_goal})")
    print(f"RenderVideo with stub activities ÷ bare = {stub:.3f} ({verdict(stub, GOAL, at_most=False)})")
    print(f"headline: service ÷ bare workflow = {service:.3f} ({verdict(service, GOAL, at_most=False)})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.throughput", description=__doc__.split("\n")[0])
    parser.add_argument("--videos", type=int, default=60, help="timed videos per phase (default 60)")
    parser.add_argument("--in-flight", type=int, default=20, help="videos running at once (default 20)")
    parser.add_argument("--py-spy", type=Path, default=None, help="record both workers with py-spy into this folder")
    args = parser.parse_args(argv)
    if args.py_spy is not None:
        args.py_spy.mkdir(parents=True, exist_ok=True)
    code = 0
    try:
        phases = asyncio.run(measure(args.videos, args.in_flight, args.py_spy))
        print_report(phases, args.videos, args.in_flight)
    except Exception as err:
        print(f"throughput benchmark failed: {err!r}", file=sys.stderr)
        code = 1
    exit_now(code)


if __name__ == "__main__":
    main()
