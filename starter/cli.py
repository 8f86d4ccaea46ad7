"""`render`: submit, status, watch, result, cancel and list renders, and print the job schema."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowFailureError

from contracts.job import JobError, parse_job
from contracts.job_models import job_schema_text
from runtime.connection import TemporalTarget
from runtime.logs import configure_logging
from runtime.process import exit_now, settings_or_exit
from runtime.settings import LogEnv, RenderEnv, load
from starter.client import JobRefused, RenderClient, VideoStatus, root_cause


def progress_line(status: VideoStatus, width: int = 30) -> str:
    filled = int(status.fraction * width)
    bar = "#" * filled + "." * (width - filled)
    return (
        f"[{bar}] {status.fraction:6.1%}  clips {status.clips_done}/{status.clips_total}"
        f"  frames {status.frames_done}/{status.frames_total}  {status.stage}"
    )


async def watch(client: RenderClient, video_id: str) -> VideoStatus:
    tty = sys.stderr.isatty()
    last = ""
    status = VideoStatus(video_id, "running")
    async for status in client.watch(video_id, interval=0.5):
        line = progress_line(status)
        if tty:
            print("\r" + line, end="", file=sys.stderr, flush=True)
        elif line != last:
            print(line, file=sys.stderr, flush=True)
        last = line
    if tty:
        print(file=sys.stderr)
    return status


def load_job(path: str) -> dict[str, Any]:
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise SystemExit(f"cannot read job {path}: {err}") from None
    if not isinstance(raw, dict):
        raise SystemExit(f"job {path}: expected a JSON object")
    return raw


def print_result(client: RenderClient, status: VideoStatus) -> int:
    url = client.target.workflow_url(status.video_id)
    if status.state == "completed":
        print(f"rendered {status.video_id}: {status.output_uri}\ncost: ${status.cost_usd or 0:.6f}")
        for clip in status.costliest_clips or []:
            print(f"  {clip}")
        print(f"history: {url}")
        return 0
    print(f"{status.video_id} {status.state}: {status.error or status.stage}\nhistory: {url}", file=sys.stderr)
    return 1


def checked_job(args: argparse.Namespace) -> dict[str, Any] | None:
    """The job file, validated here first: a bad job is refused without a server (None, said on stderr)."""
    job = load_job(args.job)
    if args.video_id:
        job["video_id"] = args.video_id
    try:
        parse_job(job, load(RenderEnv).budget())
    except JobError as err:
        print(f"refused: {err}", file=sys.stderr)
        return None
    return job


async def submit(args: argparse.Namespace, client: RenderClient, job: dict[str, Any]) -> int:
    try:
        video_id = await client.submit(job, require_worker=not args.allow_no_worker)
    except JobRefused as err:
        print(f"refused: {err}", file=sys.stderr)
        return 2
    print(f"started {video_id}\nwatch: render watch {video_id}\nhistory: {client.target.workflow_url(video_id)}")
    return print_result(client, await watch(client, video_id)) if args.wait else 0


async def run(args: argparse.Namespace) -> int:
    if args.command == "schema":
        print(job_schema_text(), end="")
        return 0
    job = checked_job(args) if args.command == "submit" else None
    if args.command == "submit" and job is None:
        return 2
    try:
        client = await RenderClient.connect()
    except RuntimeError as err:  # the SDK's connection failure
        print(f"render: cannot reach Temporal at {TemporalTarget.from_env().address}: {err}", file=sys.stderr)
        return 3
    if job is not None:
        return await submit(args, client, job)
    if args.command == "status":
        status = await client.status(args.video_id)
        print(json.dumps(asdict(status), indent=2))
        return 0
    if args.command == "watch":
        return print_result(client, await watch(client, args.video_id))
    if args.command == "result":
        try:
            print(json.dumps(asdict(await client.result(args.video_id)), indent=2))
        except WorkflowFailureError as err:
            print(f"{args.video_id} failed: {root_cause(err)}", file=sys.stderr)
            return 1
        return 0
    if args.command == "cancel":
        await client.cancel(args.video_id)
        print(f"cancel requested for {args.video_id}")
        return 0
    if args.command == "workers":
        for queue, pollers in (await client.pollers()).items():
            if pollers or args.all:
                print(f"{queue}: {len(pollers)} worker(s)")
            for poller in pollers:
                print(f"  {poller.identity}  last seen {poller.last_seen}")
        return 0
    for video_id, state in await client.list(args.query, args.limit):
        print(f"{state:10} {video_id}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="render", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("submit", help="validate and start a render from a job JSON file")
    s.add_argument("job")
    s.add_argument("--video-id", help="override the job's video_id")
    s.add_argument("--wait", action="store_true", help="watch until the render ends")
    s.add_argument(
        "--allow-no-worker",
        action="store_true",
        help="start even when no worker polls the job's render queue (workers that scale from zero)",
    )
    for name, text in (
        ("status", "print a render's status"),
        ("watch", "live progress until the render ends"),
        ("result", "wait for and print the result"),
        ("cancel", "cancel a render"),
    ):
        sub.add_parser(name, help=text).add_argument("video_id")
    ls = sub.add_parser("list", help="recent renders")
    ls.add_argument("--query", help="extra visibility query, e.g. \"ExecutionStatus = 'Failed'\"")
    ls.add_argument("--limit", type=int, default=50)
    workers = sub.add_parser("workers", help="workers polling each render queue now")
    workers.add_argument("--all", action="store_true", help="also list queues nobody polls")
    sub.add_parser("schema", help="print the JSON Schema of a job file (schema/job.schema.json)")
    return p


def main(argv: list[str] | None = None) -> None:
    with settings_or_exit("render"):
        logs = load(LogEnv)
        load(RenderEnv)
        TemporalTarget.from_env()
    args = parser().parse_args(argv)
    configure_logging(logs.log_format, logs.log_level or "WARNING")
    exit_now(asyncio.run(run(args)))
