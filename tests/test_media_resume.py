"""Media clips under preemption: a render worker SIGKILLed mid-clip, the retry resumes from the stored segments.

Worker processes and their own dev server, as in test_resume_processes: the kill hits a real
ffmpeg decoding a real video asset, and the published video is compared with the asset itself.
"""

from __future__ import annotations

import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from devtools.local import LocalCluster
from devtools.testing import clips_of
from starter import RenderClient
from tests.test_resume_engine import psnr
from tests.test_resume_processes import SEGMENT, WORKER_ENV, finish, wait_for_segments

W, H = 640, 360
IN_S = 2.0
CLIP_S = 60


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    running = LocalCluster(tmp_path, env=WORKER_ENV)
    running.start_server()
    running.start_worker("control")
    yield running
    running.stop()


def gray_frame(path: Path, seconds: float) -> np.ndarray:
    command = ["ffmpeg", "-v", "error", "-ss", f"{seconds:.3f}", "-i", str(path), "-frames:v", "1", "-s", f"{W}x{H}"]
    raw = subprocess.run([*command, "-f", "rawvideo", "-pix_fmt", "gray", "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, dtype=np.uint8).reshape(H, W)


async def test_a_video_clip_killed_mid_clip_resumes_and_shows_the_asset_frame_for_frame(
    cluster: LocalCluster, renders: RenderClient
) -> None:
    video_id = f"media-kill-{uuid.uuid4().hex[:6]}"
    asset = cluster.data / "assets" / "match.mp4"
    length = f"{IN_S + CLIP_S + 1:g}"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=s={W}x{H}:r=25:d={length}",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "50", str(asset)], check=True)  # fmt: skip
    first = cluster.start_worker("gpu")
    clip = {"kind": "video", "source": f"file://{asset}", "in": IN_S, "out": IN_S + CLIP_S, "audio": "drop"}
    await renders.submit({"video_id": video_id, "profile": {"width": W, "height": H}, "clips": [clip]})
    await wait_for_segments(cluster, video_id, 3)
    first.send_signal(signal.SIGKILL)
    first.wait()
    stored = len(cluster.segments(video_id))
    assert stored < CLIP_S * 30 // SEGMENT
    cluster.start_worker("gpu")

    result = await finish(renders, video_id)
    [done] = clips_of(result)
    assert done.attempt == 2 and done.reused_frames == stored * SEGMENT
    assert result.frames == CLIP_S * 30
    published = cluster.data / "output" / f"{video_id}.mp4"
    # Every 0.2 s both rates meet on a frame: the clip shows the asset's frame at in + t, before and after the kill.
    for t in (1.0, stored * SEGMENT / 30 - 0.2, stored * SEGMENT / 30 + 0.2, 45.0, CLIP_S - 1.0):
        shown = gray_frame(published, t)
        expected, next_one = gray_frame(asset, IN_S + t), gray_frame(asset, IN_S + t + 0.04)
        assert psnr(shown, expected) > 30 and psnr(shown, next_one) < psnr(shown, expected) - 5, t
