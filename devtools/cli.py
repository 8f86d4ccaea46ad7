"""`render-dev`: the local development tools: run the sample demo, start or stop the dev server."""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from temporalio.api.workflowservice.v1 import SetWorkerDeploymentCurrentVersionRequest
from temporalio.service import RPCError

from devtools import devserver
from engine.deps import Deps
from runtime.connection import LOCAL_HOSTS, TemporalTarget, Unreachable
from runtime.logs import configure_logging
from runtime.process import exit_now, free_port, program, settings_or_exit
from runtime.settings import DeploymentEnv, LogEnv, RenderEnv, load, render_settings
from runtime.versioning import Build, routing, source_build_id
from starter import exits
from starter.cli import load_job, print_result, watch
from starter.client import RenderClient
from starter.exits import CliError
from workers.main import WorkerConfigError, WorkerOptions, build_workers, check_farm, run_until_stopped

SAMPLE_JOB = Path(__file__).resolve().parent.parent / "examples" / "trivia-sample.json"


def data_dir() -> Path:
    return Path(load(RenderEnv).storage.data_dir).resolve()


def ui_port(target: TemporalTarget) -> int:
    """The Web UI's port, from TEMPORAL_UI_URL (8233 by default)."""
    return urlsplit(target.ui_url).port or 8233


def is_local(target: TemporalTarget) -> bool:
    return target.address.rpartition(":")[0] in LOCAL_HOSTS


def start_server(target: TemporalTarget) -> int:
    """A dev server on the configured address's port, with the Web UI on TEMPORAL_UI_URL's; a taken UI port is
    said before the server tries it (it would only exit, its reason in its log)."""
    port = ui_port(target)
    if devserver.port_open("127.0.0.1", port):
        raise devserver.DevServerError(
            f"the Web UI's port {port} is in use; free it, or give the UI another port: "
            f"`TEMPORAL_UI_URL=http://localhost:{free_port()} {program('render-dev')} dev-server start`"
        )
    return devserver.start(data_dir(), target.port, port)


async def demo(args: argparse.Namespace) -> int:
    """Render the sample job end to end on the embedded default."""
    target = TemporalTarget.from_env()
    ours = is_local(target) and devserver.started_here(data_dir(), target.port) is not None
    if is_local(target) and not devserver.port_open("127.0.0.1", target.port):
        pid = start_server(target)
        ours = True
        print(
            f"started the Temporal dev server on {target.address} (pid {pid}, Web UI {target.ui_url}); "
            f"stop it with: {program('render-dev')} dev-server stop"
        )
    client = await RenderClient.connect(target)
    if not ours:
        joining(target, args.join)
    settings = render_settings()
    if not settings.webhooks.secret:  # the demo signs with a throwaway key
        settings = settings.replace(webhooks={"secret": secrets.token_hex(16)})
    options = WorkerOptions(mode="all")
    await check_farm(client.client, options.build, settings)
    workers = await build_workers(client.client, options, Deps.from_settings(settings))
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
        code = print_result(client, status)
        print(
            "the demo's workers stop with it; to render your own jobs, keep one running in another terminal "
            f"(RENDER_WEBHOOKS=false {program('render-worker')}, or set RENDER_WEBHOOK_SECRET to deliver webhooks) "
            f"and submit with: {program('render')} submit job.json --wait"
        )
        return code
    finally:
        stop.set()
        await running


def joining(target: TemporalTarget, join: bool) -> None:
    """Refuse, or say loudly, that the demo is about to join a Temporal server it did not start.

    Every worker polls the fixed queues: on a server that another checkout's demo or dev server started (or a
    shared one), that farm's workers may take the demo's video and publish it into their own output, and the
    demo's workers theirs. The farm record (runtime.farm) still refuses workers whose settings differ.
    """
    where = f"the Temporal server at {target.address}"
    if not join:
        free = f"TEMPORAL_ADDRESS=127.0.0.1:{free_port()} TEMPORAL_UI_URL=http://localhost:{free_port()}"
        raise CliError(
            exits.CONFLICT,
            f"{where} was not started by this checkout's demo or dev server: its workers could take the demo's "
            f"video, and the demo's workers its videos. Run the demo on a server of its own (`{free} "
            f"{program('render-dev')} demo`), or join that one on purpose with `{program('render-dev')} demo --join`",
        )
    print(f"render-dev: joining {where}, which this checkout did not start: its workers may take the demo's "
          "video, and the demo's workers its videos", file=sys.stderr)  # fmt: skip


