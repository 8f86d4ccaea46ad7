"""Resume benchmark: what a worker loss costs, measured against an uninterrupted render in the same run.

One clip is rendered three times on a local cluster (dev server + worker processes):
uninterrupted; with its worker SIGKILLed at a random point (found dead by the heartbeat
timeout); and with its worker SIGTERMed at a random point (drained and handed over).
Printed: seconds of video rendered twice, recovery delay (signal → work resumed on the
other worker) and total time ÷ the uninterrupted render.

Then late kills: a long clip (many segments) rendered uninterrupted, then SIGKILLed once
10 % and once 90 % of its segments are stored. The retry checks every stored segment
before it renders again, so this shows whether recovery grows with the work done.
Recovery here runs from the signal to the first segment the retry stores (the heartbeat
timeout, the retry's checks of what is stored, one segment's render); the 90 % figures
should match the 10 % ones.

    .venv/bin/python bench/resume.py [--seconds 30] [--size 1280x720] [--heartbeat 10] [--seed N]
                                     [--long-seconds 120] [--long-size 640x360]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import signal
import sys
import tempfile
import time
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from temporalio.client import Client

from contracts import names
from contracts.records import VideoResult
from devtools.local import LocalCluster
from devtools.testing import clips_of
from runtime.process import exit_now
from starter import RenderClient

FPS = 30
SEGMENT_FRAMES = 60


@dataclass
class Run:
    total_s: float
    signal_at_s: float = 0.0
    recovery_s: float = 0.0
    wasted_s: float = 0.0
    reused_frames: int = 0


def job(video_id: str, seconds: int, size: str) -> dict[str, object]:
    width, height = (int(v) for v in size.split("x"))
    return {
        "video_id": video_id,
        "profile": {"width": width, "height": height, "fps": FPS},
        "clips": [{"kind": "recipe", "recipe": "testsrc", "duration": seconds}],
    }


async def second_attempt_started(client: Client, video_id: str) -> None:
    """Wait until the clip's retry is running on a worker."""
    await retry_started_at(client, video_id)


async def render(
    cluster: LocalCluster,
    renders: RenderClient,
    spec: dict[str, object],
    interrupt: signal.Signals | None = None,
    at_s: float = 0.0,
    encode_fps: float = 0.0,
) -> tuple[Run, VideoResult]:
    video_id = str(spec["video_id"])
    started, started_wall = time.monotonic(), time.time()
    await renders.submit(spec)
    if interrupt is None:
        result = await renders.result(video_id)
        return Run(total_s=time.monotonic() - started), result
    victim = cluster.workers[-1]
    cluster.start_worker("gpu")  # a standby already polling, as other workers would be
    await asyncio.sleep(at_s)
    last_stored = max((p.stat().st_mtime for p in cluster.segments(video_id)), default=started_wall)
    signalled, signalled_wall = time.monotonic(), time.time()
    victim.send_signal(interrupt)
    await second_attempt_started(renders.client, video_id)
    resumed = time.monotonic()
    result = await renders.result(video_id)
    # A kill loses the frames encoded since the last stored segment; a drain finishes
    # the segment in progress and loses none.
    lost_frames = 0.0 if interrupt == signal.SIGTERM else (signalled_wall - last_stored) * encode_fps
    run = Run(
        time.monotonic() - started, at_s, resumed - signalled, lost_frames / FPS, clips_of(result)[0].reused_frames
    )
    return run, result


@dataclass
class LateKill:
    fraction: float
    stored: int
    """Segments stored (with their records) when the worker was killed."""
    wasted_s: float
    reused_s: float
    recovery_s: float
    """Signal → the retry's first stored segment: the sum of the three phases below."""
    detect_s: float
    """Signal → the retry started (the heartbeat timeout, then the retry's backoff)."""
    verify_s: float
    """Retry started → stored segments checked ("resuming clip" in the worker's log)."""
    first_segment_s: float
    """Checked → the retry's first segment stored (audio track, ffmpeg start, one segment)."""
    total_s: float


