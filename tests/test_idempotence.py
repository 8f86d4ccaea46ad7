"""Idempotence: the same job started many times at once renders once; a retried upload publishes once, whole."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.testing import ActivityEnvironment

from activities.assemble import AssembleActivities
from contracts import names
from contracts.records import UploadInput
from devtools.testing import clips_of
from engine.deps import Deps
from engine.storage import file as file_storage
from engine.storage import file_path
from starter import JobRefused, RenderClient

TWINS = 8


def job(video_id: str) -> dict[str, Any]:
    return {
        "video_id": video_id,
        "profile": {"width": 160, "height": 90},
        "clips": [
            {"kind": "card", "duration": 0.5, "lines": ["once"]},
            {"kind": "recipe", "recipe": "life", "duration": 0.5},
        ],
    }


async def renders_of(client: Client, video_id: str) -> tuple[int, list[int]]:
    """How many runs the id has, and the attempt of every clip render started across them."""
    runs = [w async for w in client.list_workflows(f"WorkflowId = '{video_id}'")]
    attempts = []
    for run in runs:
        history = await client.get_workflow_handle(video_id, run_id=run.run_id).fetch_history()
        scheduled = {
            e.event_id
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            and e.activity_task_scheduled_event_attributes.activity_type.name == names.RENDER_CLIP
        }
        attempts += [
            e.activity_task_started_event_attributes.attempt
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
            and e.activity_task_started_event_attributes.scheduled_event_id in scheduled
        ]
    return len(runs), attempts


@pytest.mark.usefixtures("workers")
async def test_the_same_job_submitted_at_once_renders_once(client: Client) -> None:
    video_id = f"twins-{uuid.uuid4().hex[:6]}"
    renders = RenderClient(client)
    outcomes = await asyncio.gather(*(renders.submit(job(video_id)) for _ in range(TWINS)), return_exceptions=True)
    accepted = [o for o in outcomes if o == video_id]
    refused = [o for o in outcomes if isinstance(o, JobRefused)]
    assert len(accepted) == 1 and len(refused) == TWINS - 1, outcomes
    assert all(r.field == "video_id" and "already exists" in str(r) for r in refused)

    result = await asyncio.wait_for(renders.result(video_id), timeout=120)
    assert result.frames == 30 and not any(c.skipped for c in clips_of(result))
    runs, attempts = await renders_of(client, video_id)
    assert runs == 1 and attempts == [1, 1]  # one run, each clip rendered once
    assert file_path(result.output_uri).stat().st_size == result.bytes


@pytest.mark.usefixtures("workers")
async def test_the_same_job_started_raw_at_once_runs_once(client: Client) -> None:
    """Past the starter, straight to the server, with the default id policies: still one run."""
    video_id = f"raw-twins-{uuid.uuid4().hex[:6]}"

    async def start() -> str:
        handle = await client.start_workflow(
            names.WORKFLOW_NAME, job(video_id), id=video_id, task_queue=names.CONTROL_QUEUE
        )
        return handle.result_run_id or ""

    outcomes = await asyncio.gather(*(start() for _ in range(TWINS)), return_exceptions=True)
    started = [o for o in outcomes if isinstance(o, str)]
    assert len(started) == 1 and all(isinstance(o, WorkflowAlreadyStartedError) for o in outcomes if o not in started)
    await asyncio.wait_for(RenderClient(client).result(video_id), timeout=120)
    runs, attempts = await renders_of(client, video_id)
    assert runs == 1 and attempts == [1, 1]


async def test_a_retried_upload_publishes_once_and_never_a_partial_file(
    deps: Deps, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    video_id = f"upload-{uuid.uuid4().hex[:6]}"
    source = deps.settings.work_uri_for(f"{video_id}/video.mp4")
    file_path(source).parent.mkdir(parents=True)
    file_path(source).write_bytes(bytes(range(256)) * 4096)  # 1 MiB stands in for the joined video
    output = f"{deps.settings.storage.output_roots[0]}/{video_id}.mp4"
    out_dir = file_path(output).parent
    upload = AssembleActivities(deps).upload_video
    inp = UploadInput(video_id, source, output)

    real_copy = file_storage.copy_chunks

    def copy_half_then_die(src: Path, dest: Path, *args: Any, **kwargs: Any) -> None:
        if ".render.json" in dest.name:
            return real_copy(src, dest, *args, **kwargs)  # the manifest's claim goes through
        dest.write_bytes(src.read_bytes()[: 1 << 19])
        raise ConnectionResetError("the worker lost its storage mid-write")

    monkeypatch.setattr(file_storage, "copy_chunks", copy_half_then_die)
    with pytest.raises(ConnectionResetError):
        await ActivityEnvironment().run(upload, inp)
    # Neither the video nor a partial file: only this video's claim on the output.
    assert [p.name for p in out_dir.iterdir() if video_id in p.name] == [f"{video_id}.mp4.render.json"]
    monkeypatch.setattr(file_storage, "copy_chunks", real_copy)

    first = await ActivityEnvironment().run(upload, inp)  # the retry
    published = file_path(output).stat()
    assert first.bytes == published.st_size == 1 << 20
    assert not file_path(deps.settings.work_uri_for(video_id)).exists()  # intermediates gone after publishing

    again = await ActivityEnvironment().run(upload, inp)  # a retry after success (its completion was lost)
    assert again == first
    after = file_path(output).stat()
    assert (after.st_ino, after.st_mtime_ns) == (published.st_ino, published.st_mtime_ns)  # not written again
    assert sorted(p.name for p in out_dir.iterdir() if video_id in p.name) == [
        f"{video_id}.mp4",
        f"{video_id}.mp4.render.json",
    ]
