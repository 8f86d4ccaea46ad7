"""`render`: check and submit jobs (one or a batch), watch and manage renders, and print the job schema.

Every command prints for people by default and JSON with --json; every failure is one line on
stderr and an exit status of its own (starter/exits.py, the README's table).
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from temporalio.client import WorkflowFailureError
from temporalio.service import RPCError, RPCStatusCode

from activities.preflight import PreviewFailed, Report, check, preview
from contracts import names
from contracts.job import JobError
from contracts.job_models import job_schema_text
from runtime import farm
from runtime.connection import TemporalTarget, Unreachable
from runtime.logs import configure_logging
from runtime.process import exit_now, settings_or_exit
from runtime.settings import ChannelEnv, LogEnv, load, render_settings
from runtime.tracing import flush_traces
from starter import batch, exits
from starter.client import (
    AlreadyEnded,
    AlreadyExists,
    BadQuery,
    JobRefused,
    NoWorker,
    RenderClient,
    VideoNotFound,
    VideoStatus,
    failure_text,
    worker_command,
)
from starter.exits import CliError
from starter.files import read_job_text
from starter.present import (
    deployment_lines,
    deployment_record,
    dumps,
    farm_lines,
    farm_record,
    money,
    result_record,
    status_lines,
    status_record,
    summary_lines,
    summary_record,
)
from starter.progress import ProgressDisplay

Handler = Callable[[argparse.Namespace, RenderClient], Awaitable[int]]


@dataclass(frozen=True)
class Command:
    """A subcommand: its arguments and what it does with a connected client (None: it needs no server)."""

    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    handler: Handler | None = None
    offline: Callable[[argparse.Namespace], Awaitable[int]] | None = None


COMMANDS: dict[str, Command] = {}


def command(
    name: str, help: str, arguments: Callable[[argparse.ArgumentParser], None] = lambda p: None
) -> Callable[[Handler], Handler]:
    """Register a subcommand that talks to Temporal; each gets --json."""

    def register(handler: Handler) -> Handler:
        COMMANDS[name] = Command(name, help, arguments, handler)
        return handler

    return register


def video_id_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("video_id")


def emit(args: argparse.Namespace, record: Any, lines: list[str]) -> None:
    print(dumps(record) if args.json else "\n".join(lines))


async def watch(
    client: RenderClient, video_id: str, *, json_lines: bool = False, display: ProgressDisplay | None = None
) -> VideoStatus:
    """Follow the render until it ends: a progress display, or one JSON status per change with --json.

    Ctrl-C stops the watching, not the render, and says how to pick it up again.
    """
    status = VideoStatus(video_id, "running")
    last = ""
    try:
        with display or ProgressDisplay(video_id) as shown:
            async for status in client.watch(video_id, interval=0.5):
                if json_lines:
                    line = dumps(status_record(status), one_line=True)
                    if line != last:
                        print(line, flush=True)
                    last = line
                else:
                    shown.show(status)
    except asyncio.CancelledError:
        ended = await _ended(client, video_id)
        if ended is not None:  # Ctrl-C as the render ended: its end is the answer
            return ended
        raise CliError(
            exits.INTERRUPTED,
            f"stopped watching; {video_id} goes on rendering: follow it with `render watch {video_id}`, "
            f"stop it with `render cancel {video_id}`",
        ) from None
    return status


async def _ended(client: RenderClient, video_id: str) -> VideoStatus | None:
    """The render's status if it has closed, asked once and briefly; None if it runs or nobody answers."""
    try:
        status = await asyncio.wait_for(client.status(video_id, check_workers=False), timeout=5)
    except (TimeoutError, RPCError):
        return None
    return status if status.closed else None


def print_result(client: RenderClient, status: VideoStatus, *, as_json: bool = False) -> int:
    """The end of a render: where the video is and what it cost, or why it did not finish (exit 1)."""
    url = client.target.workflow_url(status.video_id)
    if as_json:  # the last of the JSON lines a watch prints
        print(dumps(status_record(status) | {"history": url}, one_line=True))
        return exits.OK if status.state == "completed" else exits.RENDER_FAILED
    if status.state == "completed":
        print(f"rendered {status.video_id}: {status.output_uri}\ncost: ${money(status.cost_usd or 0)}")
        for clip in status.costliest_clips or []:
            print(f"  {clip}")
        print(f"history: {url}")
        return exits.OK
    print(f"render: {status.video_id} {status.state}: {status.error or status.stage} (history: {url})", file=sys.stderr)
    return exits.RENDER_FAILED


