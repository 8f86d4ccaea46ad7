"""Any job the contract accepts renders, its history does not grow with the job, and every record is strict JSON.

Against the session's real dev server and workers: the job and its plan travel by key, the fan-out is
scheduled a page at a time, and the result is a bounded summary whose per-clip detail is in the manifest.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from contracts import names
from contracts.job import MAX_CLIPS, JobError, parse_job
from devtools.devserver import temporal_binary
from devtools.testing import clips_of
from starter.client import RenderClient

PAYLOAD_ATTRIBUTES = (
    "activity_task_scheduled_event_attributes",
    "activity_task_completed_event_attributes",
    "workflow_execution_completed_event_attributes",
    "marker_recorded_event_attributes",
)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def strict(data: bytes) -> Any:
    """Parse as JSON that every Temporal tool reads: NaN and infinities refused."""
    return json.loads(data, parse_constant=refuse_constant)


def recorded_payloads(history: WorkflowHistory) -> list[tuple[str, bytes]]:
    """Every payload the workflow wrote into history (inputs of what it scheduled, results, markers)."""
    found: list[tuple[str, bytes]] = []
    events: list[Any] = list(history.events)
    for event in events:
        for name in PAYLOAD_ATTRIBUTES:
            if not event.HasField(name):
                continue
            holder = getattr(event, name)
            if name == "marker_recorded_event_attributes":
                found += [(f"{event.event_id} marker", p.data) for d in holder.details.values() for p in d.payloads]
                continue
            payloads = holder.input if hasattr(holder, "input") else holder.result
            found += [(f"{event.event_id} {name}", p.data) for p in payloads.payloads]
    return found


def cards(video_id: str, count: int, **extra: Any) -> dict[str, Any]:
    """`count` three-frame cards, each with its own text: a compilation as large as the contract allows."""
    clips = [{"kind": "card", "lines": [f"Card {n}"], "duration": 0.1} for n in range(count)]
    return {
        "video_id": video_id,
        "profile": {"width": 128, "height": 72, "fps": 30},
        "max_parallel_clips": 16,
        "clips": clips,
        **extra,
    }


async def test_a_silent_video_has_a_result_every_temporal_tool_reads(client: Client, workers: None) -> None:
    """Sixty silent cards used to return a true peak of -Infinity: `temporal workflow result` could not print it."""
    video_id = unique("silent")
    renders = RenderClient(client)
    await renders.submit(cards(video_id, 6))
    result = await asyncio.wait_for(renders.result(video_id), timeout=240)
    assert result.loudness is not None and result.loudness.true_peak_dbtp is None  # silence has no finite peak
    printed = {command: temporal_json(client, command, video_id) for command in ("result", "describe")}
    assert printed["result"]["result"]["loudness"]["true_peak_dbtp"] is None
    assert printed["describe"]["workflowExecutionInfo"]["status"] in (
        "WORKFLOW_EXECUTION_STATUS_COMPLETED",
        "Completed",
    ), printed["describe"].keys()
    history = await client.get_workflow_handle(video_id).fetch_history()
    payloads = recorded_payloads(history)
    assert len(payloads) > 10
    for _, data in payloads:
        strict(data)


def temporal_json(client: Client, command: str, video_id: str) -> Any:
    """What `temporal workflow <command> -o json` prints, parsed strictly (it fails on a non-JSON number)."""
    shown = subprocess.run(
        [temporal_binary(), "workflow", command, "--address", client.service_client.config.target_host,
         "--workflow-id", video_id, "-o", "json"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    return strict(shown.stdout.encode())


async def test_every_payload_of_the_saved_histories_is_strict_json() -> None:
    for path in sorted((Path(__file__).parent / "histories").glob("*.json")):
        history = WorkflowHistory.from_json(path.stem, path.read_text())
        payloads = recorded_payloads(history)
        assert payloads, path.name
        for where, data in payloads:
            try:
                strict(data)
            except ValueError as err:
                raise AssertionError(f"{path.name} event {where}: {err}") from None


@pytest.mark.load
async def test_a_job_of_the_most_clips_renders_with_a_history_that_does_not_grow_per_payload(
    client: Client, workers: None
) -> None:
    """MAX_CLIPS three-frame cards: every recorded payload stays small, and the manifest lists every clip."""
    video_id = unique("most-clips")
    renders = RenderClient(client)
    await renders.submit(cards(video_id, MAX_CLIPS))
    result = await asyncio.wait_for(renders.result(video_id), timeout=1500)
    assert (result.clips, result.frames) == (MAX_CLIPS, 3 * MAX_CLIPS)
    assert [c.index for c in clips_of(result)] == list(range(MAX_CLIPS))
    history = await client.get_workflow_handle(video_id).fetch_history()
    sizes = [len(data) for where, data in recorded_payloads(history)]
    assert max(sizes) < 32 * 1024, max(sizes)  # a page of clip tickets is the largest, whatever the job's size
    renders_scheduled = [
        e for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == names.RENDER_CLIP
    ]  # fmt: skip
    assert len(renders_scheduled) == MAX_CLIPS


def test_the_contract_refuses_one_clip_past_the_limit_by_name() -> None:
    with pytest.raises(JobError) as err:
        parse_job(cards("too-many", MAX_CLIPS + 1))
    assert err.value.field == "clips" and str(MAX_CLIPS) in str(err.value)
    assert parse_job(cards("most", MAX_CLIPS)).clips


@workflow.defn(name="AlwaysFailingTask")
class AlwaysFailingTask:
    """A workflow whose every task fails, as one whose payload is too large or that deadlocks would."""

    @workflow.run
    async def run(self) -> None:
        raise RuntimeError("this workflow task cannot complete")


async def test_a_workflow_task_that_keeps_failing_is_reported_with_its_reason(client: Client) -> None:
    video_id = unique("stuck")
    queue = unique("stuck-queue")
    async with Worker(
        client, task_queue=queue, workflows=[AlwaysFailingTask], workflow_runner=UnsandboxedWorkflowRunner()
    ):
        await client.start_workflow("AlwaysFailingTask", id=video_id, task_queue=queue)
        renders = RenderClient(client)
        async with asyncio.timeout(30):
            while (status := await renders.status(video_id, check_workers=False)).stage != "workflow task failing":
                await asyncio.sleep(0.5)
    assert status.state == "running"
    assert status.error is not None and "this workflow task cannot complete" in status.error, status.error
    assert "retried" in status.error
    await client.get_workflow_handle(video_id).terminate("test over")


def japanese_trivia(video_id: str, questions: int) -> dict[str, Any]:
    """A Japanese trivia job at 1080p: about 216 characters a question, as the farm's largest channels send."""
    stem = (
        "日本の歴史と文化についての問題です。"
        "江戸時代に最も長く続いた幕府の将軍は誰でしょうか？正しいと思う答えを選んでください。"
    )
    return {
        "video_id": video_id,
        "tts_voice": "ja",
        "tts_engine": "none",
        "profile": {"width": 1920, "height": 1080, "fps": 30},
        "questions": [
            {
                "question": f"第{n + 1}問：{stem * 3}"[: 120 + n % 10],
                "answer_a": "江戸幕府初代将軍の徳川家康（いえやす）",
                "answer_b": "江戸幕府五代将軍の徳川綱吉（つなよし）",
                "answer_c": "江戸幕府八代将軍の徳川吉宗（よしむね）",
                "answer_d": "江戸幕府最後の将軍の徳川慶喜（よしのぶ）",
                "correct_answer": "C",
            }
            for n in range(questions)
        ],
    }


@pytest.mark.load
async def test_a_250_question_japanese_job_starts_rendering_within_a_minute(client: Client, workers: None) -> None:
    """It used to record a 2.6 MB plan marker, over the server's 2 MB limit: the video stuck in "validating"."""
    video_id = unique("ja-250")
    job = japanese_trivia(video_id, 250)
    texts = [q[k] for q in job["questions"] for k in ("question", "answer_a", "answer_b", "answer_c", "answer_d")]
    assert 50_000 < sum(map(len, texts)) < 100_000
    renders = RenderClient(client)
    await renders.submit(job)
    try:
        async with asyncio.timeout(60):
            while (status := await renders.status(video_id, check_workers=False)).clips_done < 1:
                assert status.stage != "workflow task failing", status.error
                assert status.state == "running", (status.state, status.error)
                await asyncio.sleep(1)
        assert status.clips_total == 500
    finally:
        await renders.cancel(video_id)
