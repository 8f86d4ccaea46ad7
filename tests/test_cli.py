"""The `render` CLI as an operator meets it: one-line errors with their own exit status, honest answers, JSON.

Every command runs as a real process against the session's dev server and in-process workers.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from contracts import names
from devtools.local import free_port
from engine.deps import Deps
from engine.settings import Settings, file_uri
from engine.storage import file_path
from runtime.process import program
from runtime.versioning import source_build_id
from starter import RenderClient
from starter.cli import watch
from starter.exits import (
    BAD_INPUT,
    BAD_QUERY,
    BROKEN_PIPE,
    CONFLICT,
    INTERRUPTED,
    NO_WORKER,
    NOT_FOUND,
    RENDER_FAILED,
    UNREACHABLE,
)
from workers.main import WorkerOptions, build_workers, run_until_stopped

pytestmark = pytest.mark.usefixtures("workers")
BIN = Path(sys.executable).parent


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def line(self) -> str:
        """The one line on stderr (and no traceback)."""
        lines = self.err.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in self.err, self.err
        return lines[0]


def cli_env(address: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "TEMPORAL_ADDRESS": address, "RENDER_LOG_LEVEL": "WARNING", **extra}


async def render(address: str, *args: str, program: str = "render", **extra: str) -> Run:
    proc = await asyncio.create_subprocess_exec(
        str(BIN / program), *args, env=cli_env(address, **extra),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=180)
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())


def small_job(video_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "video_id": video_id,
        "channel": "chaîne-ops",
        "profile": {"width": 160, "height": 90},
        "clips": [{"kind": "card", "duration": 0.5, "lines": ["Thé ünïcode ✓"]},
                  {"kind": "recipe", "recipe": "testsrc", "duration": 0.5}],
        **extra,
    }  # fmt: skip


def write_job(tmp_path: Path, job: dict[str, Any]) -> str:
    path = tmp_path / f"{job['video_id']}.json"
    path.write_text(json.dumps(job, ensure_ascii=False), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def address(client: Client) -> str:
    return client.service_client.config.target_host


@pytest.fixture(scope="module")
async def finished(address: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A video rendered through `render submit --wait --json`, whose JSON lines are checked here."""
    video_id = f"cli-done-{uuid.uuid4().hex[:6]}"
    run = await render(address, "submit", write_job(tmp_path_factory.mktemp("jobs"), small_job(video_id)),
                       "--wait", "--json")  # fmt: skip
    assert run.code == 0, run.err
    lines = [json.loads(line) for line in run.out.splitlines()]
    assert lines[-1]["state"] == "completed" and lines[-1]["history"].endswith(f"/workflows/{video_id}")
    percents = [line["percent"] for line in lines]
    assert percents == sorted(percents)
    yield video_id


