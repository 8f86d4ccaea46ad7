"""`render-dev`: the local development tools: run the sample demo, start or stop the dev server."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import secrets
import time
from pathlib import Path

from activities.common import Deps
from activities.settings import Settings
from devtools import devserver
from runtime.connection import TemporalTarget
from runtime.logs import configure_logging
from runtime.process import exit_now, settings_or_exit
from runtime.settings import LogEnv, RenderEnv, load
from starter.cli import load_job, print_result, watch
from starter.client import RenderClient
from workers.main import WorkerOptions, build_workers, run_until_stopped

SAMPLE_JOB = Path(__file__).resolve().parent.parent / "examples" / "trivia-sample.json"


def data_dir() -> Path:
    return Path(load(RenderEnv).data_dir).resolve()


async def demo(args: argparse.Namespace) -> int:
    """Render the sample job end to end on the embedded default."""
    target = TemporalTarget.from_env()
    if not devserver.port_open("127.0.0.1", 7233) and target.address == "localhost:7233":
        pid = devserver.start(data_dir())
        print(
            f"started the Temporal dev server (pid {pid}, Web UI {target.ui_url}); "
            "stop it with: render-dev dev-server stop"
        )
    client = await RenderClient.connect(target)
    settings = Settings.from_env()
    if not settings.webhook_secret:  # the demo signs with a throwaway key
        settings = dataclasses.replace(settings, webhook_secret=secrets.token_hex(16))
    workers = await build_workers(client.client, WorkerOptions(mode="all"), Deps.from_settings(settings))
    stop = asyncio.Event()
    running = asyncio.ensure_future(run_until_stopped(workers, stop))
    try:
        job = load_job(args.job)
        job["video_id"] = f"{job['video_id']}-{time.strftime('%Y%m%d-%H%M%S')}"
        video_id = await client.submit(job)
        print(f"rendering {video_id}; history: {target.workflow_url(video_id)}")
        status = await watch(client, video_id)
        if status.state == "completed":
            result = await client.result(video_id)
            print(f"{result.duration_s:.2f} s, {result.bytes} bytes, encoder {result.encoder}")
        return print_result(client, status)
    finally:
        stop.set()
        await running


def dev_server(args: argparse.Namespace) -> int:
    if args.action == "start":
        print(f"dev server pid {devserver.start(data_dir())}; Web UI {TemporalTarget.from_env().ui_url}")
    else:
        print("stopped" if devserver.stop(data_dir()) else "no dev server started from here")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="render-dev", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="render the sample video end to end on the embedded default")
    d.add_argument("--job", default=str(SAMPLE_JOB))
    sub.add_parser("dev-server", help="start or stop the local Temporal dev server").add_argument(
        "action", choices=("start", "stop")
    )
    return p


def main(argv: list[str] | None = None) -> None:
    with settings_or_exit("render-dev"):
        logs = load(LogEnv)
        TemporalTarget.from_env()
        Settings.from_env()
    args = parser().parse_args(argv)
    configure_logging(logs.log_format, logs.log_level or "WARNING")
    exit_now(asyncio.run(demo(args)) if args.command == "demo" else dev_server(args))
