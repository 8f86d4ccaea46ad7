"""Many channels on one farm: priority and fairness keys on every task, per-channel limits, batch submission."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Replayer

from activities.assemble import AssembleActivities
from activities.validate import job_hash
from contracts import search
from contracts.job import parse_job
from contracts.tenancy import fairness_key, task_priority
from devtools.devserver import FAIR_MATCHING, dynamic_config_args, temporal_binary
from engine.deps import Deps
from engine.settings import Settings
from starter import RenderClient
from starter.batch import BatchEntry, exit_status, read_batch, submit_batch, summary_text
from starter.cli import parser, run
from starter.client import ChannelFull
from workers.autoscaler.signals import TemporalSignals
from workers.main import WorkerOptions, build_workers, run_until_stopped
from workflows import RenderVideo

pytestmark = pytest.mark.usefixtures("workers")
PARKED = "rtx6000ada"
"""A GPU class no test serves: a video for it stays running (its clips wait in the queue) until canceled."""


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def small_job(video_id: str, **extra: Any) -> dict[str, Any]:
    clips = [
        {"kind": "card", "duration": 0.5, "lines": ["one"]},
        {"kind": "recipe", "recipe": "testsrc", "duration": 0.5},
    ]
    return {"video_id": video_id, "profile": {"width": 160, "height": 90}, "clips": clips, **extra}


def parked_job(video_id: str, channel: str) -> dict[str, Any]:
    return small_job(video_id, channel=channel, gpu_class=PARKED)


@pytest.fixture
async def started(client: Client) -> AsyncIterator[list[str]]:
    """Ids a test started; every one still running afterwards is canceled, so no parked video outlives it."""
    ids: list[str] = []
    yield ids
    for video_id in ids:
        handle = client.get_workflow_handle(video_id)
        if (await handle.describe()).status == 1:  # running
            await handle.cancel()


async def test_every_task_carries_the_jobs_priority_and_its_channel(client: Client) -> None:
    video_id, channel = unique("urgent"), unique("news")
    renders = RenderClient(client)
    await renders.submit(small_job(video_id, channel=channel, priority=1))
    await asyncio.wait_for(renders.result(video_id), timeout=120)

    history = await client.get_workflow_handle(video_id).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    assert (started.priority.priority_key, started.priority.fairness_key) == (1, channel)
    scheduled = [
        e.activity_task_scheduled_event_attributes
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    assert {a.activity_type.name for a in scheduled} >= {"check_job", "render_clip", "concat_clips", "upload_video"}
    for attrs in scheduled:
        assert (attrs.priority.priority_key, attrs.priority.fairness_key) == (1, channel), attrs.activity_type.name
    renders_of = [a for a in scheduled if a.activity_type.name == "render_clip"]
    assert renders_of and all(a.priority.fairness_weight == 1.0 for a in renders_of)


async def test_a_job_without_priority_queues_at_the_default_key(client: Client) -> None:
    video_id = unique("plain")
    renders = RenderClient(client)
    await renders.submit(small_job(video_id))
    await asyncio.wait_for(renders.result(video_id), timeout=120)
    history = await client.get_workflow_handle(video_id).fetch_history()
    keys = {
        (e.activity_task_scheduled_event_attributes.priority.priority_key,
         e.activity_task_scheduled_event_attributes.priority.fairness_key)
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    }  # fmt: skip
    assert keys == {(3, "default")}


async def test_the_channel_weight_comes_from_the_control_workers_configuration(settings: Settings) -> None:
    weighted = Deps.from_settings(settings.replace(render={"channel_weights": {"news": 4.0, "*": 0.5}}))
    check = AssembleActivities(weighted).check
    env = ActivityEnvironment()
    news = await env.run(check, unique("w"), None, [], "", "news")
    other = await env.run(check, unique("w"), None, [], "", "kids")
    assert (news.fairness_weight, other.fairness_weight) == (4.0, 0.5)
    plain = await ActivityEnvironment().run(
        AssembleActivities(Deps.from_settings(settings)).check, unique("w"), None, [], "", "news"
    )
    assert plain.fairness_weight == 1.0


def test_a_long_channel_still_makes_a_valid_fairness_key() -> None:
    long = "é" * 64  # 64 characters, 128 bytes: over Temporal's 64-byte limit
    key = fairness_key(long)
    assert len(key.encode()) <= 64 and key == fairness_key(long) and key != fairness_key("è" * 64)
    assert fairness_key("news") == "news"
    assert task_priority(2, "news", 3.0).fairness_weight == 3.0


async def test_a_full_channel_refuses_its_next_video_naming_the_limit(client: Client, started: list[str]) -> None:
    channel, other = unique("o'brien"), unique("kids")  # a quote in the name: the count query escapes it
    renders = RenderClient(client, channel_limits={channel: 1})
    first = unique("full")
    await renders.submit(parked_job(first, channel), require_worker=False)
    started.append(first)
    assert await renders.in_flight(channel) == 1

    with pytest.raises(ChannelFull) as refused:
        await renders.submit(parked_job(unique("full"), channel), require_worker=False)
    assert refused.value.field == "channel"
    assert str(refused.value) == f"channel: channel {channel!r} has 1 videos in flight; its limit is 1"
    neighbour = unique("free")
    await renders.submit(parked_job(neighbour, other), require_worker=False)  # other channels are not limited
    started.append(neighbour)

    await renders.cancel(first)
    async with asyncio.timeout(30):
        while await renders.in_flight(channel):
            await asyncio.sleep(0.2)
    again = unique("full")
    await renders.submit(parked_job(again, channel), require_worker=False)
    started.append(again)


async def test_a_catch_all_limit_applies_to_every_channel_not_named(client: Client, started: list[str]) -> None:
    renders = RenderClient(client, channel_limits={"*": 1, "big": 50})
    channel = unique("small")
    first = unique("all")
    await renders.submit(parked_job(first, channel), require_worker=False)
    started.append(first)
    with pytest.raises(ChannelFull):
        await renders.submit(parked_job(unique("all"), channel), require_worker=False)


async def test_back_to_back_submits_never_overshoot_the_limit(client: Client, started: list[str]) -> None:
    """Visibility writes a moment after a start; one submitter still counts every video it started."""
    channel = unique("burst")
    renders = RenderClient(client, channel_limits={channel: 3})
    outcomes = []
    for _ in range(6):
        video_id = unique("burst")
        try:
            await renders.submit(parked_job(video_id, channel), require_worker=False)
            started.append(video_id)
            outcomes.append("started")
        except ChannelFull:
            outcomes.append("refused")
    assert outcomes == ["started"] * 3 + ["refused"] * 3
    assert await renders.in_flight(channel) == 3


def write_lines(path: Path, lines: list[Any]) -> Path:
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    return path


async def test_a_batch_starts_skips_and_refuses_each_line_and_resumes(
    client: Client, tmp_path: Path, started: list[str]
) -> None:
    channel = unique("batch")
    ids = [unique("b") for _ in range(3)]
    started += ids
    batch = write_lines(
        tmp_path / "jobs.jsonl",
        [
            parked_job(ids[0], channel),
            parked_job(ids[1], channel),
            "",
            parked_job(ids[0], channel),  # the same id twice: the second is skipped
            {"video_id": "bad", "clips": [{"kind": "card", "duration": -1}]},
            "{not json",
            [1, 2],
        ],
    )
    renders = RenderClient(client)
    summary = await submit_batch(renders, batch, rate=50, require_worker=False)
    assert summary.counts() == {"started": 2, "skipped": 1, "refused": 3, "failed": 0}
    by_line = {e.source.rsplit(":", 1)[1]: e for e in summary.entries}
    assert (by_line["1"].outcome, by_line["2"].outcome) == ("started", "started")
    assert by_line["4"] == BatchEntry(f"{batch}:4", "skipped", ids[0], "already running")
    assert by_line["5"].outcome == "refused" and by_line["5"].reason.startswith("clips[0].duration: must be between")
    assert by_line["6"].reason.startswith("cannot read the job: ")
    assert by_line["7"].reason == "cannot read the job: expected a JSON object"
    assert exit_status(summary) == 2
    text = summary_text(summary)
    assert text.startswith("2 started, 1 skipped, 3 refused, 0 failed") and f"{batch}:5 (bad): clips[0]" in text

    # Interrupted or not, running it again starts only what is missing.
    write_lines(batch, [*[parked_job(i, channel) for i in ids]])
    again = await submit_batch(renders, batch, rate=50, require_worker=False)
    assert [e.outcome for e in again.entries] == ["skipped", "skipped", "started"]
    assert exit_status(again) == 0


async def test_a_batch_waits_for_room_in_a_full_channel(client: Client, tmp_path: Path, started: list[str]) -> None:
    channel = unique("room")
    ids = [unique("r") for _ in range(2)]
    started += ids
    batch = write_lines(tmp_path / "jobs.jsonl", [parked_job(i, channel) for i in ids])
    renders = RenderClient(client, channel_limits={channel: 1})

    refused = await submit_batch(renders, batch, rate=50, require_worker=False)
    assert [e.outcome for e in refused.entries] == ["started", "refused"]
    assert "its limit is 1" in refused.entries[1].reason

    async def free_a_slot() -> None:
        await asyncio.sleep(1)
        await renders.cancel(ids[0])

    freeing = asyncio.ensure_future(free_a_slot())
    waited = await asyncio.wait_for(
        submit_batch(renders, batch, rate=50, require_worker=False, wait_for_room=True), timeout=60
    )
    await freeing
    # The first was still running when its line was read; the second started once the first was canceled.
    assert [e.outcome for e in waited.entries] == ["skipped", "started"]
    status = await renders.status(ids[0])
    assert status.state == "canceled"


async def test_render_submit_batch_reads_a_folder_and_prints_json(
    client: Client, tmp_path: Path, started: list[str], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    folder = tmp_path / "jobs"
    folder.mkdir()
    channel = unique("dir")
    ids = sorted(unique("d") for _ in range(2))
    started += ids
    for video_id in ids:
        (folder / f"{video_id}.json").write_text(json.dumps(parked_job(video_id, channel)))
    (folder / "zz-broken.json").write_text("[")
    (folder / "notes.txt").write_text("not a job")
    assert [source for source, _ in read_batch(folder)] == [*(str(folder / f"{i}.json") for i in ids),
                                                            str(folder / "zz-broken.json")]  # fmt: skip

    monkeypatch.setenv("TEMPORAL_ADDRESS", client.service_client.config.target_host)
    args = parser().parse_args(["submit-batch", str(folder), "--json", "--allow-no-worker", "--rate", "20"])
    assert await run(args) == 2
    printed = json.loads(capsys.readouterr().out)
    assert printed["counts"] == {"started": 2, "skipped": 0, "refused": 1, "failed": 0}
    assert [e["video_id"] for e in printed["entries"]][:2] == ids


@pytest.mark.parametrize("rate", ["0", "-1", "fast", "inf"])
def test_a_batch_rate_must_be_above_zero(rate: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(["submit-batch", "jobs.jsonl", "--rate", rate])
    assert "--rate: must be a number of starts per second > 0" in capsys.readouterr().err


HISTORIES = Path(__file__).parent / "histories"


def scheduled_priorities(history: WorkflowHistory) -> set[tuple[int, str]]:
    return {
        (e.activity_task_scheduled_event_attributes.priority.priority_key,
         e.activity_task_scheduled_event_attributes.priority.fairness_key)
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    }  # fmt: skip


@pytest.mark.parametrize(("recorded", "channel"), [("trivia-e2e", "channel-test"), ("cancel-e2e", "default")])
async def test_every_recorded_task_carries_the_priority_and_the_channel(recorded: str, channel: str) -> None:
    """Every activity a video schedules queues at its job's priority, under its channel's fairness key."""
    history = WorkflowHistory.from_json(recorded, (HISTORIES / f"{recorded}.json").read_text())
    assert scheduled_priorities(history) == {(3, channel)}
    await Replayer(workflows=[RenderVideo]).replay_workflow(history)


async def test_the_autoscaler_counts_every_priority_and_channel_in_the_backlog(deps: Deps) -> None:
    """With fairness on, a queue's backlog is split by priority and fairness key; DescribeTaskQueue still sums it."""
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        search_attributes=search.ALL,
        dev_server_extra_args=dynamic_config_args(FAIR_MATCHING),
    ) as env:
        control = await build_workers(env.client, WorkerOptions(mode="control", drain_seconds=1, health_port=0), deps)
        stop = asyncio.Event()
        running = asyncio.ensure_future(run_until_stopped(control, stop))
        try:
            renders = RenderClient(env.client)
            jobs = [("a-1", "news", 5), ("a-2", "news", 5), ("b-1", "kids", 1)]
            for video_id, channel, priority in jobs:
                await renders.submit({**parked_job(video_id, channel), "priority": priority}, require_worker=False)
            signals = TemporalSignals(env.client)
            async with asyncio.timeout(30):
                while (signal := await signals.queue(f"render-gpu-{PARKED}")).backlog < 2 * len(jobs):
                    await asyncio.sleep(0.2)
            assert signal.backlog == 2 * len(jobs)  # two clips a video, every priority and channel counted
            for video_id, _, _ in jobs:
                await renders.cancel(video_id)
        finally:
            stop.set()
            await running


async def test_the_job_hash_ignores_priority_and_matches_the_recorded_hash() -> None:
    """A video restarted with the same job at another priority is still the same job."""
    history = WorkflowHistory.from_json("trivia-e2e", (HISTORIES / "trivia-e2e.json").read_text())
    converter = DataConverter.default.payload_converter
    raw = history.events[0].workflow_execution_started_event_attributes.input.payloads[0]
    job = converter.from_payload(raw)
    marker = next(
        e.marker_recorded_event_attributes
        for e in history.events
        if e.marker_recorded_event_attributes.marker_name == "core_local_activity"
    )
    validated = converter.from_payload(marker.details["result"].payloads[0])
    parsed = parse_job(job)
    assert job_hash(parsed) == validated["job_hash"] != ""
    assert job_hash(parse_job({**job, "priority": 1})) == job_hash(parsed)
    assert job_hash(parse_job({**job, "channel": "another"})) != job_hash(parsed)
    assert job_hash(parse_job({**job, "tts_engine": "polly"})) != job_hash(parsed)