@pytest.fixture(scope="module")
async def failed(address: str, client: Client, settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A video whose first clip rendered and whose second failed on a truncated audio file."""
    assets = file_path(settings.storage.asset_roots[0])
    whole = tmp_path_factory.mktemp("audio") / "whole.wav"
    ffmpeg = await asyncio.create_subprocess_exec(
        "ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=f=440:d=3", str(whole)
    )
    assert await ffmpeg.wait() == 0
    (assets / "cli-truncated.wav").write_bytes(whole.read_bytes()[:10_000])
    video_id = f"cli-failed-{uuid.uuid4().hex[:6]}"
    job = small_job(video_id, max_parallel_clips=1)
    job["clips"][1] = {
        "kind": "card",
        "duration": 0.5,
        "lines": ["bad"],
        "audio": file_uri(assets / "cli-truncated.wav"),
    }
    await RenderClient(client).submit(job)
    with pytest.raises(Exception):  # noqa: B017  (any failure; its text is checked through the CLI)
        await asyncio.wait_for(client.get_workflow_handle(video_id).result(), timeout=120)
    return video_id


async def test_an_unknown_video_id_is_one_line_and_exit_4(address: str) -> None:
    for command in ("status", "watch", "result", "cancel"):
        run = await render(address, command, "no-such-video")
        assert run.code == NOT_FOUND, (command, run)
        assert run.line == "render: no render with video id 'no-such-video' in namespace default"


async def test_a_bad_query_points_into_what_the_user_typed(address: str) -> None:
    run = await render(address, "list", "--query", "Channel = ")
    assert run.code == BAD_QUERY
    assert run.line == "render: --query: malformed SQL query: syntax error at position 10"
    run = await render(address, "list", "--query", "Channel = 'x' AND Colour = 'red'")
    assert run.code == BAD_QUERY and run.line == "render: --query: invalid search attribute: Colour"


async def test_an_unreachable_server_is_one_line_and_exit_3(address: str) -> None:
    port = free_port()
    run = await render(address, "status", "anything", TEMPORAL_ADDRESS=f"127.0.0.1:{port}")
    assert run.code == UNREACHABLE
    assert run.line.startswith(f"render: cannot reach Temporal at 127.0.0.1:{port}: ")


async def test_a_bad_setting_and_a_bad_command_line_are_one_line_and_exit_2(address: str, tmp_path: Path) -> None:
    run = await render(address, program="render-worker", RENDER_SLOTS="two")
    assert run.code == BAD_INPUT and run.line == "render-worker: RENDER_SLOTS: must be a whole number ≥ 0, got 'two'"
    run = await render(address, "list", "--limit", "many")
    assert run.code == BAD_INPUT and run.line.startswith("render list: argument --limit: invalid int value: 'many'")
    bad = write_job(tmp_path, {"video_id": "x y", "clips": []})
    run = await render(address, "submit", bad)
    assert run.code == BAD_INPUT and run.err.startswith("render: refused: video_id: ")


async def test_the_autoscaler_without_kubernetes_is_one_line_and_exit_2(address: str, tmp_path: Path) -> None:
    env = {"KUBECONFIG": str(tmp_path / "no-kubeconfig"), "HOME": str(tmp_path), "KUBERNETES_SERVICE_HOST": ""}
    run = await render(address, "--once", program="render-autoscaler", **env)
    assert run.code == 2
    assert run.line.startswith("render-autoscaler: no Kubernetes configuration: ")


async def test_a_job_no_worker_would_render_is_refused_with_the_command_that_starts_one(
    address: str, tmp_path: Path
) -> None:
    run = await render(address, "submit", write_job(tmp_path, small_job(f"cli-a10g-{uuid.uuid4().hex[:6]}",
                                                                         gpu_class="a10g")))  # fmt: skip
    assert run.code == NO_WORKER
    assert "no worker polls task queue render-gpu-a10g" in run.line
    assert f"`RENDER_GPU_CLASS=a10g {program('render-worker')} --mode gpu`" in run.line


async def test_ctrl_c_while_waiting_leaves_the_render_going_and_says_how_to_follow_it(
    address: str, client: Client, tmp_path: Path
) -> None:
    video_id = f"cli-ctrl-c-{uuid.uuid4().hex[:6]}"
    job = write_job(tmp_path, small_job(video_id, gpu_class="a100"))  # nobody serves a100: it waits
    proc = await asyncio.create_subprocess_exec(
        str(BIN / "render"), "submit", job, "--wait", "--allow-no-worker", env=cli_env(address),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    assert (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().startswith(f"started {video_id}")
    warned = await asyncio.wait_for(proc.stderr.readline(), 60)  # the watch notices that nobody polls render-gpu-a100
    start = f"`RENDER_GPU_CLASS=a100 {program('render-worker')} --mode gpu`"
    assert f"no worker polls render-gpu-a100; start one with {start}".encode() in warned
    proc.send_signal(signal.SIGINT)
    rest = (await asyncio.wait_for(proc.stderr.read(), 60)).decode()
    assert await proc.wait() == INTERRUPTED
    last = [line for line in rest.splitlines() if line.startswith("render: ")]
    assert last == [
        f"render: stopped watching; {video_id} goes on rendering: follow it with `render watch {video_id}`, "
        f"stop it with `render cancel {video_id}`"
    ], rest
    handle = client.get_workflow_handle(video_id)
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    run = await render(address, "cancel", video_id, "--json")
    assert run.code == 0 and json.loads(run.out) == {"video_id": video_id, "cancel": "requested"}


async def test_status_into_a_closed_pipe_exits_quietly(address: str, finished: str) -> None:
    read, write = os.pipe()
    os.close(read)  # like `render status … | head` once head has gone
    try:
        proc = await asyncio.create_subprocess_exec(
            str(BIN / "render"), "status", finished, "--json", env=cli_env(address),
            stdout=write, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
    finally:
        os.close(write)
    assert proc.stderr is not None
    err = await proc.stderr.read()
    assert await proc.wait() == BROKEN_PIPE and err == b""


async def test_cancel_of_a_finished_video_says_so_and_exits_6(address: str, finished: str) -> None:
    run = await render(address, "cancel", finished)
    assert run.code == CONFLICT and run.line == f"render: {finished} already completed; nothing to cancel"


async def test_status_result_and_list_json_are_for_scripts(address: str, finished: str, failed: str) -> None:
    run = await render(address, "status", finished, "--json")
    assert run.code == 0
    assert "·" in run.out and "\\u" not in run.out  # text as written
    assert not re.search(r"\d[eE]-\d", run.out)  # costs in plain decimals
    status = json.loads(run.out)
    assert status["state"] == "completed" and status["percent"] == 100.0
    assert (status["clips_done"], status["clips_total"]) == (2, 2)
    assert isinstance(status["cost_usd"], float) and status["cost_usd"] > 0
    costliest = status["costliest_clips"]
    assert costliest and all(isinstance(c["clip"], int) and c["label"].startswith(f"clip {c['clip']}/2 ")
                             and isinstance(c["cost_usd"], float) for c in costliest)  # fmt: skip

    run = await render(address, "result", finished, "--json")
    result = json.loads(run.out)
    assert result["clips"] == 2 and result["manifest_uri"] == result["output_uri"] + ".render.json"
    manifest = json.loads(file_path(result["manifest_uri"]).read_text())
    assert [c["index"] for c in manifest["clips"]] == [0, 1]  # every clip's record, beside the video
    assert result["output_uri"].endswith(f"{finished}.mp4")

    run = await render(address, "list", "--json", "--query", "Channel = 'chaîne-ops'")
    listed = {v["video_id"]: v for v in json.loads(run.out)}
    assert listed[finished]["state"] == "completed" and listed[finished]["channel"] == "chaîne-ops"
    assert listed[finished]["cost_usd"] == status["cost_usd"] and listed[finished]["started_at"]
    assert listed[failed]["state"] == "failed" and listed[failed]["cost_usd"] is None

    run = await render(address, "list")
    header, *rows = run.out.splitlines()
    assert header.split() == ["STARTED", "(UTC)", "STATE", "CHANNEL", "CLIPS", "COST", "USD", "VIDEO", "ID"]
    row = next(r for r in rows if r.endswith(finished))
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+completed\s+chaîne-ops\s+2\s+0\.\d+\s", row), row


async def test_list_tells_an_invalid_job_from_a_failed_render(address: str, client: Client) -> None:
    video_id = f"cli-invalid-{uuid.uuid4().hex[:6]}"
    handle = await client.start_workflow(names.WORKFLOW_NAME, {"video_id": video_id, "clips": [{"kind": "card"}]},
                                         id=video_id, task_queue=names.CONTROL_QUEUE)  # fmt: skip
    with pytest.raises(Exception):  # noqa: B017
        await asyncio.wait_for(handle.result(), timeout=60)
    query = f"WorkflowId = '{video_id}' AND ExecutionStatus = 'Failed'"
    async with asyncio.timeout(30):  # visibility records the close a moment after the history
        while not [e async for e in client.list_workflows(query)]:
            await asyncio.sleep(0.2)
    run = await render(address, "list", "--json", "--query", f"WorkflowId = '{video_id}'")
    assert [v["state"] for v in json.loads(run.out)] == ["invalid"]
    run = await render(address, "status", video_id)
    assert run.code == 0 and run.out.startswith(f"{video_id}  invalid"), run.out
    run = await render(address, "result", video_id)
    assert run.code == RENDER_FAILED and run.line.startswith(f"render: {video_id} invalid: "), run.err


async def test_result_of_a_canceled_render_says_canceled(address: str, client: Client, tmp_path: Path) -> None:
    video_id = f"cli-canceled-{uuid.uuid4().hex[:6]}"
    job = write_job(tmp_path, small_job(video_id, gpu_class="a100"))  # nobody serves a100: it waits
    assert (await render(address, "submit", job, "--allow-no-worker")).code == 0
    assert (await render(address, "cancel", video_id)).code == 0
    run = await render(address, "result", video_id)
    assert run.code == RENDER_FAILED and run.line.startswith(f"render: {video_id} canceled"), run.err


async def test_ctrl_c_as_the_render_ends_reports_the_end(client: Client) -> None:
    """Ctrl-C landing once the render has ended, before the watch saw it close: the end is reported,
    not 'goes on rendering'."""
    renders = RenderClient(client)
    video_id = f"cli-ending-{uuid.uuid4().hex[:6]}"
    await renders.submit(small_job(video_id))
    watching = asyncio.create_task(watch(renders, video_id, json_lines=True))
    await asyncio.wait_for(client.get_workflow_handle(video_id).result(), timeout=120)
    watching.cancel()  # as asyncio.run does on SIGINT
    status = await watching
    assert status.state == "completed"


async def test_a_failed_render_says_how_far_it_got_and_why(address: str, failed: str) -> None:
    run = await render(address, "status", failed, "--json")
    status = json.loads(run.out)
    assert status["state"] == "failed"
    assert (status["clips_done"], status["clips_total"], status["frames_done"], status["frames_total"]) == (
        1,
        2,
        15,
        30,
    )
    assert status["error"].startswith('clip 2/2 · card "bad" · 0.5 s: ') and "\n" not in status["error"]
    run = await render(address, "watch", failed)
    progress, end = run.err.splitlines()  # where it got (never back to 0), then why it stopped
    assert progress.split() == ["50.0%", "clips", "1/2", "frames", "15/30", "failed"]
    assert run.code == RENDER_FAILED and end.startswith(f"render: {failed} failed: clip 2/2 · card")


async def test_workers_lists_only_workers_that_poll_now(address: str, client: Client, deps: Deps) -> None:
    run = await render(address, "workers", "--json")
    shown = json.loads(run.out)
    pollers = shown["queues"]
    assert pollers["render-control"] and all(isinstance(p["age_s"], float) for p in pollers["render-control"])
    # The session's workers joined the deployment as this build, and made it current on the fresh server.
    build = source_build_id()
    assert shown["deployment"] == "render" and shown["current"] == build
    (mine,) = [v for v in shown["versions"] if v["build_id"] == build]
    assert mine["status"] == "current" and mine["pollers"]["render-control"] >= 1
    assert {p["build_id"] for p in pollers["render-control"]} == {build}

    identity = f"stopped-{uuid.uuid4().hex[:6]}@cli-test"
    own = await Client.connect(address, identity=identity)
    gpu = await build_workers(own, WorkerOptions(mode="gpu", gpu_class="rtx6000ada", render_slots=1), deps, gpus=[])
    stop = asyncio.Event()
    running = asyncio.ensure_future(run_until_stopped(gpu, stop))
    renders = RenderClient(client)
    async with asyncio.timeout(30):
        while not (await renders.pollers(["render-gpu-rtx6000ada"]))["render-gpu-rtx6000ada"]:
            await asyncio.sleep(0.2)
    run = await render(address, "workers")
    assert f"render-gpu-rtx6000ada: 1 worker(s)\n  {identity}  build {build}  polled " in run.out
    assert f"worker deployment render: current {build}\n" in run.out
    stop.set()
    await running
    await asyncio.sleep(2)
    # The server keeps a stopped worker in its list for minutes; only a recent poll counts as polling now.
    recent = await renders.pollers(["render-gpu-rtx6000ada"], polling_now=timedelta(seconds=1))
    assert recent == {"render-gpu-rtx6000ada": []}


async def test_worker_logs_in_a_file_are_plain_text(address: str, tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        env = cli_env(address, RENDER_HEALTH_PORT="0", RENDER_LOG_LEVEL="INFO", RENDER_DATA_DIR=str(tmp_path))
        proc = await asyncio.create_subprocess_exec(str(BIN / "render-worker"), "--mode", "gpu", "--gpu-class", "l40s",
                                                    env=env, stdout=out, stderr=out)  # fmt: skip
        try:
            async with asyncio.timeout(60):
                while "worker started" not in log.read_text():
                    assert proc.returncode is None, log.read_text()
                    await asyncio.sleep(0.2)
        finally:
            proc.terminate()
            await proc.wait()
    text = log.read_text()
    assert "worker started" in text and "\x1b" not in text, text
