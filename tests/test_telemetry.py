"""Per-channel metrics and traces from real workers on a real dev server.

The workers run in this process with an in-memory span exporter and a Runtime that serves the
SDK's metrics (ours recorded through `workflow.metric_meter()` among them) on a loopback port,
exactly as `render-worker` does; the tests read that port and prometheus_client's registry.
"""

from __future__ import annotations

import asyncio
import re
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY
from temporalio.client import Client, WorkflowFailureError, WorkflowHistory
from temporalio.runtime import Runtime
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from contracts import names, search
from devtools.devserver import temporal_binary
from engine.deps import Deps
from engine.metrics import OTHER, Channels, ErrorTypes
from engine.settings import Settings
from runtime.tracing import VideoTracing, tracing_interceptor
from starter import RenderClient
from workers.autoscaler.signals import TemporalSignals
from workers.main import WorkerOptions, build_workers, interceptors, run_until_stopped, sdk_runtime
from workers.telemetry import SPAN_CLIP_INDEX, SPAN_VIDEO_ID
from workflows import RenderVideo

HISTORIES = Path(__file__).resolve().parent / "histories"
CHANNEL = "news"
"""The one channel the workers' configuration names (RENDER_CHANNEL_WEIGHTS)."""
PARKED = "rtx6000ada"
"""A GPU class no worker here serves: its clips wait until canceled."""


@dataclass
class Farm:
    client: Client
    spans: InMemorySpanExporter
    sdk_metrics_url: str
    settings: Settings
    runtime: Runtime
    tracing: VideoTracing


@pytest.fixture(scope="module")
async def farm(settings: Settings) -> AsyncIterator[Farm]:
    runtime, url = sdk_runtime()
    configured = settings.replace(render={"channel_weights": {CHANNEL: 2.0}})
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = VideoTracing(provider.get_tracer("test"))
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(), search_attributes=search.ALL, runtime=runtime
    ) as env:
        options = WorkerOptions(mode="all", render_slots=2, drain_seconds=5, health_port=0)
        workers = await build_workers(env.client, options, Deps.from_settings(configured), gpus=[], tracing=tracing)
        stop = asyncio.Event()
        running = asyncio.ensure_future(run_until_stopped(workers, stop))
        yield Farm(env.client, exporter, url, configured, runtime, tracing)
        stop.set()
        await running


def small_job(video_id: str, **extra: Any) -> dict[str, Any]:
    clips = [
        {"kind": "card", "duration": 0.5, "lines": ["one"]},
        {"kind": "recipe", "recipe": "testsrc", "duration": 0.5},
    ]
    return {"video_id": video_id, "profile": {"width": 160, "height": 90}, "clips": clips, **extra}


def sdk_sample(farm: Farm, name: str, **labels: str) -> float:
    """The value of one series on the SDK's port (0 when absent), matched on the labels given."""
    with urllib.request.urlopen(farm.sdk_metrics_url, timeout=5) as response:
        text = response.read().decode()
    total = 0.0
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and all(f'{k}="{v}"' in match.group(1) for k, v in labels.items()):
            total += float(match.group(2))
    return total


async def eventually(farm: Farm, name: str, expected: float, **labels: str) -> None:
    async with asyncio.timeout(10):
        while sdk_sample(farm, name, **labels) != expected:
            await asyncio.sleep(0.1)


