"""A worker process's HTTP side, scraped while it renders: /healthz, /readyz, /status, /metrics."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import Client

from devtools.local import LocalCluster
from starter import RenderClient


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    env = {"RENDER_ENCODER": "libx264", "RENDER_TTS": "none", "RENDER_SLOTS": "1", "RENDER_CHANNEL_WEIGHTS": "news=2"}
    running = LocalCluster(tmp_path, env=env)
    running.start_server()
    running.start_worker("control")
    running.start_worker("gpu")
    yield running
    running.stop()


async def test_status_and_metrics_during_a_render(cluster: LocalCluster) -> None:
    port = cluster.health_ports[1]
    async with asyncio.timeout(30):
        while get_or_none(port, "/readyz") != 200:
            await asyncio.sleep(0.1)
    assert get(port, "/healthz") == (200, "ok\n")

    renders = RenderClient(await Client.connect(cluster.address))
    job = {"video_id": "scraped", "channel": "news", "profile": {"width": 640, "height": 360},
           "clips": [{"kind": "recipe", "recipe": "testsrc", "duration": 40}]}  # fmt: skip
    await renders.submit(job)
    async with asyncio.timeout(60):
        while not (status := json.loads(get(port, "/status")[1]))["clips_in_flight"]:
            await asyncio.sleep(0.1)
    assert status["mode"] == "gpu" and status["task_queues"] == ["render-gpu"] and status["ready"]
    assert status["version"] == f"render:{cluster.build_id}"  # which build this pod serves
    assert status["render_slots"] == {"total": 1, "used": 1}
    [clip] = status["clips_in_flight"]
    assert clip["video_id"] == "scraped" and clip["frames_total"] == 1200 and clip["encoder"] == "libx264"
    assert status["gpus"] == []

    await asyncio.wait_for(renders.result("scraped"), timeout=120)
    code, metrics = get(port, "/metrics")
    assert code == 200
    assert 'render_clips_total{outcome="rendered"} 1.0' in metrics
    assert "render_clip_seconds_bucket" in metrics and "render_encode_fps_count 1.0" in metrics
    assert "temporal_worker_task_slots_available" in metrics  # the SDK's own, relayed
    assert 'render_queue_wait_seconds_count{channel="news",task_queue="render-gpu"} 1.0' in metrics
    assert 'render_channel_render_seconds_total{channel="news"}' in metrics
    free = float(
        next(line.split()[1] for line in metrics.splitlines() if line.startswith("render_scratch_free_ratio "))
    )
    assert 0 < free <= 1 and "render_worker_quarantined 0.0" in metrics
    control = cluster.health_ports[0]
    control_metrics = get(control, "/metrics")[1]
    assert "render_uploaded_bytes_total" in control_metrics
    # Counted by the workflow interceptor through the SDK's meter, relayed from the SDK's port.
    for series in ("render_videos_started{", "render_videos_completed{", "render_video_seconds_bucket{"):
        assert any(line.startswith(series) and 'channel="news"' in line for line in control_metrics.splitlines())
    assert 'le="7200"' in control_metrics  # the time-to-video buckets the worker's runtime sets (seconds, not ms)
    assert json.loads(get(control, "/status")[1])["task_queues"] == ["render-control"]


def get_or_none(port: int, path: str) -> int | None:
    try:
        return get(port, path)[0]
    except OSError:
        return None