def load_job(path: str) -> dict[str, Any]:
    try:
        raw = json.loads(read_job_text(Path(path)))
    except ValueError as err:
        raise CliError(exits.BAD_INPUT, f"cannot read job {path}: {err}") from None
    if not isinstance(raw, dict):
        raise CliError(exits.BAD_INPUT, f"job {path}: expected a JSON object")
    return raw


def job_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("job")
    p.add_argument("--video-id", help="override the job's video_id")


def read_job(args: argparse.Namespace) -> dict[str, Any]:
    job = load_job(args.job)
    if args.video_id:
        job["video_id"] = args.video_id
    return job


def print_unchecked(report: Report) -> None:
    for note in report.unchecked:
        print(f"render: not checked (the workers may still reach it): {note}", file=sys.stderr)


async def checked_job(args: argparse.Namespace) -> dict[str, Any]:
    """The job file with every check `render check` makes, before connecting: a job the workers would refuse
    is refused here, without a server, every problem listed; "started" then means none a check could see."""
    job = read_job(args)
    report = await check(job)
    print_unchecked(report)
    if not report.ok:
        raise CliError(exits.BAD_INPUT, "refused: " + "\n".join(map(str, report.problems)))
    return job


async def check_command(args: argparse.Namespace) -> int:
    """Every problem on its own line on stderr and exit 2, or a line saying the job passes."""
    job = read_job(args)
    report = await check(job)
    if args.json:
        fields = ("field", "message")
        print(dumps({
            "ok": report.ok,
            "problems": [dict(zip(fields, (p.field, p.message), strict=True)) for p in report.problems],
            "unchecked": [dict(zip(fields, (p.field, p.message), strict=True)) for p in report.unchecked],
        }))  # fmt: skip
    else:
        print_unchecked(report)
        for found in report.problems:
            print(f"render: {args.job}: {found}", file=sys.stderr)
        if report.ok:
            what = f"{len(report.unchecked)} not checked" if report.unchecked else "every check a render makes"
            print(f"ok: {args.job} ({job.get('video_id')}) passes {what} before it starts")
    return exits.OK if report.ok else exits.BAD_INPUT


async def preview_command(args: argparse.Namespace) -> int:
    """One PNG per clip, drawn as the render draws it, and the path of each."""
    job = read_job(args)
    out = Path(args.out or f"{Path(args.job).stem}-preview")
    try:
        for path in await preview(job, out, args.clip):
            print(path)
    except JobError as err:
        raise CliError(exits.BAD_INPUT, f"refused: {err}") from None
    except PreviewFailed as err:
        raise CliError(exits.BAD_INPUT, one_line(err)) from None
    return exits.OK


def preview_arguments(p: argparse.ArgumentParser) -> None:
    job_argument(p)
    p.add_argument(
        "--clip", type=int, action="append", metavar="N", help="only clip N (from 1, as labelled); repeatable"
    )
    p.add_argument("--out", metavar="DIR", help="where the PNGs go (default: <job>-preview/)")


def check_arguments(p: argparse.ArgumentParser) -> None:
    job_argument(p)
    p.add_argument("--json", action="store_true", help="print JSON for scripts")


def submit_arguments(p: argparse.ArgumentParser) -> None:
    job_argument(p)
    p.add_argument("--wait", action="store_true", help="watch until the render ends")
    p.add_argument(
        "--allow-no-worker",
        action="store_true",
        help="start even when no worker polls the job's render queue (workers that scale from zero)",
    )


@command(
    "submit", "check and start a render from a job JSON file (the checks of `render check` first)", submit_arguments
)
async def submit(args: argparse.Namespace, client: RenderClient) -> int:
    job = args.checked_job
    try:
        video_id = await client.submit(job, require_worker=not args.allow_no_worker)
    except NoWorker as err:
        raise CliError(exits.NO_WORKER, f"refused: {err}") from None
    except AlreadyExists as err:
        raise CliError(exits.CONFLICT, f"refused: {err}") from None
    except JobRefused as err:
        raise CliError(exits.BAD_INPUT, f"refused: {err}") from None
    url = client.target.workflow_url(video_id)
    if args.json and not args.wait:
        print(dumps({"video_id": video_id, "state": "running", "history": url}))
    elif not args.json:
        print(f"started {video_id}\nwatch: render watch {video_id}\nhistory: {url}", flush=True)
    if not args.wait:
        return exits.OK
    return print_result(client, await watch(client, video_id, json_lines=args.json), as_json=args.json)