async def test_a_video_is_one_trace_with_a_span_per_activity_and_counted_by_channel(farm: Farm) -> None:
    renders = RenderClient(farm.client)
    await renders.submit(small_job("traced", channel=CHANNEL))
    result = await asyncio.wait_for(renders.result("traced"), timeout=120)

    spans = [s for s in farm.spans.get_finished_spans() if (s.attributes or {}).get("temporalWorkflowID") == "traced"]
    assert len({s.context.trace_id for s in spans if s.context}) == 1, "one trace per video"
    by_id = {s.context.span_id: s for s in spans if s.context}
    # The workflow's own spans hang under one parent: the client's span, or else one derived from the run.
    tops = [s for s in spans if s.parent is None or s.parent.span_id not in by_id]
    assert len({s.parent.span_id if s.parent else None for s in tops}) == 1
    assert f"RunWorkflow:{names.WORKFLOW_NAME}" in {s.name for s in tops}
    renders_run = [s for s in spans if s.name == f"RunActivity:{names.RENDER_CLIP}"]
    assert sorted(int((s.attributes or {})[SPAN_CLIP_INDEX]) for s in renders_run) == [0, 1]  # type: ignore[arg-type]
    assert all((s.attributes or {})[SPAN_VIDEO_ID] == "traced" for s in renders_run)
    for span in renders_run:  # each run hangs under the workflow's schedule of it
        assert span.parent and by_id[span.parent.span_id].name == f"StartActivity:{names.RENDER_CLIP}"
    ran = {s.name for s in spans}
    for activity_name in (names.CHECK_JOB, names.CONCAT_CLIPS, names.UPLOAD_VIDEO):
        assert f"RunActivity:{activity_name}" in ran
    print_trace(spans)

    await eventually(farm, "render_videos_started", 1, channel=CHANNEL)
    await eventually(farm, "render_videos_completed", 1, channel=CHANNEL)
    assert sdk_sample(farm, "render_video_seconds_count", channel=CHANNEL) == 1
    assert sdk_sample(farm, "render_video_cost_usd_sum", channel=CHANNEL) == pytest.approx(result.cost_usd, abs=1e-6)
    waited = REGISTRY.get_sample_value(
        "render_queue_wait_seconds_count", {"channel": CHANNEL, "task_queue": names.GPU_QUEUE}
    )
    assert waited is not None and waited >= 2  # two clips (and the narration step, if any)
    rendered = REGISTRY.get_sample_value("render_channel_render_seconds_total", {"channel": CHANNEL})
    assert rendered is not None and rendered > 0

    # Replaying the finished history (as a restarted worker would) on the same runtime counts nothing again.
    history = await farm.client.get_workflow_handle("traced").fetch_history()
    replayer = Replayer(workflows=[RenderVideo], interceptors=interceptors(farm.settings, None), runtime=farm.runtime)
    await replayer.replay_workflow(history)
    assert sdk_sample(farm, "render_videos_completed", channel=CHANNEL) == 1


async def test_a_traced_submitter_starts_the_video_s_trace(farm: Farm) -> None:
    """The `render` CLI's client carries the interceptor too: its StartWorkflow span is the trace's root."""
    config = farm.client.config()
    submitter = await Client.connect(
        farm.client.service_client.config.target_host, namespace=config["namespace"], interceptors=[farm.tracing]
    )
    renders = RenderClient(submitter)
    await renders.submit(small_job("submitted", channel=CHANNEL))
    await asyncio.wait_for(renders.result("submitted"), timeout=120)
    spans = [
        s for s in farm.spans.get_finished_spans() if (s.attributes or {}).get("temporalWorkflowID") == "submitted"
    ]
    (root,) = [s for s in spans if s.parent is None]
    assert root.name == f"StartWorkflow:{names.WORKFLOW_NAME}"
    assert {s.context.trace_id for s in spans if s.context} == {root.context.trace_id if root.context else 0}
    assert sum(s.name == f"RunActivity:{names.RENDER_CLIP}" for s in spans) == 2
    print_trace(spans)


