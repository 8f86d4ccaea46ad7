"""A tenant's mistake (an invalid job, a bad asset) fails as ApplicationErrorCategory.BENIGN: the SDK logs it
without a stack trace and leaves it out of its failure metrics; the farm's own faults stay errors."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import pytest
from temporalio.api.enums.v1 import ApplicationErrorCategory as ProtoCategory
from temporalio.api.enums.v1 import EventType
from temporalio.api.failure.v1 import Failure
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from activities.common import temporal_errors
from contracts import names
from engine.errors import BadAsset, InvalidOutput, MediaMismatch, OutputTaken
from engine.settings import Settings, file_uri
from engine.storage import file_path
from starter import RenderClient

BENIGN = ProtoCategory.APPLICATION_ERROR_CATEGORY_BENIGN


def innermost(failure: Failure) -> Failure:
    while failure.HasField("cause"):
        failure = failure.cause
    return failure


async def failed_run(client: Client, caplog: pytest.LogCaptureFixture, video_id: str, start: Any) -> list[Failure]:
    """Run `start`, wait for the video to fail, and return its activities' failures (local ones too)."""
    caplog.set_level(logging.DEBUG, logger="temporalio.activity")
    await start
    with pytest.raises(WorkflowFailureError):
        await asyncio.wait_for(client.get_workflow_handle(video_id).result(), timeout=120)
    failures = []
    for event in (await client.get_workflow_handle(video_id).fetch_history()).events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED:
            failures.append(innermost(event.activity_task_failed_event_attributes.failure))
        elif (
            event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
            and event.marker_recorded_event_attributes.HasField("failure")
        ):
            failures.append(innermost(event.marker_recorded_event_attributes.failure))
    warned = [r for r in caplog.records if video_id in r.getMessage() and r.levelno >= logging.WARNING]
    assert not warned, [r.getMessage() for r in warned]  # no warning, no stack trace
    return failures


@pytest.mark.usefixtures("workers")
async def test_a_missing_asset_is_benign(client: Client, settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    video_id = f"benign-asset-{uuid.uuid4().hex[:6]}"
    missing = file_uri(file_path(settings.storage.asset_roots[0]) / f"{video_id}.png")
    job = {"video_id": video_id, "profile": {"width": 160, "height": 90},
           "clips": [{"kind": "card", "duration": 0.5, "lines": ["x"], "image": missing}]}  # fmt: skip
    failures = await failed_run(client, caplog, video_id, RenderClient(client).submit(job))
    assert [(f.application_failure_info.type, f.application_failure_info.category) for f in failures] == [
        (names.BAD_ASSET, BENIGN)
    ]


@pytest.mark.usefixtures("workers")
async def test_an_invalid_job_started_raw_is_benign(client: Client, caplog: pytest.LogCaptureFixture) -> None:
    """Past the starter: validate_job (a local activity) refuses text that cannot fit, as BENIGN."""
    video_id = f"benign-job-{uuid.uuid4().hex[:6]}"
    job = {"video_id": video_id, "profile": {"width": 64, "height": 64},
           "clips": [{"kind": "card", "duration": 0.5, "lines": ["too long for 64 pixels " * 20]}]}  # fmt: skip
    start = client.start_workflow(names.WORKFLOW_NAME, job, id=video_id, task_queue=names.CONTROL_QUEUE)
    failures = await failed_run(client, caplog, video_id, start)
    assert [(f.application_failure_info.type, f.application_failure_info.category) for f in failures] == [
        (names.INVALID_JOB, BENIGN)
    ]


@pytest.mark.parametrize(
    ("error", "benign"),
    [(BadAsset("x"), True), (InvalidOutput("x"), True), (OutputTaken("x"), False), (MediaMismatch("x"), False)],
)
def test_only_the_jobs_own_mistakes_are_benign(error: Exception, benign: bool) -> None:
    with pytest.raises(ApplicationError) as raised, temporal_errors():
        raise error
    expected = ApplicationErrorCategory.BENIGN if benign else ApplicationErrorCategory.UNSPECIFIED
    assert raised.value.category == expected
