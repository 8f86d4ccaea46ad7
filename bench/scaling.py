"""Scaling with work: the pipeline benchmark at 5, 10 and 20 clips; time per clip should stay flat.

    PYTHONPATH=. python -m bench.scaling [--counts 5,10,20] [--size 640x360] [--repeat 2]
    PYTHONPATH=. python -m bench.scaling --history [--counts 20,100,500,2000]

With --history: what one video's history costs as the job grows (bench/history_scaling.py).

Same setup as `bench.pipeline` (one dev server, a control and a render worker as
subprocesses), at a smaller picture so the whole sweep takes minutes. For each
clip count: the plain script, the service one clip at a time, and the service's
default configuration, in rotating order; then seconds per clip for each.
With an odd count the video ends on a card, which renders faster than the
question and reveal clips around it: the 5-clip video is slightly cheaper per clip.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from bench.cluster import data_dir, dev_server, settings_for, workers
from bench.history_scaling import Row, measure_history, print_history
from bench.jobs import parse_size, trivia_job
from bench.pipeline import DEFAULT, LABELS, PLAIN, SERIAL, Bench, Results
from bench.report import machine, median, progress, table
from bench.service import start_service_workers, toolkit
from contracts import names
from contracts.job import parse_job
from runtime.process import exit_now

CONFIGS = (PLAIN, SERIAL, DEFAULT)
JOIN = (names.CONCAT_CLIPS, names.UPLOAD_VIDEO)


async def measure(counts: list[int], size: tuple[int, int], fps: int, repeat: int) -> dict[int, Results]:
    results = {n: Results() for n in counts}
    with data_dir() as data:
        async with dev_server() as (client, server), workers(client, data) as group:
            control, render = await start_service_workers(group)
            profile = parse_job(trivia_job("x", 1, size=size, fps=fps)).profile
            kit, encoder = await toolkit(settings_for(data), profile)
            roots = {"control": control.pid, "render": render.pid, "bench": os.getpid(), "server": server}
            skip = [server, control.pid, render.pid]
            progress(f"encoder {encoder}; warming up")
            warm = Bench(client, kit, data, 2, (320, 180), fps, roots, skip)
            for config in CONFIGS:
                await warm.run(config, f"warm-up-{config}", Results())
            for r in range(repeat):
                for n in counts:
                    bench = Bench(client, kit, data, n, size, fps, roots, skip)
                    for config in CONFIGS[r % 3 :] + CONFIGS[: r % 3]:
                        await bench.run(config, f"scaling-{n}-{config}-{r}", results[n])
    return results


async def history(counts: list[int]) -> list[Row]:
    with data_dir() as data:
        async with dev_server() as (client, _), workers(client, data) as group:
            return await measure_history(client, group, counts)


def print_report(results: dict[int, Results], size: tuple[int, int], fps: int, repeat: int) -> None:
    counts = sorted(results)
    print(f"scaling: {', '.join(map(str, counts))} clips of 6 s, {size[0]}x{size[1]} at {fps} fps, {repeat} repeats")
    print(machine())
    print("workers: 1 control + 1 render worker, each `python -m workers` as a subprocess; dev server in-memory\n")
    per_clip = {(n, c): median(results[n].seconds[c]) / n for n in counts for c in CONFIGS}
    rows: list[list[object]] = [[LABELS[c], *(per_clip[n, c] for n in counts)] for c in CONFIGS]
    rows.append(["service one at a time ÷ plain script", *(results[n].ratio(SERIAL, PLAIN) for n in counts)])
    rows.append(["service default ÷ plain script", *(results[n].ratio(DEFAULT, PLAIN) for n in counts)])
    print(table(rows, ["seconds per clip (median)", *(f"{n} clips" for n in counts)]) + "\n")

    def steps(config: str) -> list[list[object]]:
        out: list[list[object]] = []
        for label, kinds in (("render_clip running", (names.RENDER_CLIP,)), ("concat + upload", JOIN)):
            cells = [median([r.timeline.run_s(*kinds) for r in results[n].service[config]]) / n for n in counts]
            out.append([f"{LABELS[config]}: {label}", *cells])
        return out

    print(table(steps(SERIAL) + steps(DEFAULT), ["per clip, from the history", *map(str, counts)]) + "\n")
    loads = [x for n in counts for c in CONFIGS for x in results[n].others[c]]
    print(f"others' load during the runs: median {median(loads):.0%}, highest {max(loads):.0%}\n")
    first, last = counts[0], counts[-1]
    # An odd count ends on a card, cheaper than a question or reveal: compare even counts for the trend alone.
    pairs = [(first, last)] + ([(counts[-2], last)] if len(counts) > 2 else [])
    for config in CONFIGS:
        ratios = ", ".join(f"{per_clip[b, config] / per_clip[a, config]:.3f} ({b} ÷ {a})" for a, b in pairs)
        print(f"{LABELS[config]}: seconds per clip {ratios}")
    growth = per_clip[last, SERIAL] / per_clip[first, SERIAL]
    print(f"headline: service one at a time, seconds per clip at {last} ÷ at {first} clips = {growth:.3f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.scaling", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--counts", help="clip counts, comma-separated (default 5,10,20; 20,100,500,2000 with --history)"
    )
    parser.add_argument("--history", action="store_true", help="history size and replay cost per clip instead")
    parser.add_argument("--size", type=parse_size, default=(640, 360), help="WIDTHxHEIGHT (default 640x360)")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each way and count (default 2)")
    args = parser.parse_args(argv)
    counts = [int(n) for n in (args.counts or ("20,100,500,2000" if args.history else "5,10,20")).split(",")]
    code = 0
    try:
        if args.history:
            print_history(asyncio.run(history(counts)))
            exit_now(0)
        results = asyncio.run(measure(counts, args.size, args.fps, args.repeat))
        print_report(results, args.size, args.fps, args.repeat)
    except Exception as err:
        print(f"scaling benchmark failed: {err!r}", file=sys.stderr)
        code = 1
    exit_now(code)


if __name__ == "__main__":
    main()
