"""A control worker frozen (SIGSTOP) in the middle of a video's sound, join or publish, with a healthy one beside it.

A frozen process keeps its open polls on the server, which hands them tasks as if it were alive: each costs
the task one attempt and one heartbeat timeout. Worker processes, a dev server, and S3 (moto) through a
throttling proxy, so the activity is caught mid-transfer: the link is slow until the worker is frozen, then
at full speed for the healthy worker's retries.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client

from contracts import names
from contracts.records import Progress
from devtools.local import LocalCluster
from starter import RenderClient
from tests.fault_proxy import FaultProxy
from tests.report import report
from tests.test_s3_render import admin, buckets, make_media, s3_env
from tests.test_slow_publish import intermediates, keys, open_uploads, started_attempts

HEARTBEAT_SECONDS = 3
SLOW_LINK = 100_000
"""Bytes per second while the activity is caught: a few hundred KB take seconds."""
STAGE = {names.BUILD_AUDIO: None, names.CONCAT_CLIPS: "concatenating", names.UPLOAD_VIDEO: "uploading"}
"""The video's stage when the activity is scheduled (the sound is built from the start, beside the clips)."""


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    running = LocalCluster(tmp_path)
    running.start_server()
    yield running
    running.stop()


def make_assets(tmp_path: Path, endpoint: str, bucket: str) -> tuple[str, str]:
    """An image and three seconds of sound (about 260 KB: seconds to fetch over the slow link)."""
    return make_media(tmp_path, endpoint, bucket, sound="tone.wav", seconds=3)


def job(video_id: str, image: str, sound: str) -> dict[str, Any]:
    # Noise at near-lossless quality: a few hundred KB of clips to join and publish.
    noise = {"kind": "recipe", "recipe": "life", "duration": 2, "params": {"ratio": 0.5}}
    card = {"kind": "card", "duration": 1, "image": image, "audio": sound, "lines": ["frozen"]}
    return {"video_id": video_id, "profile": {"width": 320, "height": 180, "quality": 8}, "clips": [card, noise]}


async def started_on(client: Client, video_id: str, activity: str) -> tuple[str, int] | None:
    """The identity (`pid@host`) of the worker running `activity` now, and its attempt."""
    described = await client.get_workflow_handle(video_id).describe()
    for pending in described.raw_description.pending_activities:
        if (
            pending.activity_type.name == activity
            and pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
            and pending.last_worker_identity
        ):
            return pending.last_worker_identity, pending.attempt
    return None


async def stage_reached(renders: RenderClient, video_id: str, stage: str) -> None:
    handle = renders.handle(video_id)
    while (await handle.query(names.PROGRESS_QUERY, result_type=Progress)).stage != stage:
        await asyncio.sleep(0.05)


def writes(log: list[Any], named: dict[str, str], video_id: str) -> list[str]:
    """Requests that wrote the video's output or intermediates and took effect.

    Not a read, a multipart abort, a refused conditional create (412: a claim sent just before the freeze,
    which reaches the store after it), nor a part of a multipart upload (never visible unless completed,
    and the bucket is checked for open uploads).
    """
    return [
        f"{r.method} {r.target} {r.status}"
        for r in log
        if r.method in ("PUT", "POST")
        and (f"/{named['videos']}/" in r.target or f"/{video_id}/" in r.target)
        and r.status is not None
        and 200 <= r.status < 300
        and "partNumber=" not in r.target
    ]


@pytest.mark.parametrize("activity", list(STAGE))
async def test_a_control_worker_frozen_mid_activity_never_fails_the_video(
    cluster: LocalCluster,
    renders: RenderClient,
    proxy: FaultProxy,
    s3_endpoint: str,
    tmp_path: Path,
    activity: str,
    request: pytest.FixtureRequest,
) -> None:
    named = buckets(s3_endpoint)
    image, sound = make_assets(tmp_path, s3_endpoint, named["media"])
    # Quarantine off: this test is about the video; a resumed worker's own fate is test_quarantine's.
    cluster.env = s3_env(proxy, named, "render-key", "render-secret") | {
        "RENDER_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
        "RENDER_QUARANTINE_AFTER": "0",
    }
    controls = {p.pid: p for p in (cluster.start_worker("control"), cluster.start_worker("control"))}
    cluster.start_worker("gpu")
    video_id = f"frozen-{activity.split('_')[0]}-{uuid.uuid4().hex[:6]}"
    stage = STAGE[activity]
    if stage is None:
        proxy.throttle(SLOW_LINK)
    await renders.submit(job(video_id, image, sound))
    async with asyncio.timeout(180):
        if stage is not None:
            await stage_reached(renders, video_id, stage)
            proxy.throttle(SLOW_LINK)
        while (found := await started_on(renders.client, video_id, activity)) is None:
            await asyncio.sleep(0.05)
    identity, attempt = found
    frozen = controls[int(identity.split("@")[0])]
    frozen.send_signal(signal.SIGSTOP)
    frozen_at = time.monotonic()
    proxy.throttle(None)
    try:
        async with asyncio.timeout(240):
            result = await renders.result(video_id)
        completed_after = time.monotonic() - frozen_at
        attempts = await started_attempts(renders.client, video_id)
        seen = len(proxy.log)
    finally:
        frozen.send_signal(signal.SIGCONT)
    # The frozen worker wakes with its attempt (and those its polls were handed meanwhile) superseded: it
    # must learn so before it writes anything. Give it a few heartbeat timeouts to try.
    await asyncio.sleep(3 * HEARTBEAT_SECONDS)
    assert writes(proxy.log[seen:], named, video_id) == []
    assert keys(s3_endpoint, named["videos"]) == [
        f"out/{video_id}.mp4",
        f"out/{video_id}.mp4.poster.jpg",
        f"out/{video_id}.mp4.render.json",
    ]
    head = admin(s3_endpoint).head_object(Bucket=named["videos"], Key=f"out/{video_id}.mp4")
    assert head["ContentLength"] == result.bytes
    assert intermediates(s3_endpoint, named["work"]) == [] and open_uploads(s3_endpoint, named) == []
    assert frozen.poll() is None  # it runs on after waking
    report(
        request,
        f"frozen control worker: {activity}",
        frozen_at_attempt=attempt,
        completed_on_attempt=max(attempts[activity]),
        completed_s_after_freeze=round(completed_after, 1),
        bytes=result.bytes,
    )
