"""`python -m bench.fake_worker --flavour bare|stub --mode control|gpu`: a worker for the throughput baselines.

Same process shape and slot counts as the service's workers (`python -m workers`
on a CPU machine: render slots = CPUs, control slots 8), so the only difference
in a comparison is what the workflow and the activities do.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from bench import stubs
from bench.bare import BARE_CONTROL_QUEUE, BARE_FANOUT_QUEUE, BareVideo, bare_clip, bare_step
from contracts import names
from runtime.connection import TemporalTarget
from runtime.process import exit_now
from workers.main import WorkerOptions, run_until_stopped
from workflows import RenderVideo

FLAVOURS = ("bare", "stub")
DRAIN = timedelta(seconds=5)


def build(client: Client, flavour: str, mode: str) -> Worker:
    defaults = WorkerOptions()
    fanout_slots = os.cpu_count() or 1
    if flavour == "bare" and mode == "control":
        return Worker(
            client,
            task_queue=BARE_CONTROL_QUEUE,
            workflows=[BareVideo],
            activities=[bare_step],
            max_concurrent_activities=defaults.control_slots,
            graceful_shutdown_timeout=DRAIN,
        )
    if flavour == "bare":
        return Worker(
            client,
            task_queue=BARE_FANOUT_QUEUE,
            activities=[bare_clip],
            max_concurrent_activities=fanout_slots,
            graceful_shutdown_timeout=DRAIN,
        )
    if mode == "control":
        return Worker(
            client,
            task_queue=names.CONTROL_QUEUE,
            workflows=[RenderVideo],
            activities=stubs.control(),
            max_concurrent_activities=defaults.control_slots,
            graceful_shutdown_timeout=DRAIN,
        )
    return Worker(
        client,
        task_queue=names.GPU_QUEUE,
        activities=[stubs.render_clip],
        max_concurrent_activities=fanout_slots,
        graceful_shutdown_timeout=DRAIN,
    )


async def serve(flavour: str, mode: str) -> int:
    client = await TemporalTarget.from_env().connect()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await run_until_stopped([build(client, flavour, mode)], stop)
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.fake_worker", description=__doc__.split("\n")[0])
    parser.add_argument("--flavour", choices=FLAVOURS, required=True)
    parser.add_argument("--mode", choices=("control", "gpu"), required=True)
    args = parser.parse_args()
    exit_now(asyncio.run(serve(args.flavour, args.mode)))


if __name__ == "__main__":
    main()
