"""The whole service against a real Temporal dev server, real workers and real ffmpeg."""

from __future__ import annotations

import asyncio
import html
import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError, WorkflowHistory
from temporalio.exceptions import CancelledError
from temporalio.worker import Replayer

from contracts import names
from contracts.job import parse_job
from contracts.plan import plan_video
from contracts.records import Progress
from devtools.devserver import temporal_binary
from devtools.testing import clips_of
from engine.settings import Settings
from engine.storage import file_path
from starter import JobRefused, RenderClient
from tests.conftest import failure_of
from tests.media import rgb_frame, streams
from tests.test_captions import parsed_vtt
from workflows import RenderVideo

HISTORIES = Path(__file__).parent / "histories"
pytestmark = pytest.mark.usefixtures("workers")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def workflow_task_failures(client: Client, video_id: str) -> int:
    history = await client.get_workflow_handle(video_id).fetch_history()
    return sum(1 for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED)


async def test_seed_trivia_job_renders_end_to_end(client: Client, seed_job: dict[str, Any]) -> None:
    seed_job["video_id"] = "trivia-e2e"  # each test session has a fresh server; the id names the saved history
    seed_job["captions"] = ["vtt", "srt"]
    renders = RenderClient(client)
    video_id = await renders.submit(seed_job)
    result = await asyncio.wait_for(renders.result(video_id), timeout=240)
    plan = plan_video(parse_job(seed_job))

    grown = sum(c.grown_frames for c in clips_of(result))
    assert plan.frames == 165 and grown > 0  # the 1.5 s questions are shorter than their narration
    assert result.frames == plan.frames + grown
    assert [c.index for c in clips_of(result)] == list(range(5))
    assert {c.narration for c in clips_of(result)} == {"track"}  # clips are video only; the sound is built once
    loudness = result.loudness
    assert loudness and loudness.integrated_lufs is not None and loudness.true_peak_dbtp is not None
    assert abs(loudness.integrated_lufs + 14) <= 1 and loudness.true_peak_dbtp <= -1.4
    assert result.encoder == "libx264" and not result.reencoded_at_concat
    info = streams(file_path(result.output_uri))
    video, audio = info["video"], info["audio"]
    assert video["codec_name"] == "h264" and audio["codec_name"] == "aac"
    assert (video["width"], video["height"], video["r_frame_rate"]) == (320, 180, "30/1")
    # Below HD: BT.601 (SMPTE 170M) limited range, tagged on every clip and kept by the join.
    assert [video[k] for k in ("color_space", "color_primaries", "color_transfer", "color_range")] == [
        "smpte170m", "smpte170m", "smpte170m", "tv",
    ]  # fmt: skip
    assert int(video["nb_read_frames"]) == result.frames
    assert abs(float(video["duration"]) - result.frames / 30) <= 1 / 30
    assert abs(float(audio["duration"]) - float(video["duration"])) <= 1 / 30
    assert result.bytes == file_path(result.output_uri).stat().st_size
    # The poster: the first question's middle frame (never a reveal), as a JPEG beside the video, in the same colours.
    assert result.poster_uri == result.output_uri + ".poster.jpg"
    with Image.open(file_path(result.poster_uri)) as poster:
        assert (poster.format, poster.size) == ("JPEG", (320, 180))
        shown = np.asarray(poster.convert("RGB")).astype(np.int16)
    # The first question grew to hold its narration: the poster is the middle of its grown length.
    first_question = clips_of(result)[0].frames
    at = (first_question // 2) / 30
    assert first_question > 45  # grown from 1.5 s
    seen = rgb_frame(file_path(result.output_uri), at, 320, 180, "bt601").astype(np.int16)
    assert np.abs(shown - seen).mean() < 6

    # Captions: the questions' and reveals' narration, each cue inside its clip, as WebVTT and SubRip.
    assert (result.caption_uri, result.srt_uri) == (result.output_uri + ".vtt", result.output_uri + ".srt")
    cues = parsed_vtt(file_path(result.caption_uri))
    spoken = [c for c in plan.clips if c.spec.narration]
    assert [text for *_, text in cues] == [html.escape(c.spec.narration or "", quote=False) for c in spoken]
    starts = np.cumsum([0] + [c.frames for c in clips_of(result)]) / 30
    for (start, end, _), clip in zip(cues, spoken, strict=True):
        assert starts[clip.index] <= start < end <= starts[clip.index + 1]
    assert file_path(result.srt_uri).read_text(encoding="utf-8").count(" --> ") == len(cues)

    status = await renders.status(video_id)
    assert (status.state, status.clips_done, status.frames_done) == ("completed", 5, result.frames)
    history = await replay_and_save(client, video_id)
    payload_bytes = sum(len(p.data) for e in history.events for p in _payloads(e))
    assert payload_bytes < 64 * 1024  # URIs and small records, never media


async def replay_and_save(client: Client, video_id: str) -> WorkflowHistory:
    """Replay a fresh history with today's code; with UPDATE_HISTORIES=1 keep it for future replays."""
    history = await client.get_workflow_handle(video_id).fetch_history()
    await Replayer(workflows=[RenderVideo]).replay_workflow(history)
    if os.environ.get("UPDATE_HISTORIES"):
        (HISTORIES / f"{video_id}.json").write_text(history.to_json())
    return history


def _payloads(event: Any) -> list[Any]:
    found = []
    for attr in (
        "activity_task_scheduled_event_attributes",
        "activity_task_completed_event_attributes",
        "workflow_execution_started_event_attributes",
        "workflow_execution_completed_event_attributes",
    ):
        if event.HasField(attr):
            holder = getattr(event, attr)
            field = "input" if hasattr(holder, "input") else "result"
            found += list(getattr(holder, field).payloads)
    return found


@pytest.mark.parametrize("history_file", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
async def test_saved_histories_replay(history_file: Path) -> None:
    # Files are <workflow id>.json, or <workflow id>@<label>.json for histories kept from older code.
    history = WorkflowHistory.from_json(history_file.stem.split("@")[0], history_file.read_text())
    await Replayer(workflows=[RenderVideo]).replay_workflow(history)


async def test_raw_temporal_cli_start(client: Client, seed_job: dict[str, Any], tmp_path: Path) -> None:
    video_id = unique("raw-cli")
    seed_job["video_id"] = video_id
    seed_job["questions"] = seed_job["questions"][:1]
    seed_job["total_questions"] = 1
    job_file = tmp_path / "job.json"
    job_file.write_text(json.dumps(seed_job))
    subprocess.run(
        [
            temporal_binary(),
            "workflow",
            "start",
            "--address",
            client.service_client.config.target_host,
            "--type",
            names.WORKFLOW_NAME,
            "--task-queue",
            names.CONTROL_QUEUE,
            "--workflow-id",
            video_id,
            "--input-file",
            str(job_file),
        ],
        check=True,
        capture_output=True,
    )
    result = await asyncio.wait_for(RenderClient(client).result(video_id), timeout=240)
    assert result.frames == 45 + 30 + 15 + sum(c.grown_frames for c in clips_of(result))  # narration never cut
    assert file_path(result.output_uri).exists()


async def test_duplicate_submit_is_refused(client: Client, seed_job: dict[str, Any]) -> None:
    seed_job["video_id"] = unique("dup")
    seed_job["questions"], seed_job["total_questions"] = [], 0
    renders = RenderClient(client)
    await renders.submit(seed_job)
    with pytest.raises(JobRefused, match="already exists"):
        await renders.submit(seed_job)
    await asyncio.wait_for(renders.result(seed_job["video_id"]), timeout=120)
    with pytest.raises(JobRefused, match="already exists") as caught:
        await renders.submit(seed_job)  # completed: never rendered twice
    assert caught.value.field == "video_id"


async def test_starter_refuses_bad_jobs_before_starting(client: Client) -> None:
    renders = RenderClient(client)
    video_id = unique("refused")
    with pytest.raises(JobRefused) as caught:
        await renders.submit({"video_id": video_id, "clips": [{"kind": "card", "duration": -3}]})
    assert caught.value.field == "clips[0].duration"
    assert [v async for v in client.list_workflows(f"WorkflowId = '{video_id}'")] == []


RAW_BAD_JOBS = [
    (["not", "an", "object"], "job: expected a JSON object"),
    ({"clips": [{"kind": "card", "duration": 1}]}, "video_id: is required"),
    ({"video_id": "ID", "clips": [{"kind": "hologram", "duration": 1}]}, "clips[0].kind: unknown clip kind"),
    ({"video_id": "someone-else", "clips": [{"kind": "card", "duration": 1}]}, "must equal the workflow id"),
    ({"video_id": "ID", "clips": [{"kind": "card", "duration": 1, "lines": ["x" * 5000]}]}, "clips[0].lines[0]"),
]


@pytest.mark.parametrize(("raw", "message"), RAW_BAD_JOBS, ids=[m.split(":")[0] for _, m in RAW_BAD_JOBS])
async def test_bad_job_started_raw_fails_fast_and_never_loops(client: Client, raw: Any, message: str) -> None:
    video_id = unique("bad")
    if isinstance(raw, dict) and raw.get("video_id") == "ID":
        raw = {**raw, "video_id": video_id}
    await client.start_workflow(names.WORKFLOW_NAME, raw, id=video_id, task_queue=names.CONTROL_QUEUE)
    error = await failure_of(client, video_id)
    assert error.type == names.INVALID_JOB and error.non_retryable
    assert message in error.message
    assert await workflow_task_failures(client, video_id) == 0


async def test_output_outside_roots_fails_before_rendering(client: Client, settings: Settings) -> None:
    video_id = unique("escape")
    job = {
        "video_id": video_id,
        "output_uri": "file:///etc/render-escape.mp4",
        "clips": [{"kind": "card", "duration": 1}],
    }
    await client.start_workflow(names.WORKFLOW_NAME, job, id=video_id, task_queue=names.CONTROL_QUEUE)
    error = await failure_of(client, video_id)
    assert error.type == names.FORBIDDEN_PATH and "output_uri" in error.message
    history = await client.get_workflow_handle(video_id).fetch_history()
    assert not any(
        e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == names.RENDER_CLIP
        for e in history.events
    )
    assert not Path("/etc/render-escape.mp4").exists()


async def test_missing_asset_fails_the_video_cleanly(client: Client, settings: Settings) -> None:
    video_id = unique("missing-asset")
    asset = f"{settings.storage.asset_roots[0]}/nowhere.png"
    job = {"video_id": video_id, "clips": [{"kind": "card", "duration": 1, "image": asset}]}
    await RenderClient(client).submit(job)
    error = await failure_of(client, video_id)
    assert error.type == names.BAD_ASSET and asset in error.message
    status = await RenderClient(client).status(video_id)
    assert status.state == "failed" and asset in (status.error or "")


async def test_cancel_stops_ffmpeg_and_removes_intermediates(client: Client, settings: Settings) -> None:
    video_id = "cancel-e2e"
    job = {"video_id": video_id, "profile": {"width": 640, "height": 360},
           "clips": [{"kind": "recipe", "recipe": "testsrc", "duration": 60}] * 2}  # fmt: skip
    renders = RenderClient(client)
    await renders.submit(job)
    segments = file_path(settings.storage.work_uri) / video_id / "segments"
    async with asyncio.timeout(60):
        while not list(segments.glob("*/*.mov")):
            await asyncio.sleep(0.05)
    await renders.cancel(video_id)
    with pytest.raises(WorkflowFailureError) as caught:
        await asyncio.wait_for(renders.result(video_id), timeout=60)
    assert isinstance(caught.value.cause, CancelledError)

    status = await renders.status(video_id)
    assert status.state == "canceled"
    progress = await client.get_workflow_handle(video_id).query(names.PROGRESS_QUERY, result_type=Progress)
    assert progress.stage.startswith("canceled: work stopped")
    alive = subprocess.run(["pgrep", "-f", video_id], capture_output=True, text=True).stdout
    assert alive == ""  # no ffmpeg left for this video
    assert not (file_path(settings.storage.work_uri) / video_id).exists()
    assert not list(settings.storage.scratch_dir.rglob(f"{video_id}*"))
    await replay_and_save(client, video_id)
