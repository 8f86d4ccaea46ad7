"""Pipeline overhead: one trivia video through the service ÷ the same ffmpeg commands in a plain script.

    PYTHONPATH=. python -m bench.pipeline [--clips 10] [--size 1920x1080] [--repeat 5]

Four ways to make the same video, on one dev server with one control and one
render worker running as subprocesses; each repeat runs the like-for-like pair
(plain script, service one clip at a time) back to back, in alternating order:

- plain script: the service's own clip commands back to back, then its concat command;
- service, one clip at a time (`max_parallel_clips=1`): like for like with the plain script;
- service, default configuration (render slots = CPUs, `max_parallel_clips` 8);
- one monolithic ffmpeg: the same clip graphs merged into one process, what a user without the service would run.

Also printed: where the service's time went (from the workflow history), the
concat-and-upload share, and the memory of each worker process and its ffmpeg children.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.client import Client

from bench.anatomy import Step, join_anatomy
from bench.cluster import data_dir, dev_server, settings_for, workers
from bench.history import Timeline
from bench.jobs import parse_size, trivia_job
from bench.plain import BaselineResult, Toolkit, render_monolithic, render_plain
from bench.procstat import MemoryPeaks, Sampler, cpu_total, machine_busy_seconds, status_kib
from bench.report import machine, median, mib, progress, table, verdict, with_spread
from bench.service import ServiceRun, frames_in, render_with_service, start_service_workers, toolkit
from contracts import names
from contracts.job import parse_job
from contracts.plan import plan_video
from engine.storage import file_path
from runtime.process import exit_now

PLAIN, SERIAL, DEFAULT, MONO = "plain", "serial", "default", "monolithic"
LABELS = {
    PLAIN: "plain script (clips beside the sound, then mux)",
    SERIAL: "service, one clip at a time",
    DEFAULT: "service, default (parallel clips)",
    MONO: "one monolithic ffmpeg",
}
OVERHEAD_GOAL = 1.05
SHARE_GOAL = 0.02
MONOLITHIC_GOAL = 0.85


@dataclass
class Results:
    seconds: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in LABELS})
    cpu: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in LABELS})
    """CPU seconds of every process involved (bench, server, workers, all their children): steady under load."""
    others: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in LABELS})
    """Share of the machine's CPUs that other processes (not this benchmark's) used during each run."""
    service: dict[str, list[ServiceRun]] = field(default_factory=lambda: {SERIAL: [], DEFAULT: []})
    baseline: dict[str, list[BaselineResult]] = field(default_factory=lambda: {PLAIN: [], MONO: []})
    memory: dict[str, MemoryPeaks] = field(default_factory=dict)
    """Sampled peaks per process tree: control, render, bench (the baselines' children), server."""
    anatomy: list[Step] = field(default_factory=list)
    """concat_clips step by step, replayed once on the plain script's clips."""
    rss: dict[str, dict[str, int]] = field(default_factory=dict)
    """KiB read at given moments: idle (before any render), hwm (VmHWM at the end), after (idle at the end)."""

    def pairs(self, a: str, b: str, *, cpu: bool = False) -> list[float]:
        """`a` ÷ `b` within each repeat: the two ran back to back, so slow drift in load mostly cancels."""
        table = self.cpu if cpu else self.seconds
        return [x / y for x, y in zip(table[a], table[b], strict=True)]

    def ratio(self, a: str, b: str, *, cpu: bool = False) -> float:
        table = self.cpu if cpu else self.seconds
        return median(table[a]) / median(table[b])


@dataclass
class Bench:
    client: Client
    kit: Toolkit
    data: Path
    clips: int
    size: tuple[int, int]
    fps: int
    roots: dict[str, int]
    skip: list[int]

    def job(self, video_id: str, parallel: int, clips: int | None = None) -> dict[str, object]:
        return trivia_job(video_id, clips or self.clips, size=self.size, fps=self.fps, max_parallel_clips=parallel)

    async def run(self, config: str, video_id: str, results: Results, *, dissect: bool = False) -> None:
        """One measured run of `config`; its memory is sampled and its output checked for the planned frames.

        With `dissect`, a plain-script run is followed (outside the measured time) by the join's anatomy.
        """
        sampler = Sampler(self.roots, skip=self.skip)
        folder = self.data / "baseline" / video_id
        folder.mkdir(parents=True)
        cpu, busy = cpu_total(self.roots.values()), machine_busy_seconds()
        async with sampler:
            if config in (SERIAL, DEFAULT):
                run = await render_with_service(self.client, self.job(video_id, 1 if config == SERIAL else 8))
                results.service[config].append(run)
                seconds, output = run.seconds, file_path(run.result.output_uri)
            else:
                render = render_plain if config == PLAIN else render_monolithic
                base = await render(self.job(video_id, 1), self.kit, folder, folder / "video.mp4")
                results.baseline[config].append(base)
                seconds, output = base.seconds, base.output
        ours = cpu_total(self.roots.values()) - cpu
        theirs = max(0.0, machine_busy_seconds() - busy - ours)
        results.cpu[config].append(ours)
        results.others[config].append(theirs / (seconds * (os.cpu_count() or 1)))
        if config == PLAIN and dissect:
            results.anatomy = await join_anatomy(base.clips, base.track, folder / "anatomy")
        results.seconds[config].append(seconds)
        for name, peaks in sampler.peaks.items():
            results.memory.setdefault(name, MemoryPeaks()).merge(peaks)
        frames = await frames_in(output)
        expected = plan_video(parse_job(self.job(video_id, 1))).frames
        if frames != expected:
            raise RuntimeError(f"{config} made {frames} frames, the plan has {expected}")
        shutil.rmtree(folder)
        output.unlink(missing_ok=True)
        progress(f"{video_id}: {seconds:.2f} s")


async def measure(clips: int, size: tuple[int, int], fps: int, repeat: int) -> Results:
    results = Results()
    with data_dir() as data:
        async with dev_server() as (client, server_pid), workers(client, data) as group:
            control, render = await start_service_workers(group)
            await asyncio.sleep(1.0)
            pids = {"control": control.pid, "render": render.pid, "server": server_pid}
            results.rss["idle"] = {name: status_kib(pid, "VmRSS") for name, pid in pids.items()}
            settings = settings_for(data)
            kit, encoder = await toolkit(settings, parse_job(trivia_job("x", clips, size=size, fps=fps)).profile)
            roots = {"control": control.pid, "render": render.pid, "bench": os.getpid(), "server": server_pid}
            bench = Bench(client, kit, data, clips, size, fps, roots, [server_pid, control.pid, render.pid])
            progress(f"encoder {encoder}; warming up (worker imports, encoder probe, page cache)")
            warm = Bench(client, kit, data, 2, (320, 180), fps, roots, bench.skip)
            for config in LABELS:
                await warm.run(config, f"warm-up-{config}", Results())
            for r in range(repeat):
                # The like-for-like pair runs back to back, in alternating order, so that a
                # colleague's burst of load lands on both halves of a pair as often as not.
                order = [PLAIN, SERIAL, DEFAULT, MONO] if r % 2 == 0 else [SERIAL, PLAIN, MONO, DEFAULT]
                for config in order:
                    await bench.run(config, f"pipeline-{config}-{r}", results, dissect=r == 0)
            results.rss["hwm"] = {name: status_kib(pid, "VmHWM") for name, pid in pids.items()}
            results.rss["after"] = {name: status_kib(pid, "VmRSS") for name, pid in pids.items()}
    return results


def typical(runs: list[ServiceRun]) -> ServiceRun:
    """The run with the median wall time, so its breakdown adds up to a time actually printed."""
    return sorted(runs, key=lambda r: r.seconds)[len(runs) // 2]


def breakdown(results: Results) -> str:
    """Where the service's time went, next to what the plain script spent on the same step."""
    plain = sorted(results.baseline[PLAIN], key=lambda b: b.seconds)[len(results.baseline[PLAIN]) // 2]
    rows: list[list[object]] = []
    lines: dict[str, Timeline] = {c: typical(results.service[c]).timeline for c in (SERIAL, DEFAULT)}
    walls = {c: typical(results.service[c]).seconds for c in (SERIAL, DEFAULT)}

    def row(label: str, get: Callable[[Timeline], float], base: float | str = "") -> None:
        rows.append([label, *(get(lines[c]) for c in (SERIAL, DEFAULT)), base])

    rows.append(["submit → result (client)", walls[SERIAL], walls[DEFAULT], plain.seconds])
    row("workflow start → close", lambda t: t.total_s)
    row("check_job", lambda t: t.run_s(names.CHECK_JOB))
    row("render_clip, Σ running", lambda t: t.run_s(names.RENDER_CLIP), plain.seconds - plain.join_seconds)
    row("render_clip, Σ queued", lambda t: t.queued_s(names.RENDER_CLIP))
    row("concat_clips", lambda t: t.run_s(names.CONCAT_CLIPS), plain.join_seconds)
    row("upload_video", lambda t: t.run_s(names.UPLOAD_VIDEO))
    rows.append(["outside activities (serial only)", lines[SERIAL].total_s - _all_run(lines[SERIAL]), "", ""])
    header = ["seconds (median run)", "one at a time", "default", "plain script"]
    return table(rows, header)


def _all_run(line: Timeline) -> float:
    return sum(a.run_s for a in line.activities)


def shares(results: Results) -> tuple[str, float]:
    rows = []
    worst = 0.0
    for config in (SERIAL, DEFAULT):
        values = [r.timeline.share(names.CONCAT_CLIPS, names.UPLOAD_VIDEO) for r in results.service[config]]
        worst = max(worst, median(values))
        rows.append([LABELS[config], f"{median(values):.2%}", " ".join(f"{v:.2%}" for v in values)])
    return table(rows, ["concat + upload ÷ workflow time", "median", "runs"]), worst


def memory(results: Results) -> str:
    """Each worker's own memory and, apart, its children's; the baselines' ffmpeg children for comparison."""
    m, rss = results.memory, results.rss
    rows: list[list[object]] = []
    for name in ("control", "render", "server"):
        kids = ", ".join(f"{k} {mib(v)}" for k, v in sorted(m[name].child_rss.items())) or "-"
        rows.append(
            [
                "dev server" if name == "server" else f"{name} worker",
                mib(rss["idle"][name]),
                mib(m[name].own_rss),
                mib(rss["hwm"][name]),
                mib(rss["after"][name]),
                mib(m[name].children_rss),
                kids,
            ]
        )
    kids = ", ".join(f"{k} {mib(v)}" for k, v in sorted(m["bench"].child_rss.items()))
    rows.append(["baselines (their children)", "", "", "", "", mib(m["bench"].children_rss), kids])
    header = ["MiB", "idle", "peak sampled", "VmHWM", "idle after", "children Σ peak", "largest child by name"]
    return table(rows, header)


def print_report(results: Results, clips: int, size: tuple[int, int], fps: int, repeat: int) -> None:
    seconds = clips * 6
    print(f"pipeline: {clips} clips, {seconds} s of {size[0]}x{size[1]} at {fps} fps, {repeat} repeats")
    print(machine())
    print("workers: 1 control + 1 render worker, each `python -m workers` as a subprocess; dev server in-memory\n")
    rows = [
        [
            LABELS[k],
            median(v),
            " ".join(f"{x:.2f}" for x in v),
            median(results.cpu[k]),
            " ".join(f"{x:.0%}" for x in results.others[k]),
        ]
        for k, v in results.seconds.items()
    ]
    print(table(rows, ["wall seconds", "median", "runs", "CPU s (median)", "others' load"]) + "\n")
    overhead = median(results.pairs(SERIAL, PLAIN))
    mono = median(results.pairs(DEFAULT, MONO))
    ratios: list[list[object]] = [
        ["service one at a time ÷ plain script", *_spread(results, SERIAL, PLAIN), _goal(overhead, OVERHEAD_GOAL)],
        ["service default ÷ monolithic", *_spread(results, DEFAULT, MONO), _goal(mono, MONOLITHIC_GOAL)],
        ["service default ÷ plain script", *_spread(results, DEFAULT, PLAIN), ""],
        ["service one at a time ÷ monolithic", *_spread(results, SERIAL, MONO), ""],
        ["plain script ÷ monolithic", *_spread(results, PLAIN, MONO), ""],
        ["CPU: service one at a time ÷ plain script", *_spread(results, SERIAL, PLAIN, cpu=True), ""],
        ["CPU: service default ÷ plain script", *_spread(results, DEFAULT, PLAIN, cpu=True), ""],
        ["CPU: plain script ÷ monolithic", *_spread(results, PLAIN, MONO, cpu=True), ""],
    ]
    print(table(ratios, ["ratio, pair by pair", "median (IQR, pairs)", "ratio of medians", ""]) + "\n")
    print(table(core_hours(results), ["videos per CPU-core-hour", "median", "runs"]) + "\n")
    print(breakdown(results) + "\n")
    share_table, worst = shares(results)
    print(share_table)
    print(f"concat + upload share: {worst:.2%} at most ({verdict(worst, SHARE_GOAL, at_most=True)})\n")
    rows = [[what, wall, cpu] for what, wall, cpu in results.anatomy]
    print(table(rows, ["concat_clips step by step (plain script's clips)", "wall s", "CPU s"]) + "\n")
    print(memory(results) + "\n")
    print(f"service default ÷ monolithic = {mono:.3f} ({_goal(mono, MONOLITHIC_GOAL)})")
    print(f"headline: service ÷ plain script, one clip at a time = {overhead:.3f} ({_goal(overhead, OVERHEAD_GOAL)})")


def _spread(results: Results, a: str, b: str, *, cpu: bool = False) -> list[object]:
    return [with_spread(results.pairs(a, b, cpu=cpu)), results.ratio(a, b, cpu=cpu)]


def _goal(value: float, goal: float) -> str:
    return verdict(value, goal, at_most=True)


def core_hours(results: Results) -> list[list[object]]:
    """What a farm plans with: 3600 ÷ the CPU seconds one video costs, per way of making it."""
    return [
        [LABELS[k], 3600 / median(results.cpu[k]), " ".join(f"{3600 / c:.1f}" for c in results.cpu[k])] for k in LABELS
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.pipeline", description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=10, help="clips of 6 s each (default 10: one minute)")
    parser.add_argument("--size", type=parse_size, default=(1920, 1080), help="WIDTHxHEIGHT (default 1920x1080)")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=5, help="runs of each way, in rotating order (default 5)")
    args = parser.parse_args(argv)
    code = 0
    try:
        results = asyncio.run(measure(args.clips, args.size, args.fps, args.repeat))
        print_report(results, args.clips, args.size, args.fps, args.repeat)
    except Exception as err:
        print(f"pipeline benchmark failed: {err!r}", file=sys.stderr)
        code = 1
    exit_now(code)


if __name__ == "__main__":
    main()
