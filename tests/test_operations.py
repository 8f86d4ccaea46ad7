"""Operating the service: Web UI history, search attributes, cost, placement, webhooks, logs, GPUs."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import structlog
from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment

from activities.render import RenderActivities
from contracts import names, search
from contracts.job import JobError, parse_job
from contracts.plan import plan_video
from contracts.records import ClipWork
from devtools.testing import clips_of
from engine.deps import Deps
from runtime.logs import configure_logging
from starter import JobRefused, RenderClient
from tests.conftest import WEBHOOK_SECRET
from workers.gpus import discover_gpus, sample_gpus
from workers.main import WorkerOptions, build_workers, run_until_stopped

pytestmark = pytest.mark.usefixtures("workers")


def small_job(video_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "video_id": video_id,
        "channel": "channel-ops",
        "profile": {"width": 160, "height": 90},
        "clips": [{"kind": "card", "duration": 0.5, "lines": ["one"]}, {"kind": "recipe", "recipe": "testsrc",
                                                                          "duration": 0.5}],
        **extra,
    }  # fmt: skip


async def test_history_is_legible_and_searchable(client: Client) -> None:
    video_id = f"ops-{uuid.uuid4().hex[:6]}"
    renders = RenderClient(client)
    await renders.submit(small_job(video_id))
    result = await asyncio.wait_for(renders.result(video_id), timeout=120)
    handle = client.get_workflow_handle(video_id)

    desc = await handle.describe()
    assert await desc.static_summary() == f"{video_id} · 2 clips · 1.0 s"
    attrs = desc.typed_search_attributes
    assert attrs.get(search.VIDEO_STATUS) == "completed" and attrs.get(search.CHANNEL) == "channel-ops"
    assert attrs.get(search.CLIP_COUNT) == 2 and attrs.get(search.ENCODER) == "libx264"
    assert attrs.get(search.COST_USD) == pytest.approx(result.cost_usd)
    metadata = await handle.query("__temporal_workflow_metadata")
    assert "completed" in metadata.current_details and "clips 2/2" in metadata.current_details

    history = await handle.fetch_history()
    summaries = [
        await client.data_converter.decode([e.user_metadata.summary]) for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]  # fmt: skip
    labels = [s[0] for s in summaries]
    assert 'clip 1/2 · card "one" · 0.5 s' in labels and "clip 2/2 · recipe testsrc · 0.5 s" in labels
    assert any(label.startswith("concat 2 clips") for label in labels)

    query = f"Channel = 'channel-ops' AND VideoStatus = 'completed' AND WorkflowId = '{video_id}'"
    for _ in range(50):  # visibility is eventually consistent
        if [e.id async for e in client.list_workflows(query)] == [video_id]:
            break
        await asyncio.sleep(0.1)
    assert [e.id async for e in client.list_workflows(query)] == [video_id]


async def test_cost_per_video_names_the_costliest_clips(client: Client) -> None:
    video_id = f"cost-{uuid.uuid4().hex[:6]}"
    renders = RenderClient(client)
    await renders.submit(small_job(video_id))
    result = await asyncio.wait_for(renders.result(video_id), timeout=120)
    assert result.gpu_seconds == 0  # CPU encoder here
    assert result.cpu_seconds >= sum(c.cpu_seconds for c in clips_of(result)) > 0
    assert result.cost_usd == pytest.approx(result.cpu_seconds * 0.04 / 3600, rel=1e-3)
    assert 1 <= len(result.costliest_clips) <= 2 and result.costliest_clips[0].startswith("clip ")
    status = await renders.status(video_id)
    assert status.cost_usd == result.cost_usd


async def test_gpu_class_jobs_wait_for_that_class(client: Client, deps: Deps) -> None:
    video_id = f"l4-{uuid.uuid4().hex[:6]}"
    renders = RenderClient(client)
    with pytest.raises(JobRefused) as refused:  # nobody serves l4 yet: said at submit, naming the queue
        await renders.submit(small_job(video_id, gpu_class="l4"))
    assert refused.value.field == "gpu_class" and "render-gpu-l4" in str(refused.value)
    await renders.submit(small_job(video_id, gpu_class="l4"), require_worker=False)  # workers scaling from zero
    handle = client.get_workflow_handle(video_id)

    async def pending_renders() -> list[Any]:
        pending = (await handle.describe()).raw_description.pending_activities
        return [p for p in pending if p.activity_type.name == names.RENDER_CLIP]

    async with asyncio.timeout(60):  # check_job (and the sound track) run first on the control worker
        while not await pending_renders():
            await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)  # time enough for a worker of another class to take one, were it allowed
    waiting = await pending_renders()
    assert waiting and all(p.state == PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED for p in waiting)

    l4 = await build_workers(client, WorkerOptions(mode="gpu", gpu_class="l4", render_slots=2), deps, gpus=[])
    stop = asyncio.Event()
    running = asyncio.ensure_future(run_until_stopped(l4, stop))
    try:
        async with asyncio.timeout(30):  # a versioned worker is listed once its first poll reaches the server
            while not all((await renders.pollers(["render-gpu-l4", "render-gpu"])).values()):
                await asyncio.sleep(0.2)
        await asyncio.wait_for(renders.result(video_id), timeout=120)
    finally:
        stop.set()
        await running
    history = await handle.fetch_history()
    queues = {
        e.activity_task_scheduled_event_attributes.task_queue.name for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == names.RENDER_CLIP
    }  # fmt: skip
    assert queues == {"render-gpu-l4"}


async def test_unknown_gpu_class_is_refused(client: Client) -> None:
    with pytest.raises(JobRefused) as caught:
        await RenderClient(client).submit(small_job("v100-job", gpu_class="v100"))
    assert caught.value.field == "gpu_class" and "known: a100" in str(caught.value)
    with pytest.raises(JobError, match="min_gpu_memory_gb"):
        parse_job(small_job("big", min_gpu_memory_gb=500))
    assert parse_job(small_job("mem", min_gpu_memory_gb=20)).gpu_class == "rtx6000ada"


@dataclass
class Receiver:
    """A webhook receiver on loopback that fails its first `failures` deliveries."""

    failures: int
    requests: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                code = 500 if len(receiver.requests) < receiver.failures else 200
                receiver.requests.append((code, dict(self.headers), body))
                self.send_response(code)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        return Handler


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    hook = Receiver(failures=1)
    server = ThreadingHTTPServer(("127.0.0.1", 0), hook.handler())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield hook, f"http://127.0.0.1:{server.server_address[1]}/render-done"
    server.shutdown()


async def test_webhook_is_signed_retried_and_delivered_once(client: Client, receiver: tuple[Receiver, str]) -> None:
    hook, url = receiver
    video_id = f"hook-{uuid.uuid4().hex[:6]}"
    renders = RenderClient(client)
    await renders.submit(small_job(video_id, webhook_url=f"{url}?token=receiver-token-77"))
    result = await asyncio.wait_for(renders.result(video_id), timeout=120)
    run_id = (await client.get_workflow_handle(video_id).describe()).run_id
    notify = client.get_workflow_handle(f"{video_id}.notify.{run_id}")
    await asyncio.wait_for(notify.result(), timeout=60)
    summaries = [
        json.loads(e.user_metadata.summary.data)
        for e in (await notify.fetch_history()).events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    assert summaries == ["POST http://127.0.0.1 (completed)"]  # the Web UI shows no path or token

    assert [code for code, _, _ in hook.requests] == [500, 200]  # retried after the failure, then delivered once
    _, headers, body = hook.requests[-1]
    signed = headers["X-Render-Timestamp"].encode() + b"." + body
    expected = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Render-Signature"], expected)
    assert len({h["X-Render-Delivery"] for _, h, _ in hook.requests}) == 2  # one id per attempt
    notice = json.loads(body)
    assert notice["state"] == "completed" and notice["output_uri"] == result.output_uri


@contextmanager
def json_logs() -> Iterator[None]:
    """Production's JSON logs for the block, then the session's configuration again (never structlog's
    defaults, which print to stdout)."""
    session = structlog.get_config()
    configure_logging("json")
    try:
        yield
    finally:
        structlog.configure(**session)


async def test_activity_logs_carry_context_and_never_secrets(deps: Deps, capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-value-123")
    with json_logs():
        plan = plan_video(parse_job(small_job("logged")))
        inp = ClipWork("logged", plan.clips[0], plan.profile, "en", 1.0)
        await ActivityEnvironment().run(RenderActivities(deps).render, inp)
        structlog.get_logger("test").info("connecting", password="hunter2", api_key="key-value-456")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    rendered = [line for line in lines if line.get("event") == "clip rendered"]
    assert rendered and {"workflow_id", "run_id", "activity", "attempt", "clip_index", "video_id"} <= rendered[0].keys()
    text = json.dumps(lines)
    for secret in ("aws-secret-value-123", "hunter2", "key-value-456", WEBHOOK_SECRET):
        assert secret not in text
    assert any(line.get("password") == "[redacted]" for line in lines)


def test_without_nvml_the_worker_runs_in_cpu_mode(capsys: pytest.CaptureFixture[str]) -> None:
    with json_logs():
        assert discover_gpus() == [] and sample_gpus() == []
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    assert [line["event"] for line in lines] == ["no NVIDIA driver found, running in CPU mode"]