def records(cluster: LocalCluster, video_id: str) -> list[Path]:
    """Integrity records of the stored segments; each is written after its segment."""
    return sorted((cluster.data / "work" / video_id / "segments").glob("*/*.json"))


def newest(paths: list[Path]) -> float:
    """The latest modification time among `paths` (files may be replaced or removed meanwhile)."""
    times = [0.0]
    for path in paths:
        with suppress(FileNotFoundError):
            times.append(path.stat().st_mtime)
    return max(times)


async def retry_started_at(client: Client, video_id: str) -> float:
    """Wall time the clip's retry started on a worker, as the server recorded it."""
    handle = client.get_workflow_handle(video_id)
    while True:
        desc = await handle.describe()
        for pending in desc.raw_description.pending_activities:
            if pending.activity_type.name == names.RENDER_CLIP and pending.attempt >= 2 and pending.state == 2:
                return pending.last_started_time.ToDatetime(tzinfo=UTC).timestamp()
        await asyncio.sleep(0.05)


def resumed_at(cluster: LocalCluster, video_id: str) -> float:
    """Wall time the retry finished checking the stored segments, from the render workers' logs."""
    for log in cluster.data.glob("worker-gpu-*.log"):
        for line in log.read_text(errors="replace").splitlines():
            if '"resuming clip"' in line and video_id in line:
                entry = json.loads(line)
                if entry.get("workflow_id") == video_id and entry.get("attempt", 1) >= 2:
                    return datetime.fromisoformat(entry["timestamp"]).timestamp()
    raise LookupError(f"no 'resuming clip' line for {video_id}")


async def late_kill(
    cluster: LocalCluster, renders: RenderClient, video_id: str, args: argparse.Namespace, fraction: float, fps: float
) -> LateKill:
    """SIGKILL the clip's worker once `fraction` of its segments are stored; time until the retry stores one."""
    count = math.ceil(args.long_seconds * FPS / SEGMENT_FRAMES)
    started = time.monotonic()
    await renders.submit(job(video_id, args.long_seconds, args.long_size))
    victim = cluster.workers[-1]
    cluster.start_worker("gpu")  # a standby already polling
    while len(records(cluster, video_id)) < max(1, round(fraction * count)):
        await asyncio.sleep(0.02)
    stored = records(cluster, video_id)
    last_stored = newest(cluster.segments(video_id))
    signalled_wall = time.time()
    victim.send_signal(signal.SIGKILL)
    retry_started = await retry_started_at(renders.client, video_id)
    while (first_new := newest(cluster.segments(video_id))) <= signalled_wall:
        await asyncio.sleep(0.02)
    result = await renders.result(video_id)
    resumed = resumed_at(cluster, video_id)
    reused = clips_of(result)[0].reused_frames
    # Frames encoded since the last stored segment, and stored segments the retry did not reuse.
    lost = (signalled_wall - last_stored) * fps + max(0, len(stored) * SEGMENT_FRAMES - reused)
    return LateKill(
        fraction,
        len(stored),
        wasted_s=lost / FPS,
        reused_s=reused / FPS,
        recovery_s=first_new - signalled_wall,
        detect_s=retry_started - signalled_wall,
        verify_s=resumed - retry_started,
        first_segment_s=first_new - resumed,
        total_s=time.monotonic() - started,
    )


async def late_kills(
    cluster: LocalCluster, renders: RenderClient, args: argparse.Namespace
) -> tuple[LateKill, LateKill]:
    base, reference = await render(cluster, renders, job("resume-late-base", args.long_seconds, args.long_size))
    encode_fps = reference.frames / clips_of(reference)[0].render_seconds
    count = math.ceil(args.long_seconds * FPS / SEGMENT_FRAMES)
    print(
        f"late kills: {args.long_seconds} s clip at {args.long_size} ({count} segments), "
        f"uninterrupted {base.total_s:.2f} s ({encode_fps:.0f} fps)"
    )
    runs = []
    for fraction in (0.1, 0.9):
        run = await late_kill(cluster, renders, f"resume-late-{round(fraction * 100)}", args, fraction, encode_fps)
        runs.append(run)
        print(
            f"SIGKILL at {run.fraction:4.0%} ({run.stored:3d}/{count} segments stored): "
            f"re-rendered {run.wasted_s:4.2f} s of video, reused {run.reused_s:6.2f} s, "
            f"recovery {run.recovery_s:5.2f} s = found dead {run.detect_s:5.2f} s + checks {run.verify_s:4.2f} s "
            f"+ first segment {run.first_segment_s:4.2f} s, total ÷ uninterrupted {run.total_s / base.total_s:4.2f}"
        )
    early, late = runs
    return early, late


