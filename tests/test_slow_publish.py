"""Publishing over a slow link, cancels that arrive late, and a queue nobody polls, with worker processes.

The work store and the outputs are S3 buckets on the moto server, reached
through the throttling proxy: every transfer lasts several heartbeat timeouts.
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import CancelledError

from contracts import names
from contracts.records import Progress
from devtools.local import LocalCluster
from starter import RenderClient
from tests.conftest import failure_of
from tests.fault_proxy import FaultProxy
from tests.report import report
from tests.test_resume_processes import render_attempts
from tests.test_s3_render import admin, buckets, s3_env

HEARTBEAT_SECONDS = 3
SLOW_LINK = 400_000
"""Bytes per second each way: the finished video (about 5 MB) takes several heartbeat timeouts to move."""


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    running = LocalCluster(tmp_path)
    running.start_server()
    yield running
    running.stop()


def slow_cluster(cluster: LocalCluster, proxy: FaultProxy, s3_endpoint: str) -> dict[str, str]:
    named = buckets(s3_endpoint)
    cluster.env = s3_env(proxy, named, "render-key", "render-secret") | {
        "RENDER_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS)
    }
    cluster.start_worker("control")
    cluster.start_worker("gpu")
    return named


def job(video_id: str) -> dict[str, Any]:
    # Two 4 s clips of dense noise near lossless: about 5 MB of video to store, join and publish.
    clip = {"kind": "recipe", "recipe": "life", "duration": 4, "params": {"ratio": 0.5}}
    return {"video_id": video_id, "profile": {"width": 320, "height": 180, "quality": 8}, "clips": [clip, clip]}


def keys(endpoint: str, bucket: str) -> list[str]:
    return [o["Key"] for o in admin(endpoint).list_objects_v2(Bucket=bucket).get("Contents", [])]


def intermediates(endpoint: str, bucket: str) -> list[str]:
    """The work bucket's keys but the clip cache's, which is kept across videos."""
    return [k for k in keys(endpoint, bucket) if not k.startswith("intermediates/_cache/")]


def open_uploads(endpoint: str, named: dict[str, str]) -> list[Any]:
    return [u for b in named.values() for u in admin(endpoint).list_multipart_uploads(Bucket=b).get("Uploads", [])]


async def started_attempts(client: Client, video_id: str) -> dict[str, list[int]]:
    """Attempts of every activity the video ran, by activity name."""
    from temporalio.api.enums.v1 import EventType

    history = await client.get_workflow_handle(video_id).fetch_history()
    names_by_id = {
        e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    }
    found: dict[str, list[int]] = {}
    for e in history.events:
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attrs = e.activity_task_started_event_attributes
            found.setdefault(names_by_id[attrs.scheduled_event_id], []).append(attrs.attempt)
    return found


async def test_a_slow_link_publishes_once_with_every_activity_on_its_first_attempt(
    cluster: LocalCluster, renders: RenderClient, proxy: FaultProxy, s3_endpoint: str, request: pytest.FixtureRequest
) -> None:
    named = slow_cluster(cluster, proxy, s3_endpoint)
    proxy.throttle(SLOW_LINK)
    video_id = f"slow-{uuid.uuid4().hex[:6]}"
    await renders.submit(job(video_id))
    async with asyncio.timeout(400):
        result = await renders.result(video_id)
    seconds_per_transfer = result.bytes / SLOW_LINK
    assert seconds_per_transfer > 2 * HEARTBEAT_SECONDS  # the publish alone outlasts two heartbeat timeouts
    attempts = await started_attempts(renders.client, video_id)
    assert all(a == [1] or set(a) == {1} for a in attempts.values()), attempts  # nothing timed out, nothing retried
    published = [f"out/{video_id}.mp4", f"out/{video_id}.mp4.poster.jpg", f"out/{video_id}.mp4.render.json"]
    assert keys(s3_endpoint, named["videos"]) == published
    assert intermediates(s3_endpoint, named["work"]) == [] and open_uploads(s3_endpoint, named) == []
    report(request, "slow link", bytes=result.bytes, link=SLOW_LINK, publish_s=round(seconds_per_transfer, 1),
           attempts=attempts)  # fmt: skip


async def cancel_at(renders: RenderClient, video_id: str, stage: str) -> None:
    handle = renders.handle(video_id)
    async with asyncio.timeout(300):
        while (await handle.query(names.PROGRESS_QUERY, result_type=Progress)).stage != stage:
            await asyncio.sleep(0.1)
    await renders.cancel(video_id)
    with pytest.raises(WorkflowFailureError) as caught:
        async with asyncio.timeout(120):
            await renders.result(video_id)
    assert isinstance(caught.value.cause, CancelledError)


@pytest.mark.parametrize("stage", ["concatenating", "uploading"])
async def test_a_late_cancel_publishes_nothing_and_leaves_nothing(
    cluster: LocalCluster, renders: RenderClient, proxy: FaultProxy, s3_endpoint: str, stage: str
) -> None:
    named = slow_cluster(cluster, proxy, s3_endpoint)
    video_id = f"late-cancel-{uuid.uuid4().hex[:6]}"
    await renders.submit(job(video_id))
    handle = renders.handle(video_id)
    async with asyncio.timeout(300):  # render at full speed, then slow the link for the last steps
        while (await handle.query(names.PROGRESS_QUERY, result_type=Progress)).stage != "concatenating":
            await asyncio.sleep(0.05)
    proxy.throttle(SLOW_LINK)
    await cancel_at(renders, video_id, stage)
    progress = await handle.query(names.PROGRESS_QUERY, result_type=Progress)
    assert progress.stage.startswith("canceled: work stopped")
    proxy.throttle(None)
    for _ in range(2):  # now, and again after an abandoned transfer would have finished
        assert keys(s3_endpoint, named["videos"]) == []
        assert intermediates(s3_endpoint, named["work"]) == []
        assert open_uploads(s3_endpoint, named) == []
        await asyncio.sleep(3 * HEARTBEAT_SECONDS)
    assert not list(cluster.data.glob(f"scratch/*/{video_id}*"))


async def test_a_clip_no_worker_takes_fails_naming_the_queue(cluster: LocalCluster, renders: RenderClient) -> None:
    cluster.env = {"RENDER_QUEUE_WAIT_SECONDS": "3", "RENDER_TTS": "none"}
    cluster.start_worker("control")
    video_id = f"no-worker-{uuid.uuid4().hex[:6]}"
    clip = {"kind": "recipe", "recipe": "testsrc", "duration": 0.5}
    await renders.submit({"video_id": video_id, "gpu_class": "l40s", "clips": [clip]}, require_worker=False)
    error = await failure_of(renders.client, video_id)
    assert error.type == "NoWorker"
    assert "render-gpu-l40s" in error.message and "RENDER_GPU_CLASS=l40s" in error.message
    assert len(await render_attempts(renders.client, video_id)) == 0  # never started, not retried forever


async def test_a_busy_queue_waits_past_the_limit_instead_of_failing(
    cluster: LocalCluster, renders: RenderClient
) -> None:
    # Three equal clips, each rendered (no clip cache): the second and third wait for the one slot.
    cluster.env = {"RENDER_QUEUE_WAIT_SECONDS": "2", "RENDER_TTS": "none", "RENDER_SLOTS": "1",
                   "RENDER_ENCODER": "libx264", "RENDER_FFMPEG_THREADS": "1", "RENDER_CLIP_CACHE_GB": "0"}  # fmt: skip
    cluster.start_worker("control")
    cluster.start_worker("gpu")
    video_id = f"busy-{uuid.uuid4().hex[:6]}"
    # Each render takes several times the 2 s limit even on an idle machine, so the clips behind it wait past it.
    clip = {"kind": "recipe", "recipe": "testsrc", "duration": 20}
    job = {"video_id": video_id, "profile": {"width": 640, "height": 360}, "clips": [clip] * 3}
    await renders.submit(job)
    async with asyncio.timeout(300):
        result = await renders.result(video_id)
    assert result.frames == 3 * 600
    attempts = await started_attempts(renders.client, video_id)
    assert attempts[names.QUEUE_HAS_WORKERS]  # clips waited past the limit, the queue was served: they waited on


async def test_a_cancel_while_the_render_worker_is_frozen_ends_canceled_and_cleans_up(
    cluster: LocalCluster, renders: RenderClient
) -> None:
    cluster.env = {"RENDER_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS), "RENDER_TTS": "none",
                   "RENDER_ENCODER": "libx264", "RENDER_FFMPEG_THREADS": "1"}  # fmt: skip
    cluster.start_worker("control")
    worker = cluster.start_worker("gpu")
    video_id = f"frozen-{uuid.uuid4().hex[:6]}"
    clip = {"kind": "recipe", "recipe": "testsrc", "duration": 60}
    await renders.submit({"video_id": video_id, "profile": {"width": 640, "height": 360}, "clips": [clip]})
    async with asyncio.timeout(120):
        while not cluster.segments(video_id):
            await asyncio.sleep(0.05)
    worker.send_signal(signal.SIGSTOP)  # the worker can no longer confirm the cancel
    try:
        await renders.cancel(video_id)
        with pytest.raises(WorkflowFailureError) as caught:
            async with asyncio.timeout(120):
                await renders.result(video_id)
        assert isinstance(caught.value.cause, CancelledError)  # canceled, not failed by the heartbeat timeout
        status = await renders.status(video_id)
        assert status.state == "canceled"
        assert not (cluster.data / "work" / video_id).exists()
    finally:
        worker.send_signal(signal.SIGCONT)