def batch_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", help="a .jsonl file (one job per line) or a folder of *.json job files")
    p.add_argument("--rate", type=batch.rate_arg, default=5.0, help="starts per second at most (default 5)")
    p.add_argument("--allow-no-worker", action="store_true", help="as for submit")
    p.add_argument("--wait-for-room", action="store_true", help="wait while a channel has its limit in flight")


@command("submit-batch", "start every job of a JSON Lines file or a folder of job files", batch_arguments)
async def submit_batch(args: argparse.Namespace, client: RenderClient) -> int:
    return await batch.run_cli(client, args)


@command("status", "a render's stage, clips, frames, error or output", video_id_argument)
async def status(args: argparse.Namespace, client: RenderClient) -> int:
    found = await client.status(args.video_id)
    emit(args, status_record(found), status_lines(found))
    return exits.OK


@command("watch", "live progress until the render ends", video_id_argument)
async def watch_command(args: argparse.Namespace, client: RenderClient) -> int:
    await client.describe(args.video_id)  # an unknown id is said at once
    return print_result(client, await watch(client, args.video_id, json_lines=args.json), as_json=args.json)


@command("result", "wait for the render and print its result record", video_id_argument)
async def result(args: argparse.Namespace, client: RenderClient) -> int:
    await client.describe(args.video_id)
    try:
        record = result_record(await client.result(args.video_id))
    except WorkflowFailureError as err:
        state = (await client.status(args.video_id, check_workers=False)).state  # canceled, invalid, timed out…
        raise CliError(exits.RENDER_FAILED, f"{args.video_id} {state}: {failure_text(err)}") from None
    print(dumps(record))
    return exits.OK


@command("cancel", "cancel a running render", video_id_argument)
async def cancel(args: argparse.Namespace, client: RenderClient) -> int:
    try:
        await client.cancel(args.video_id)
    except AlreadyEnded as err:
        raise CliError(exits.CONFLICT, str(err)) from None
    emit(args, {"video_id": args.video_id, "cancel": "requested"}, [f"cancel requested for {args.video_id}"])
    return exits.OK


def list_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--query", help="visibility query, e.g. \"Channel = 'x' AND VideoStatus = 'failed'\"")
    p.add_argument("--limit", type=int, default=50)


@command("list", "recent renders: start time, state, channel, clips, cost", list_arguments)
async def list_command(args: argparse.Namespace, client: RenderClient) -> int:
    try:
        videos = await client.list(args.query, args.limit)
    except BadQuery as err:
        raise CliError(exits.BAD_QUERY, f"--query: {err}") from None
    emit(args, [summary_record(v) for v in videos], summary_lines(videos))
    return exits.OK


def workers_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--all", action="store_true", help="also list queues nobody polls")


@command("workers", "each version of the worker deployment: its workers and running videos", workers_arguments)
async def workers(args: argparse.Namespace, client: RenderClient) -> int:
    deployment = await client.versions()
    pollers = {q: found for q, found in deployment.pollers.items() if found or args.all}
    if not any(pollers.values()) and not deployment.versions and not args.json:
        print(f"no worker polls any render queue; start one with `{worker_command(names.CONTROL_QUEUE)}`")
        return exits.OK
    emit(args, deployment_record(deployment, pollers), deployment_lines(deployment, pollers))
    return exits.OK


def farm_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", nargs="?", choices=("show", "forget"), default="show",
                   help="show the farm records (default), or forget one build's")  # fmt: skip
    p.add_argument("build", nargs="?", help="the build (`deployment:build id`, as `render farm` shows it)")


