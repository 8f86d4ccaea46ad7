"""Resume benchmark: what a worker loss costs, measured against an uninterrupted render in the same run.

One long clip is rendered three times on a local cluster (dev server + worker processes):
uninterrupted; with its worker SIGKILLed at a random point (found dead by the heartbeat
timeout); and with its worker SIGTERMed at a random point (drained and handed over).
Printed: seconds of video rendered twice, recovery delay (signal → work resumed on the
other worker) and total time ÷ the uninterrupted render.

    .venv/bin/python bench/resume.py [--seconds 30] [--size 1280x720] [--heartbeat 10] [--seed N]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from temporalio.client import Client

from contracts import names
from contracts.records import VideoResult
from starter import RenderClient
from workers.local import LocalCluster
from workers.main import exit_now

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
    handle = client.get_workflow_handle(video_id)
    while True:
        desc = await handle.describe()
        for pending in desc.raw_description.pending_activities:
            if pending.activity_type.name == names.RENDER_CLIP and pending.attempt >= 2 and pending.state == 2:
                return  # PENDING_ACTIVITY_STATE_STARTED
        await asyncio.sleep(0.05)


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
    run = Run(time.monotonic() - started, at_s, resumed - signalled, lost_frames / FPS, result.clips[0].reused_frames)
    return run, result


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
            encode_fps = reference.frames / reference.clips[0].render_seconds
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


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=30, help="clip length")
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--heartbeat", type=int, default=10, help="render heartbeat timeout, seconds")
    parser.add_argument("--seed", type=int, default=None)
    asyncio.run(main(parser.parse_args()))
    exit_now(0)
