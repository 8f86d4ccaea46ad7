"""Corrupt or missing assets, at workflow level: the clip fails for good naming the asset, the video fails
cleanly, and nothing is left running (no ffmpeg, no pending activity)."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from contracts import names
from engine.settings import Settings, file_uri
from engine.storage import file_path
from starter import RenderClient
from starter.client import root_cause

pytestmark = pytest.mark.usefixtures("workers")


def make_assets(root: Path) -> dict[str, tuple[str, str]]:
    """name → (clip field, file URI) for each kind of bad asset."""
    (root / "not-an-image.png").write_text("this is not a PNG, whatever its name says")
    ffmpeg = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi"]
    subprocess.run([*ffmpeg, "-i", "testsrc2=s=160x90:d=1", str(root / "a-video.mp4")], check=True)
    subprocess.run([*ffmpeg, "-i", "sine=f=440:d=3", str(root / "whole.wav")], check=True)
    (root / "truncated.wav").write_bytes((root / "whole.wav").read_bytes()[:10_000])
    subprocess.run([*ffmpeg, "-i", "sine=f=440:d=3", str(root / "whole.m4a")], check=True)
    (root / "truncated.m4a").write_bytes((root / "whole.m4a").read_bytes()[:8_000])
    return {
        "text-as-png": ("image", file_uri(root / "not-an-image.png")),
        "video-as-image": ("image", file_uri(root / "a-video.mp4")),
        "truncated-wav": ("audio", file_uri(root / "truncated.wav")),
        "truncated-m4a": ("audio", file_uri(root / "truncated.m4a")),
        "missing-audio": ("audio", file_uri(root / "nowhere.wav")),
    }


CASES = {
    "text-as-png": "is not readable media",
    "video-as-image": "not a still image",
    "truncated-wav": "is not readable media",
    "truncated-m4a": "is not readable media",
    "missing-audio": "does not exist",
}


def running_ffmpeg(video_id: str) -> str:
    return subprocess.run(["pgrep", "-af", video_id], capture_output=True, text=True).stdout


ENDINGS = {
    "activity_task_completed_event_attributes": "completed",
    "activity_task_failed_event_attributes": "failed",
    "activity_task_canceled_event_attributes": "canceled",
    "activity_task_timed_out_event_attributes": "timed out",
}


async def activity_outcomes(client: Client, video_id: str) -> dict[str, list[str]]:
    """Per activity type, how each scheduled activity ended: completed, failed, canceled or (still) open."""
    history = await client.get_workflow_handle(video_id).fetch_history()
    types: dict[int, str] = {}
    ended: dict[int, str] = {}
    for e in history.events:
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            types[e.event_id] = e.activity_task_scheduled_event_attributes.activity_type.name
        attr = e.WhichOneof("attributes")
        kind = ENDINGS.get(attr or "")
        if kind:
            ended[getattr(e, attr or "").scheduled_event_id] = kind
    outcomes: dict[str, list[str]] = {}
    for event_id, name in types.items():
        outcomes.setdefault(name, []).append(ended.get(event_id, "open"))
    return outcomes


@pytest.mark.parametrize("case", sorted(CASES))
async def test_a_bad_asset_fails_the_video_cleanly_naming_it(client: Client, settings: Settings, case: str) -> None:
    field, uri = make_assets(file_path(settings.storage.asset_roots[0]))[case]
    video_id = f"bad-{case}-{uuid.uuid4().hex[:6]}"
    long_render = {"kind": "recipe", "recipe": "testsrc", "duration": 30}
    job: dict[str, Any] = {
        "video_id": video_id,
        "profile": {"width": 640, "height": 360},
        "clips": [long_render, {"kind": "card", "duration": 1, field: uri, "lines": ["bad asset"]}],
    }
    await RenderClient(client).submit(job)
    with pytest.raises(WorkflowFailureError) as caught:
        await asyncio.wait_for(client.get_workflow_handle(video_id).result(), timeout=60)
    error = root_cause(caught.value)
    assert isinstance(error, ApplicationError)
    assert error.type == names.BAD_ASSET and error.non_retryable
    assert uri in error.message and CASES[case] in error.message, error.message

    description = await client.get_workflow_handle(video_id).describe()
    assert description.status == WorkflowExecutionStatus.FAILED
    assert list(description.raw_description.pending_activities) == []
    outcomes = await activity_outcomes(client, video_id)
    if case.startswith("missing"):
        assert outcomes == {names.CHECK_JOB: ["failed"]}  # refused before any render started
    elif field == "audio":
        # The video's sound is built once beside the renders: it failed once, for good, and the long
        # render beside it was stopped, not left running (the bad card's own, video only, may finish).
        assert outcomes[names.BUILD_AUDIO] == ["failed"], outcomes
        assert "canceled" in outcomes[names.RENDER_CLIP], outcomes
    else:
        # The bad clip failed once, for good; the long render beside it was stopped, not left running.
        assert sorted(outcomes[names.RENDER_CLIP]) == ["canceled", "failed"], outcomes
    assert running_ffmpeg(video_id) == ""
    assert not [p for p in settings.storage.scratch_dir.rglob(f"{video_id}*")]  # scratch cleaned
    status = await RenderClient(client).status(video_id)
    assert status.state == "failed" and uri in (status.error or "")
