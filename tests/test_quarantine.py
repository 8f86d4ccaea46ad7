"""Bad-worker quarantine: a worker whose own attempts keep failing takes itself out, and the videos complete elsewhere.

The bad worker's ffmpeg is a wrapper on its PATH that fails every encode with a machine-level error (it
answers `-version`, so its farm fingerprint matches), as a worker with a bad disk or GPU would.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from activities.keeper import Superseded, Unconfirmed
from contracts import names
from devtools.local import LocalCluster
from engine.settings import RenderSettings, Settings, StorageSettings, file_uri
from starter import RenderClient
from tests.report import report
from workers.quarantine import Failure, Quarantine, worker_fault

BIN = Path(sys.executable).parent
WORKER_ENV = {
    "RENDER_ENCODER": "libx264",
    "RENDER_FFMPEG_THREADS": "1",
    "RENDER_TTS": "none",
    "RENDER_SLOTS": "2",
    "RENDER_CLIP_CACHE_GB": "0",  # every clip is rendered, so the bad worker gets its share of attempts
    "RENDER_QUARANTINE_AFTER": "3",
    "RENDER_QUARANTINE_LINGER_SECONDS": "30",
}
BAD_FFMPEG = """#!/bin/sh
# Answers -version like the real one (the farm's fingerprint matches); every encode fails as a bad disk would.
case " $* " in *" -version "*) exec {ffmpeg} "$@";; esac
echo "av_interleaved_write_frame(): Input/output error" >&2
exit 1
"""


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    running = LocalCluster(tmp_path / "data", env=WORKER_ENV)
    running.start_server()
    yield running
    running.stop()


def bad_path(tmp_path: Path) -> str:
    """A PATH whose ffmpeg fails every encode."""
    where = tmp_path / "bad-bin"
    where.mkdir()
    real = subprocess.run(["which", "ffmpeg"], capture_output=True, text=True, check=True).stdout.strip()
    (where / "ffmpeg").write_text(BAD_FFMPEG.format(ffmpeg=real))
    (where / "ffmpeg").chmod(0o755)
    return f"{where}:{os.environ['PATH']}"


def job(video_id: str) -> dict[str, Any]:
    clip = {"kind": "recipe", "recipe": "testsrc", "duration": 2}
    return {"video_id": video_id, "profile": {"width": 320, "height": 180}, "clips": [clip] * 3}


def events(log: Path, name: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [e for e in lines if e.get("event") == name]


def get(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
        body: bytes = answer.read()
    return body.decode()


async def test_a_worker_whose_ffmpeg_always_fails_quarantines_itself_while_videos_complete(
    cluster: LocalCluster, renders: RenderClient, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    cluster.start_worker("control")
    bad = cluster.start_worker("gpu", env={"PATH": bad_path(tmp_path)})
    bad_log, bad_port = cluster.data / f"worker-gpu-{len(cluster.workers) - 1}.log", cluster.health_ports[-1]
    ids = [f"quarantine-{n}-{uuid.uuid4().hex[:6]}" for n in range(4)]
    for video_id in ids:
        await renders.submit(job(video_id))
    async with asyncio.timeout(60):  # the bad worker takes the first clips alone, and fails them
        while not events(bad_log, "worker quarantined: it stops polling and exits for its pod to be replaced"):
            assert bad.poll() is None, bad_log.read_text()[-3000:]
            await asyncio.sleep(0.2)
    cluster.start_worker("gpu")  # a healthy one

    # Lingering: polling nothing, saying why on /status and /metrics, named in `render workers`.
    status = json.loads(get(bad_port, "/status"))
    assert "probe encode with libx264 fails" in status["quarantined"] and status["ready"] is False
    assert "render_worker_quarantined 1.0" in get(bad_port, "/metrics")
    shown = subprocess.run([str(BIN / "render"), "workers", "--json"], capture_output=True, text=True, timeout=60,
                           env={**os.environ, "TEMPORAL_ADDRESS": cluster.address})  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    [note] = json.loads(shown.stdout)["quarantined"]
    assert note["identity"].startswith(f"{bad.pid}@") and "probe encode with libx264 fails" in note["reason"]
    bad.send_signal(signal.SIGTERM)  # ends the linger early
    assert bad.wait(timeout=60) == 4

    async with asyncio.timeout(300):
        results = [await renders.result(video_id) for video_id in ids]
    assert all(r.frames == 3 * 60 for r in results)
    failures = events(bad_log, "this worker's own failure")
    assert len(failures) >= 3 and all("FfmpegError" in f["failure"] for f in failures)
    report(request, "failing worker", videos=len(ids), completed=len(results), failures_before_quarantine=len(failures),
           exit_status=4, reason=status["quarantined"])  # fmt: skip


def settings(tmp_path: Path) -> Settings:
    return Settings(
        storage=StorageSettings(
            work_uri=file_uri(tmp_path / "work"),
            output_roots=(file_uri(tmp_path / "out"),),
            asset_roots=(file_uri(tmp_path / "assets"),),
            scratch_dir=tmp_path,
        ),
        render=RenderSettings(encoder="libx264"),
    )


async def test_failures_the_worker_passes_its_self_test_after_are_forgiven(tmp_path: Path) -> None:
    """A job that breaks ffmpeg on every worker must not empty the farm: a healthy worker stays."""
    left: list[str] = []

    async def leave(reason: str) -> None:
        left.append(reason)

    quarantine = Quarantine(3, settings(tmp_path), leave)
    for n in range(3):
        quarantine.failed(Failure(names.RENDER_CLIP, f"poison-{n}", "FfmpegError: ffmpeg was killed by SIGSEGV", False))
    assert quarantine._judging is not None
    await quarantine._judging
    assert left == [] and quarantine.streak == [] and quarantine.reason is None


async def test_attempts_that_stall_quarantine_without_a_self_test(tmp_path: Path) -> None:
    left: list[str] = []

    async def leave(reason: str) -> None:
        left.append(reason)

    quarantine = Quarantine(2, settings(tmp_path), leave)
    quarantine.failed(Failure(names.CONCAT_CLIPS, "v", "FfmpegError: Input/output error", False))
    quarantine.succeeded()  # a success ends the streak
    quarantine.failed(Failure(names.UPLOAD_VIDEO, "v", "superseded", True))
    quarantine.failed(Failure(names.UPLOAD_VIDEO, "w", "superseded", True))
    assert quarantine._judging is not None
    await quarantine._judging
    assert len(left) == 1 and "2 failures in a row (2 of its attempts stalled)" in left[0]


@pytest.mark.parametrize(
    ("error", "counted"),
    [
        (ApplicationError("ffmpeg exited with 1: Input/output error", type=names.FFMPEG_FAILED), True),
        (ApplicationError("no space left on device", type="DiskFull"), True),
        (ApplicationError("joined video has 59 frames", type=names.MEDIA_MISMATCH), True),
        (Superseded("attempt 2 was superseded"), True),
        (Unconfirmed("the server did not confirm"), False),  # the server's silence, not this worker's
        (ApplicationError("bad", type=names.FFMPEG_REJECTED, non_retryable=True), False),
        (ApplicationError("asset missing", type=names.BAD_ASSET, non_retryable=True), False),
        (ApplicationError("job", type=names.INVALID_JOB, non_retryable=True), False),
        (ApplicationError("S3 503", type="StorageError"), False),  # a shared service, not this worker
        (ApplicationError("Polly down", type="VoiceUnavailable"), False),
        (ValueError("a bug a job may trigger"), False),
    ],
)
def test_only_the_workers_own_failures_count(error: BaseException, counted: bool) -> None:
    assert (worker_fault(error) is not None) == counted
