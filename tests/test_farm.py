"""A worker whose settings differ from its farm's: it refuses to start, naming each difference, and fails no video.

Reported: a second worker started with its own RENDER_DATA_DIR (other work, output and asset roots) took
tasks from the fixed queues, and 0 of 6 videos that used an image asset completed. Worker processes and a
dev server of the test's own; the farm record is a paused Schedule on that server (runtime.farm).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.local import LocalCluster
from runtime.farm import record_id
from starter import RenderClient
from tests.report import report

BIN = Path(sys.executable).parent
WORKER_ENV = {"RENDER_ENCODER": "libx264", "RENDER_FFMPEG_THREADS": "1", "RENDER_TTS": "none", "RENDER_SLOTS": "2"}


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    running = LocalCluster(tmp_path / "a", env=WORKER_ENV)
    running.start_server()
    yield running
    running.stop()


def job(video_id: str, image: str) -> dict[str, Any]:
    card = {"kind": "card", "duration": 1, "image": image, "lines": ["the farm's logo"]}
    noise = {"kind": "recipe", "recipe": "testsrc", "duration": 2}
    return {"video_id": video_id, "profile": {"width": 320, "height": 180}, "clips": [card, noise, card]}


def refusal(log: Path) -> str:
    """The reason of the worker's `worker not started` line (JSON logs)."""
    for line in log.read_text().splitlines():
        with_reason = json.loads(line) if line.startswith("{") else {}
        if with_reason.get("event") == "worker not started":
            return str(with_reason["reason"])
    raise AssertionError(f"no refusal in {log}: {log.read_text()[-2000:]}")


def cli(cluster: LocalCluster, *args: str, program: str = "render", **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, **WORKER_ENV, "TEMPORAL_ADDRESS": cluster.address, "RENDER_DATA_DIR": str(cluster.data),
               "RENDER_BUILD_ID": cluster.build_id, "RENDER_LOG_LEVEL": "WARNING", **env}  # fmt: skip
    return subprocess.run([str(BIN / program), *args], env=environ, capture_output=True, text=True, timeout=120)


async def test_a_worker_with_other_roots_refuses_to_start_and_fails_no_video(
    cluster: LocalCluster, renders: RenderClient, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=160x90", "-frames:v", "1",
                    str(cluster.data / "assets" / "logo.png")], check=True)  # fmt: skip
    image = f"file://{cluster.data}/assets/logo.png"
    cluster.start_worker("control")
    cluster.start_worker("gpu")
    ids = [f"farm-{n}-{uuid.uuid4().hex[:6]}" for n in range(6)]
    for video_id in ids:
        await renders.submit(job(video_id, image))

    other = tmp_path / "b"  # another data directory: other work, output and asset roots
    stranger = cluster.start_worker("all", env={"RENDER_DATA_DIR": str(other)})
    assert stranger.wait(timeout=60) == 2
    said = refusal(cluster.data / f"worker-all-{len(cluster.workers) - 1}.log")
    for setting, variable in (("work_uri", "RENDER_WORK_URI"), ("output_roots", "RENDER_OUTPUT_ROOTS"),
                              ("asset_roots", "RENDER_ASSET_ROOTS")):  # fmt: skip
        sub = {"work_uri": "work", "output_roots": "output", "asset_roots": "assets"}[setting]
        assert f"{setting} ({variable}): file://{other}/{sub} here, file://{cluster.data}/{sub} in the farm" in said
    assert all(f"{same} (" not in said for same in ("fonts", "ffmpeg", "engine")), said
    assert f"render farm forget render:{cluster.build_id}" in said and record_id(f"render:{cluster.build_id}") in said
    assert "\n" not in said

    async with asyncio.timeout(240):
        results = [await renders.result(video_id) for video_id in ids]
    assert [r.output_uri for r in results] == [f"file://{cluster.data}/output/{v}.mp4" for v in ids]
    assert not (other / "output").exists() or not list((other / "output").iterdir())

    # The operator's view, and the way out when the farm's settings are the wrong ones.
    shown = cli(cluster, "farm", "--json")
    assert shown.returncode == 0, shown.stderr
    [record] = json.loads(shown.stdout)
    assert record["build"] == f"render:{cluster.build_id}"
    assert record["settings"]["asset_roots"] == f"file://{cluster.data}/assets"
    assert set(record["settings"]) == {"work_uri", "output_roots", "asset_roots", "fonts", "ffmpeg", "engine"}
    forgot = cli(cluster, "farm", "forget", record["build"])
    assert forgot.returncode == 0 and "forgot the farm record" in forgot.stdout, forgot.stderr
    assert cli(cluster, "farm", "forget", record["build"]).returncode == 4  # nothing left to forget
    report(request, "mismatched worker", videos=len(ids), completed=len(results), refused_exit=2, refusal=said)


async def test_the_demo_does_not_join_a_server_it_did_not_start_unless_told(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    cluster.start_worker("all")  # the farm on that server: its record has cluster.data's roots
    other = {"RENDER_DATA_DIR": str(tmp_path / "newcomer"), "RENDER_HEALTH_PORT": "0"}
    refused = cli(cluster, "demo", program="render-dev", **other)
    assert refused.returncode == 6, refused.stdout + refused.stderr
    assert f"the Temporal server at {cluster.address} was not started by this checkout" in refused.stderr
    assert "render-dev demo --join" in refused.stderr and refused.stderr.count("\n") == 1
    joined = cli(cluster, "demo", "--join", program="render-dev", **other)
    assert joined.returncode == 6, joined.stdout + joined.stderr
    assert f"joining the Temporal server at {cluster.address}" in joined.stderr
    assert "the demo's workers were not started: this worker's settings differ from its farm's" in joined.stderr
    assert not (tmp_path / "newcomer" / "output").exists() or not list((tmp_path / "newcomer" / "output").iterdir())
