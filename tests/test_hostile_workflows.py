"""Hostile jobs started raw, past the starter: the workflow refuses them fast, by name, and never loops."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.common import RawValue

from contracts import names
from contracts.job import MAX_CLIPS, MAX_JOB_BYTES
from engine.settings import Settings, file_uri
from engine.storage import file_path
from starter import JobRefused, RenderClient
from tests.conftest import failure_of

pytestmark = pytest.mark.usefixtures("workers")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def raw_json(text: str) -> RawValue:
    """A job exactly as these bytes, the way the `temporal` CLI would send a file."""
    return RawValue(Payload(metadata={"encoding": b"json/plain"}, data=text.encode()))


async def events(client: Client, video_id: str) -> list[Any]:
    return list((await client.get_workflow_handle(video_id).fetch_history()).events)


def scheduled(history: list[Any]) -> list[str]:
    return [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]


def task_failures(history: list[Any]) -> int:
    return sum(1 for e in history if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED)


@pytest.mark.parametrize(
    "body",
    [
        '{"video_id": "ID", "clips": [{"kind": "card", "duration": 1' + "0" * 5000 + "}]}",
        '{"video_id": "ID", "clips": ' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"video_id": "ID", "clips": [',
    ],
    ids=["5000-digit-number", "nested-100000-deep", "truncated-json"],
)
async def test_input_that_cannot_even_be_decoded_fails_the_workflow_by_name(client: Client, body: str) -> None:
    video_id = unique("undecodable")
    await client.start_workflow(
        names.WORKFLOW_NAME, raw_json(body.replace("ID", video_id)), id=video_id, task_queue=names.CONTROL_QUEUE
    )
    error = await failure_of(client, video_id)
    assert error.type == names.INVALID_JOB and error.non_retryable
    assert error.message.startswith("job: ")
    history = await events(client, video_id)
    assert task_failures(history) == 0 and scheduled(history) == []


async def test_a_start_with_no_input_fails_by_name(client: Client) -> None:
    video_id = unique("no-input")
    await client.start_workflow(names.WORKFLOW_NAME, id=video_id, task_queue=names.CONTROL_QUEUE)
    error = await failure_of(client, video_id)
    assert error.type == names.INVALID_JOB and error.message == "job: expected a JSON object, got null"
    assert task_failures(await events(client, video_id)) == 0


async def test_thousands_of_clips_started_raw_are_refused_with_the_limit(client: Client) -> None:
    video_id = unique("huge")
    job = {"video_id": video_id, "clips": [{"kind": "card", "duration": 1}] * 5000}
    await client.start_workflow(names.WORKFLOW_NAME, job, id=video_id, task_queue=names.CONTROL_QUEUE)
    error = await failure_of(client, video_id)
    assert error.type == names.INVALID_JOB and error.non_retryable
    assert error.message == f"clips: must have between 0 and {MAX_CLIPS} items, got 5000"
    history = await events(client, video_id)
    assert task_failures(history) == 0 and scheduled(history) == []
    # The same job through the starter never reaches the server.
    with pytest.raises(JobRefused, match=f"between 0 and {MAX_CLIPS} items"):
        await RenderClient(client).submit({**job, "video_id": unique("huge")})


async def test_a_job_too_big_for_its_history_started_raw_is_refused_with_the_limit(client: Client) -> None:
    video_id = unique("too-big")
    line = "%{pts} " * 70  # 490 characters
    job = {"video_id": video_id, "clips": [{"kind": "card", "duration": 1, "lines": [line] * 12}] * 100}
    await client.start_workflow(names.WORKFLOW_NAME, job, id=video_id, task_queue=names.CONTROL_QUEUE)
    error = await failure_of(client, video_id)
    assert error.type == names.INVALID_JOB and error.message.startswith("job: is ")
    assert f"the limit is {MAX_JOB_BYTES}" in error.message
    history = await events(client, video_id)
    assert task_failures(history) == 0 and scheduled(history) == []
    with pytest.raises(JobRefused, match=f"the limit is {MAX_JOB_BYTES}"):
        await RenderClient(client).submit({**job, "video_id": unique("too-big")})


def escapes(settings: Settings) -> list[tuple[str, dict[str, Any], str]]:
    """(name, clip or job fields, what the refusal names) for each way out of the allowed roots."""
    assets = file_path(settings.storage.asset_roots[0])
    output = file_path(settings.storage.output_roots[0])
    link = assets / "escape-link"
    if not link.is_symlink():
        link.symlink_to("/etc")
    out_link = output / "escape-dir"
    if not out_link.is_symlink():
        out_link.symlink_to("/tmp")
    hostname = assets / "hostname-link.png"
    if not hostname.is_symlink():
        hostname.symlink_to("/etc/hostname")
    return [
        ("absolute-image", {"image": "file:///etc/hostname"}, "asset"),
        ("symlinked-dir", {"image": file_uri(link) + "/hostname"}, "asset"),
        ("symlinked-file", {"audio": f"{settings.storage.asset_roots[0]}/hostname-link.png"}, "asset"),
        ("other-root", {"image": file_uri(str(assets) + "-evil") + "/a.png"}, "asset"),
        ("s3-elsewhere", {"image": "s3://someone-elses-bucket/a.png"}, "asset"),
        ("output-absolute", {"output_uri": "file:///etc/cron.d/render.mp4"}, "output_uri"),
        ("output-symlinked", {"output_uri": file_uri(out_link) + "/render.mp4"}, "output_uri"),
    ]


@pytest.mark.parametrize("case", range(7), ids=lambda i: str(i))
async def test_paths_out_of_the_roots_are_refused_before_any_render(
    client: Client, settings: Settings, case: int
) -> None:
    name, fields, field = escapes(settings)[case]
    video_id = unique(f"escape-{name}")
    clip: dict[str, Any] = {"kind": "card", "duration": 1}
    job: dict[str, Any] = {"video_id": video_id, "clips": [clip]}
    for key, value in fields.items():
        (job if key == "output_uri" else clip)[key] = value
    await client.start_workflow(names.WORKFLOW_NAME, job, id=video_id, task_queue=names.CONTROL_QUEUE)
    error = await failure_of(client, video_id)
    assert error.type == names.FORBIDDEN_PATH and error.non_retryable
    assert error.message.startswith(f"{field}: ") and "outside the allowed roots" in error.message
    assert scheduled(await events(client, video_id)) == [names.CHECK_JOB]
    assert not Path("/etc/cron.d/render.mp4").exists() and not Path("/tmp/render.mp4").exists()


@pytest.mark.parametrize(
    "uri", ["file:///ASSETS/%2e%2e/%2e%2e/etc/passwd", "file:///ASSETS/x%00.png", "file:///ASSETS/../../etc/passwd"]
)
async def test_encoded_escapes_are_refused_by_the_workflow_itself(client: Client, settings: Settings, uri: str) -> None:
    video_id = unique("encoded")
    image = uri.replace("file:///ASSETS", settings.storage.asset_roots[0])
    job = {"video_id": video_id, "clips": [{"kind": "card", "duration": 1, "image": image}]}
    await client.start_workflow(names.WORKFLOW_NAME, job, id=video_id, task_queue=names.CONTROL_QUEUE)
    error = await failure_of(client, video_id)
    assert error.type == names.INVALID_JOB and error.message.startswith("clips[0].image: ")
    assert scheduled(await events(client, video_id)) == []
    assert os.path.exists("/etc/passwd")  # untouched, of course
