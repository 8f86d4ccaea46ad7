"""Preemption as it happens: worker processes killed or drained mid-clip, the server restarted.

These tests run their own dev server (with a database file, so it can be restarted)
and workers as separate OS processes, so signals hit real processes.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from contracts import names
from contracts.records import VideoResult
from devtools.local import LocalCluster
from devtools.testing import clips_of
from starter import RenderClient

SEGMENT = 60
HEARTBEAT_SECONDS = 10
WORKER_ENV = {
    "RENDER_ENCODER": "libx264",
    "RENDER_FFMPEG_THREADS": "1",
    "RENDER_TTS": "none",
    "RENDER_SLOTS": "2",
    "RENDER_DRAIN_SECONDS": "20",
    "RENDER_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
    "RENDER_CLIP_CACHE_GB": "0",  # these renders are killed and resumed: none may come whole from the cache
}


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    running = LocalCluster(tmp_path, env=WORKER_ENV)
    running.start_server()
    running.start_worker("control")
    yield running
    running.stop()


def long_job(video_id: str, clips: int = 1, seconds: int = 60) -> dict[str, Any]:
    """Moving test pattern at 640x360: about five seconds of encoding per clip here."""
    recipe = {"kind": "recipe", "recipe": "testsrc", "duration": seconds}
    return {"video_id": video_id, "profile": {"width": 640, "height": 360}, "clips": [recipe] * clips}


async def wait_for_segments(cluster: LocalCluster, video_id: str, count: int) -> None:
    async with asyncio.timeout(120):
        while len(cluster.segments(video_id)) < count:
            await asyncio.sleep(0.05)


async def render_attempts(client: Client, video_id: str) -> list[Any]:
    """Started events of render_clip: their attempt and the failure that caused the retry."""
    history = await client.get_workflow_handle(video_id).fetch_history()
    scheduled = {
        e.event_id for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == names.RENDER_CLIP
    }  # fmt: skip
    return [
        e.activity_task_started_event_attributes for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        and e.activity_task_started_event_attributes.scheduled_event_id in scheduled
    ]  # fmt: skip


async def finish(renders: RenderClient, video_id: str) -> VideoResult:
    async with asyncio.timeout(180):
        return await renders.result(video_id)


async def test_sigkill_mid_clip_resumes_from_the_last_stored_segment(
    cluster: LocalCluster, renders: RenderClient
) -> None:
    video_id = f"kill-{uuid.uuid4().hex[:6]}"
    first = cluster.start_worker("gpu")
    await renders.submit(long_job(video_id))
    await wait_for_segments(cluster, video_id, 3)
    first.send_signal(signal.SIGKILL)
    first.wait()
    stored = len(cluster.segments(video_id))
    cluster.start_worker("gpu")

    result = await finish(renders, video_id)
    [clip] = clips_of(result)
    assert clip.attempt == 2  # retried after the heartbeat timeout noticed the dead worker
    assert clip.reused_frames == stored * SEGMENT  # every stored segment reused: waste ≤ the one in progress
    assert result.frames == 1800
    alive = subprocess.run(["pgrep", "-f", video_id], capture_output=True, text=True).stdout
    assert alive == ""  # the killed worker's ffmpeg died with it


async def test_sigterm_drains_and_hands_the_clip_over_at_once(cluster: LocalCluster, renders: RenderClient) -> None:
    video_id = f"drain-{uuid.uuid4().hex[:6]}"
    first = cluster.start_worker("gpu")
    await renders.submit(long_job(video_id))
    await wait_for_segments(cluster, video_id, 3)
    cluster.start_worker("gpu")
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=60) == 0  # drained and exited cleanly

    result = await finish(renders, video_id)
    [clip] = clips_of(result)
    [*_, last] = await render_attempts(renders.client, video_id)
    assert last.attempt == 2
    # Handed over by the drain itself, not found dead by the heartbeat timeout.
    assert last.last_failure.application_failure_info.type == "WorkerDraining"
    assert clip.reused_frames > 0 and clip.reused_frames % SEGMENT == 0
    assert result.frames == 1800


async def test_server_restart_mid_render_loses_nothing(cluster: LocalCluster, renders: RenderClient) -> None:
    video_id = f"restart-{uuid.uuid4().hex[:6]}"
    cluster.start_worker("gpu")
    await renders.submit(long_job(video_id, clips=2, seconds=30))
    waiting = asyncio.ensure_future(finish(renders, video_id))  # a user already waiting rides it out too
    await wait_for_segments(cluster, video_id, 2)
    cluster.stop_server()
    await asyncio.sleep(3)
    cluster.start_server()  # same database file, same port

    result = await waiting
    assert result.frames == 1800 and len(clips_of(result)) == 2
    for clip in clips_of(result):
        # Either the attempt survived the restart, or its retry reused what was stored.
        assert clip.attempt == 1 or clip.reused_frames > 0
    assert result.output_uri.endswith(f"{video_id}.mp4")