async def test_failures_by_type_and_cancels_carry_a_bounded_channel(farm: Farm) -> None:
    # A job the workflow refuses, on a channel no configuration names: failed, InvalidJob, `other`.
    handle = await farm.client.start_workflow(
        names.WORKFLOW_NAME,
        {"video_id": "refused", "channel": "someone-else", "clips": []},
        id="refused",
        task_queue=names.CONTROL_QUEUE,
    )
    with pytest.raises(WorkflowFailureError):
        await asyncio.wait_for(handle.result(), timeout=60)
    await eventually(farm, "render_videos_failed", 1, channel=OTHER, error_type=names.INVALID_JOB)
    assert sdk_sample(farm, "render_videos_started", channel=OTHER) == 1
    assert sdk_sample(farm, "render_videos_failed", channel="someone-else") == 0

    renders = RenderClient(farm.client)
    await renders.submit(small_job("parked", channel=CHANNEL, gpu_class=PARKED), require_worker=False)
    async with asyncio.timeout(30):  # its clips are scheduled on a queue nobody polls
        while not (await farm.client.get_workflow_handle("parked").describe()).raw_description.pending_activities:
            await asyncio.sleep(0.1)
    # What RenderQueueWithoutPollers reads: the parked queue has work and no pollers, render-gpu has pollers.
    signals = TemporalSignals(farm.client)
    async with asyncio.timeout(30):
        while (parked := await signals.queue(f"{names.GPU_QUEUE}-{PARKED}")).backlog < 1:
            await asyncio.sleep(0.2)
    assert parked.pollers == 0
    assert (await signals.queue(names.GPU_QUEUE)).pollers >= 1
    await renders.cancel("parked")
    with pytest.raises(WorkflowFailureError):
        await asyncio.wait_for(renders.result("parked"), timeout=60)
    await eventually(farm, "render_videos_canceled", 1, channel=CHANNEL)


@pytest.mark.parametrize("recorded", sorted(p.name for p in HISTORIES.glob("*.json")))
async def test_every_recorded_history_replays_with_the_interceptors(recorded: str, settings: Settings) -> None:
    """The interceptors add no command: every history recorded so far replays under them unchanged."""
    history = WorkflowHistory.from_json(
        recorded.split("@")[0].removesuffix(".json"), (HISTORIES / recorded).read_text()
    )
    tracing = VideoTracing(TracerProvider().get_tracer("replay"))
    replayer = Replayer(workflows=[RenderVideo], interceptors=interceptors(settings, tracing))
    await replayer.replay_workflow(history)


def test_channel_and_error_labels_stay_bounded_under_a_thousand_names() -> None:
    channels = Channels([CHANNEL, "kids", "*"])
    labels = {channels.label(f"channel-{n}") for n in range(1000)} | {channels.label(CHANNEL), channels.label(None)}
    assert labels == {CHANNEL, OTHER}
    assert channels.label("*") == OTHER  # the map's wildcard is not a channel
    errors = ErrorTypes()
    types = {errors.label(f"Error{n}") for n in range(1000)} | {errors.label("not an identifier"), errors.label(None)}
    assert len(types) == 64 + 1 and OTHER in types


def test_tracing_is_off_without_an_otlp_endpoint() -> None:
    assert tracing_interceptor({}) is None
    assert tracing_interceptor({"OTEL_EXPORTER_OTLP_ENDPOINT": ""}) is None


def print_trace(spans: list[ReadableSpan]) -> None:
    """The trace as an indented tree (pytest -s shows it; docs/operations-dashboards.md quotes one)."""
    children: dict[int | None, list[ReadableSpan]] = {}
    ids = {s.context.span_id for s in spans if s.context}
    for span in spans:
        parent = span.parent.span_id if span.parent and span.parent.span_id in ids else None
        children.setdefault(parent, []).append(span)

    def walk(parent: int | None, depth: int) -> None:
        for span in sorted(children.get(parent, []), key=lambda s: s.start_time or 0):
            attributes = {k: v for k, v in (span.attributes or {}).items() if k.startswith("render.")}
            ms = ((span.end_time or 0) - (span.start_time or 0)) / 1e6
            print(f"{'  ' * depth}{span.name}  {ms:.0f} ms  {attributes or ''}")
            if span.context:
                walk(span.context.span_id, depth + 1)

    walk(None, 0)