async def main(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="bench-resume-") as tmp:
        cluster = LocalCluster(
            Path(tmp),
            env={"RENDER_ENCODER": "libx264", "RENDER_FFMPEG_THREADS": "1", "RENDER_TTS": "none",
                 "RENDER_SLOTS": "1", "RENDER_HEARTBEAT_SECONDS": str(args.heartbeat), "RENDER_DRAIN_SECONDS": "60"},
        )  # fmt: skip
        cluster.start_server()
        try:
            cluster.start_worker("control")
            cluster.start_worker("gpu")
            renders = RenderClient(await Client.connect(cluster.address))
            base, reference = await render(cluster, renders, job("resume-base", args.seconds, args.size))
            encode_fps = reference.frames / clips_of(reference)[0].render_seconds
            print(
                f"uninterrupted render of {args.seconds} s at {args.size}: {base.total_s:.2f} s ({encode_fps:.0f} fps)"
            )
            results = {}
            for sig in (signal.SIGKILL, signal.SIGTERM):
                at = rng.uniform(0.2, 0.8) * base.total_s
                spec = job(f"resume-{sig.name.lower()}", args.seconds, args.size)
                run, _ = await render(cluster, renders, spec, sig, at, encode_fps)
                results[sig] = run
                print(
                    f"{sig.name} at {run.signal_at_s:5.2f} s: re-rendered {run.wasted_s:4.2f} s of video "
                    f"(segment {SEGMENT_FRAMES / FPS:g} s), reused {run.reused_frames / FPS:5.2f} s, "
                    f"recovery {run.recovery_s:5.2f} s (goal ≤ heartbeat {args.heartbeat} s + 5 s), "
                    f"total ÷ uninterrupted {run.total_s / base.total_s:4.2f}"
                )
            early, late = await late_kills(cluster, renders, args)
        finally:
            cluster.stop()
    kill = results[signal.SIGKILL]
    waste_ok = all(r.wasted_s <= SEGMENT_FRAMES / FPS for r in results.values())
    recovery_ok = kill.recovery_s <= args.heartbeat + 5
    print(
        f"headline: waste ≤ 1 segment: {'yes' if waste_ok else 'NO'}; SIGKILL recovery "
        f"{kill.recovery_s / (args.heartbeat + 5):.2f} × goal; SIGTERM recovery "
        f"{results[signal.SIGTERM].recovery_s:.2f} s; SIGKILL total ÷ uninterrupted {kill.total_s / base.total_s:.2f}"
        + ("" if recovery_ok else " (recovery goal missed)")
    )
    print(
        f"headline (late kills): recovery at 90 % ÷ at 10 %: {late.recovery_s / early.recovery_s:.2f} "
        f"({late.recovery_s:.2f} s ÷ {early.recovery_s:.2f} s), checks of stored segments {late.verify_s:.2f} s "
        f"÷ {early.verify_s:.2f} s; re-rendered {late.wasted_s:.2f} s at 90 %, {early.wasted_s:.2f} s at 10 % "
        f"(segment {SEGMENT_FRAMES / FPS:g} s)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=30, help="clip length")
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--heartbeat", type=int, default=10, help="render heartbeat timeout, seconds")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--long-seconds", type=int, default=120, help="clip length for the late kills")
    parser.add_argument("--long-size", default="640x360", help="frame size for the late kills")
    asyncio.run(main(parser.parse_args()))
    exit_now(0)
