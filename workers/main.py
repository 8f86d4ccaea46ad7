"""`render-worker --mode all|control|gpu`: poll the queues until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from dataclasses import dataclass
from datetime import timedelta

import structlog
from temporalio.client import Client
from temporalio.worker import Worker

from activities.assemble import AssembleActivities
from activities.common import Deps
from activities.logs import configure_logging
from activities.media.encoder import NVENC, encoder_works
from activities.render import RenderActivities
from activities.scratch import sweep_stale
from activities.settings import Settings
from contracts import names
from starter.connection import TemporalTarget
from workers.gpus import discover_gpus
from workflows import RenderVideo

log = structlog.get_logger(__name__)
MODES = ("all", "control", "gpu")
HEARTBEAT_THROTTLE = timedelta(seconds=2)
FFMPEG_PER_NVENC_GPU = 3
"""The trivia farm's measured sweet spot on T4s."""


@dataclass(frozen=True)
class WorkerOptions:
    mode: str = "all"
    render_slots: int = 0
    """Concurrent clip renders; 0 = 3 per NVENC GPU, else one per CPU core."""
    control_slots: int = 8
    drain_seconds: float = 60.0
    """On SIGTERM, how long running activities get before they are cancelled and retried elsewhere."""


async def default_render_slots() -> int:
    gpus = discover_gpus()
    if gpus and await encoder_works(NVENC):
        return FFMPEG_PER_NVENC_GPU * len(gpus)
    return os.cpu_count() or 1


async def build_workers(client: Client, options: WorkerOptions, deps: Deps) -> list[Worker]:
    if options.mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {options.mode!r}")
    drain = timedelta(seconds=options.drain_seconds)
    workers = []
    if options.mode in ("all", "control"):
        assemble = AssembleActivities(deps)
        workers.append(
            Worker(
                client,
                task_queue=names.CONTROL_QUEUE,
                workflows=[RenderVideo],
                activities=[
                    assemble.check_job,
                    assemble.concat_clips,
                    assemble.upload_video,
                    assemble.discard_intermediates,
                ],
                max_concurrent_activities=options.control_slots,
                graceful_shutdown_timeout=drain,
            )
        )
    if options.mode in ("all", "gpu"):
        slots = options.render_slots or await default_render_slots()
        workers.append(
            Worker(
                client,
                task_queue=names.GPU_QUEUE,
                activities=[RenderActivities(deps).render_clip],
                max_concurrent_activities=slots,
                graceful_shutdown_timeout=drain,
                # Heartbeats carry checkpoints and bring back cancellation: send them
                # at least this often rather than at 80 % of the heartbeat timeout.
                max_heartbeat_throttle_interval=HEARTBEAT_THROTTLE,
                default_heartbeat_throttle_interval=HEARTBEAT_THROTTLE,
            )
        )
        log.info("render worker ready", queue=names.GPU_QUEUE, slots=slots)
    return workers


async def run_until_stopped(workers: list[Worker], stop: asyncio.Event) -> None:
    """Run the workers until `stop` is set (or one dies), then drain them."""
    runs = [asyncio.ensure_future(w.run()) for w in workers]
    stopper = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait([*runs, stopper], return_when=asyncio.FIRST_COMPLETED)
    await asyncio.gather(*(w.shutdown() for w in workers))
    stopper.cancel()
    for run in runs:
        if run in done and run.exception():
            raise run.exception()  # type: ignore[misc]


async def serve(options: WorkerOptions) -> int:
    target = TemporalTarget.from_env()
    client = await target.connect()
    settings = Settings.from_env()
    stale = await asyncio.to_thread(sweep_stale, settings.scratch_dir)
    if stale:
        log.info("removed scratch left by dead workers", directories=[p.name for p in stale])
    workers = await build_workers(client, options, Deps.from_settings(settings))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker started", mode=options.mode, address=target.address, namespace=target.namespace)
    await run_until_stopped(workers, stop)
    log.info("worker stopped")
    return 0


def exit_now(code: int) -> None:
    """Leave without interpreter teardown.

    A process that ran a temporalio worker can abort while Python finalises the
    SDK's native runtime (temporalio/sdk-python#300), turning a clean exit into a
    crash at random. Everything that matters is flushed first, then we exit with
    the real status code.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="render-worker", description=__doc__)
    parser.add_argument("--mode", choices=MODES, default=os.environ.get("RENDER_WORKER_MODE", "all"))
    parser.add_argument("--render-slots", type=int, default=int(os.environ.get("RENDER_SLOTS", "0")))
    parser.add_argument("--control-slots", type=int, default=int(os.environ.get("RENDER_CONTROL_SLOTS", "8")))
    parser.add_argument("--drain-seconds", type=float, default=float(os.environ.get("RENDER_DRAIN_SECONDS", "60")))
    args = parser.parse_args(argv)
    configure_logging(os.environ.get("RENDER_LOG_FORMAT", "console"), os.environ.get("RENDER_LOG_LEVEL", "INFO"))
    options = WorkerOptions(args.mode, args.render_slots, args.control_slots, args.drain_seconds)
    try:
        code = asyncio.run(serve(options))
    except Exception:
        log.exception("worker failed")
        code = 1
    exit_now(code)
