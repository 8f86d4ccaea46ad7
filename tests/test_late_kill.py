"""A long clip whose worker is SIGKILLed late: the retry reuses every stored segment and finishes.

Scaled down from production (a 120 s clip killed after 47 of 60 segments, a 3 s
heartbeat timeout): the retry must check what is stored without falling silent for
longer than the heartbeat timeout, or every attempt times out the same way.
"""

from __future__ import annotations

import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import TimeoutType

from devtools.local import LocalCluster
from devtools.testing import clips_of
from starter import RenderClient
from tests.test_resume_processes import finish, render_attempts, wait_for_segments

SEGMENT = 60  # frames: 2 s at 30 fps
CLIP_SECONDS = 120
SEGMENTS = CLIP_SECONDS * 30 // SEGMENT
HEARTBEAT_SECONDS = 3
WORKER_ENV = {
    "RENDER_ENCODER": "libx264",
    "RENDER_FFMPEG_THREADS": "1",
    "RENDER_TTS": "none",
    "RENDER_SLOTS": "1",
    "RENDER_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
    "RENDER_CLIP_CACHE_GB": "0",  # these renders are killed and resumed: none may come whole from the cache
    "RENDER_SEGMENT_SECONDS": "2",
}


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    running = LocalCluster(tmp_path, env=WORKER_ENV)
    running.start_server()
    running.start_worker("control")
    yield running
    running.stop()


def records(cluster: LocalCluster, video_id: str) -> list[Path]:
    """Integrity records of the stored segments: each written after its segment."""
    return sorted((cluster.data / "work" / video_id / "segments").glob("*/*.json"))


async def test_a_long_clip_killed_late_resumes_from_its_stored_segments(
    cluster: LocalCluster, renders: RenderClient
) -> None:
    video_id = f"late-{uuid.uuid4().hex[:6]}"
    first = cluster.start_worker("gpu")
    job = {
        "video_id": video_id,
        "profile": {"width": 320, "height": 180, "fps": 30},
        "clips": [{"kind": "recipe", "recipe": "testsrc", "duration": CLIP_SECONDS}],
    }
    await renders.submit(job)
    await wait_for_segments(cluster, video_id, SEGMENTS * 85 // 100)
    first.send_signal(signal.SIGKILL)
    first.wait()
    stored, recorded = len(cluster.segments(video_id)), len(records(cluster, video_id))
    assert SEGMENTS * 8 // 10 <= recorded <= stored < SEGMENTS  # killed late, but before the end
    assert stored - recorded <= 1  # at most the segment being stored lacks its record
    cluster.start_worker("gpu")

    result = await finish(renders, video_id)
    [clip] = clips_of(result)
    assert clip.attempt == 2  # one retry was enough
    assert clip.reused_frames == recorded * SEGMENT  # every segment with its record reused
    assert result.frames == CLIP_SECONDS * 30
    [last] = await render_attempts(renders.client, video_id)
    assert last.attempt == 2
    # The first attempt was found dead by the heartbeat timeout; the retry never timed out.
    assert last.last_failure.timeout_failure_info.timeout_type == TimeoutType.TIMEOUT_TYPE_HEARTBEAT
    alive = subprocess.run(["pgrep", "-f", video_id], capture_output=True, text=True).stdout
    assert alive == ""