def dev_server(args: argparse.Namespace) -> int:
    if args.action == "start":
        target = TemporalTarget.from_env()
        if not is_local(target):
            print(
                f"render-dev: TEMPORAL_ADDRESS {target.address} is not this machine; nothing started", file=sys.stderr
            )
            return 2
        if devserver.port_open("127.0.0.1", target.port):
            print(
                f"render-dev: port {target.port} is already in use; a dev server may be running "
                f"(stop it with `{program('render-dev')} dev-server stop`)",
                file=sys.stderr,
            )
            return 6
        pid = start_server(target)
        print(
            f"dev server on {target.address}, pid {pid}; Web UI {target.ui_url}; "
            f"stop it with `{program('render-dev')} dev-server stop`"
        )
    else:
        print("stopped" if devserver.stop(data_dir()) else "no dev server started from here")
    return 0


async def make_current(args: argparse.Namespace) -> int:
    """Make this checkout's build (or --build-id) the current version of the local deployment.

    After a code change, a restarted worker is a new build (its id hashes the source) and the deployment
    keeps the build it had: new videos would wait for the old one, and `render submit` says so. This is
    the explicit step for a development loop; production uses `temporal worker deployment
    set-current-version` (docs/deploys.md).
    """
    target = TemporalTarget.from_env()
    if not is_local(target):
        print(f"render-dev: TEMPORAL_ADDRESS {target.address} is not this machine; use `temporal worker "
              "deployment set-current-version` there (docs/deploys.md)", file=sys.stderr)  # fmt: skip
        return 2
    client = await target.connect()
    deployment = load(DeploymentEnv)
    build = Build(deployment.deployment_name, args.build_id or deployment.build_id or source_build_id())
    before = await routing(client, build.deployment)
    try:
        await client.workflow_service.set_worker_deployment_current_version(
            SetWorkerDeploymentCurrentVersionRequest(
                namespace=client.namespace,
                deployment_name=build.deployment,
                build_id=build.build_id,
                identity="render-dev make-current",
            )
        )
    except RPCError as err:
        print(f"render-dev: {build.key} not made current: {err.message} (start its workers first)", file=sys.stderr)
        return 1
    print(f"{build.key} is current (was {before.current if before and before.current else 'none'})")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="render-dev", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="render the sample video end to end on the embedded default")
    d.add_argument("--job", default=str(SAMPLE_JOB))
    d.add_argument(
        "--join",
        action="store_true",
        help="render on a Temporal server this checkout did not start (its workers share the queues)",
    )
    sub.add_parser("dev-server", help="start or stop the local Temporal dev server").add_argument(
        "action", choices=("start", "stop")
    )
    current = sub.add_parser(
        "make-current", help="make this checkout's build the current worker version (after a code change)"
    )
    current.add_argument("--build-id", help="another build than this checkout's")
    return p


def main(argv: list[str] | None = None) -> None:
    with settings_or_exit("render-dev"):
        logs = load(LogEnv)
        TemporalTarget.from_env()
        render_settings()
    args = parser().parse_args(argv)
    configure_logging(logs.log_format, logs.log_level or "WARNING")
    try:
        if args.command == "demo":
            code = asyncio.run(demo(args))
        elif args.command == "make-current":
            code = asyncio.run(make_current(args))
        else:
            code = dev_server(args)
    except CliError as err:
        print(f"render-dev: {err}", file=sys.stderr)
        code = err.code
    except Unreachable as err:  # what to do is in the message: start the dev server, or fix TEMPORAL_ADDRESS
        print(f"render-dev: {err}", file=sys.stderr)
        code = exits.UNREACHABLE
    except devserver.DevServerError as err:
        print(f"render-dev: {err}", file=sys.stderr)
        code = exits.CONFLICT
    except WorkerConfigError as err:  # the demo's workers would differ from the farm on that server
        print(f"render-dev: the demo's workers were not started: {err}", file=sys.stderr)
        code = exits.CONFLICT
    exit_now(code)