@command(
    "farm",
    "the settings each build's workers must share (its farm record); `forget BUILD` removes a wrong record",
    farm_arguments,
)
async def farm_command(args: argparse.Namespace, client: RenderClient) -> int:
    if args.action == "forget":
        if not args.build:
            raise CliError(exits.BAD_INPUT, "farm forget: name the build, as `render farm` shows it")
        if not await farm.forget(client.client, args.build):
            raise CliError(exits.NOT_FOUND, f"no farm record for build {args.build} ({farm.record_id(args.build)})")
        said = f"forgot the farm record of {args.build}; the next worker of that build writes its own settings"
        emit(args, {"forgotten": args.build, "record": farm.record_id(args.build)}, [said])
        return exits.OK
    records = [r for r in await farm.records(client.client) if args.build in (None, r.build)]
    emit(args, [farm_record(r) for r in records], farm_lines(records))
    return exits.OK


async def schema(args: argparse.Namespace) -> int:
    print(job_schema_text(), end="")
    return exits.OK


COMMANDS["schema"] = Command("schema", "print the JSON Schema of a job file (schema/job.schema.json)", lambda p: None,
                             offline=schema)  # fmt: skip
COMMANDS["check"] = Command(
    "check",
    "everything a render would be refused for (schema, budget, text fit, output, assets, webhook), "
    "without a server; exit 2 with one line per problem",
    check_arguments,
    offline=check_command,
)
COMMANDS["preview"] = Command(
    "preview",
    "one PNG frame per clip (or --clip N), drawn as the render draws it, in seconds and without a server",
    preview_arguments,
    offline=preview_command,
)


class OneLineParser(argparse.ArgumentParser):
    """Usage errors in one line, like every other error, with the same exit status as a bad job."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(exits.BAD_INPUT)


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="render", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for name, cmd in COMMANDS.items():
        each = sub.add_parser(name, help=cmd.help, description=cmd.help)
        cmd.arguments(each)
        if cmd.handler is not None:
            each.add_argument("--json", action="store_true", help="print JSON for scripts")
    return p


async def run(args: argparse.Namespace) -> int:
    """The command's exit status; failures raise CliError (`main` prints them in one line)."""
    cmd = COMMANDS[args.command]
    if cmd.offline is not None:
        return await cmd.offline(args)
    if args.command == "submit":
        try:
            args.checked_job = await checked_job(args)
        except CliError as err:
            print(f"render: {err}", file=sys.stderr)
            return err.code
    target = TemporalTarget.from_env()
    try:
        client = await RenderClient.connect(target)
    except Unreachable as err:
        raise CliError(exits.UNREACHABLE, str(err)) from None
    assert cmd.handler is not None
    try:
        return await cmd.handler(args, client)
    except VideoNotFound as err:
        raise CliError(exits.NOT_FOUND, f"{err} in namespace {target.namespace}") from None
    except RPCError as err:
        if err.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            raise CliError(exits.UNREACHABLE, f"lost Temporal at {target.address}: {one_line(err)}") from None
        raise CliError(exits.UNEXPECTED, f"Temporal refused: {one_line(err)}") from None


def one_line(err: BaseException) -> str:
    return " ".join(str(err).split())


def unwritable(err: BaseException) -> int | None:
    """OUTPUT_FAILED, said in one line, when `err` is the output failing to write (a full disk,
    /dev/full): the command did not print what it says it did."""
    if not isinstance(err, OSError) or err.errno not in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EIO):
        return None
    quiet_stdout()
    print(f"render: cannot write the output: {err.strerror or err}", file=sys.stderr)
    return exits.OUTPUT_FAILED


def quiet_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the final flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def main(argv: list[str] | None = None) -> None:
    with settings_or_exit("render"):
        logs = load(LogEnv)
        load(ChannelEnv)
        render_settings()
        TemporalTarget.from_env()
    args = parser().parse_args(argv)
    configure_logging(logs.log_format, logs.log_level or "WARNING")
    try:
        code = asyncio.run(run(args))
    except CliError as err:
        print(f"render: {err}", file=sys.stderr)
        code = err.code
    except BrokenPipeError:
        quiet_stdout()
        code = exits.BROKEN_PIPE
    except KeyboardInterrupt:
        print("render: interrupted", file=sys.stderr)
        code = exits.INTERRUPTED
    except Exception as err:  # one line, not a traceback
        code = unwritable(err) or exits.UNEXPECTED
        if code == exits.UNEXPECTED:
            print(f"render: unexpected {type(err).__name__}: {one_line(err)}", file=sys.stderr)
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        quiet_stdout()
        code = exits.BROKEN_PIPE
    except OSError as err:
        code = unwritable(err) or exits.UNEXPECTED
    flush_traces()
    exit_now(code)
