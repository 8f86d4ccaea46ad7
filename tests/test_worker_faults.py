"""Faults inside a worker process: ffmpeg killed under it, its scratch disk full, the worker itself SIGKILLed.

Workers run as OS processes against their own dev server (see test_resume_processes).
The full disk is a 256 KiB tmpfs mounted over the scratch directory in a private
mount namespace of that one worker (`unshare --user --map-root-user --mount`): it
needs no privileges where user namespaces are enabled, works as root too, and
leaves the rest of the machine, and the other workers, untouched. It fills up
the way a real disk does, so ffmpeg and Python meet a real ENOSPC.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from contracts import names
from devtools.local import LocalCluster
from devtools.testing import clips_of
from starter import RenderClient
from tests.report import report
from tests.test_resume_processes import WORKER_ENV, finish, long_job, render_attempts, wait_for_segments

SCRATCH_DISK = "256k"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    running = LocalCluster(tmp_path_factory.mktemp("worker-faults"), env={**WORKER_ENV, "RENDER_DRAIN_SECONDS": "5"})
    running.start_server()
    running.start_worker("control")
    yield running
    running.stop()


@pytest.fixture
def gpu_workers(cluster: LocalCluster) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Render workers started by one test, stopped after it (the control worker stays)."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def children(pid: int, name: str) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid), "-x", name], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


async def test_ffmpeg_killed_mid_clip_is_retried_and_the_worker_lives_on(
    cluster: LocalCluster,
    renders: RenderClient,
    gpu_workers: list[subprocess.Popen[bytes]],
    request: pytest.FixtureRequest,
) -> None:
    worker = cluster.start_worker("gpu")
    gpu_workers.append(worker)
    video_id = f"ffkill-{uuid.uuid4().hex[:6]}"
    await renders.submit(long_job(video_id, seconds=30))
    await wait_for_segments(cluster, video_id, 2)
    [ffmpeg] = children(worker.pid, "ffmpeg")
    os.kill(ffmpeg, signal.SIGKILL)  # ffmpeg crashes; the worker does not

    result = await finish(renders, video_id)
    assert worker.poll() is None
    [clip] = clips_of(result)
    assert clip.attempt == 2 and clip.reused_frames >= 2 * 60 and result.frames == 900
    [*_, last] = await render_attempts(renders.client, video_id)
    failure = last.last_failure
    assert failure.application_failure_info.type == "FfmpegError"
    assert failure.message == "ffmpeg was killed by SIGKILL"
    report(request, "ffmpeg killed", attempts=clip.attempt, reused_frames=clip.reused_frames, frames=result.frames)


def private_small_disk(path: Path) -> list[str]:
    """A command prefix: run in a new mount namespace with a small tmpfs over `path`."""
    mount = f"mount -t tmpfs -o size={SCRATCH_DISK} tmpfs {shlex.quote(str(path))}"
    return ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", f'{mount} && exec "$@"', "sh"]


def small_disks_work(tmp_path: Path) -> bool:
    probe = subprocess.run([*private_small_disk(tmp_path), "true"], capture_output=True)
    return probe.returncode == 0


async def pending_render(client: Client, video_id: str) -> Any:
    description = await client.get_workflow_handle(video_id).describe()
    for pending in description.raw_description.pending_activities:
        if pending.activity_type.name == names.RENDER_CLIP:
            return pending
    return None


async def test_full_scratch_disk_fails_clearly_publishes_nothing_and_retries_elsewhere(
    cluster: LocalCluster,
    renders: RenderClient,
    gpu_workers: list[subprocess.Popen[bytes]],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    if not small_disks_work(tmp_path):
        pytest.skip("this system allows neither user namespaces nor mounts: no private small disk")
    scratch = cluster.data / "scratch"
    # Its disk guard off: a worker that starts short of space takes no work at all (test_disk_budget), and
    # here the disk fills in the middle of a render, which no threshold can see coming.
    full = cluster.start_worker("gpu", wrapper=private_small_disk(scratch), env={"RENDER_DISK_MIN_FREE_MB": "0"})
    gpu_workers.append(full)
    video_id = f"diskfull-{uuid.uuid4().hex[:6]}"
    job = {
        "video_id": video_id,
        "profile": {"width": 320, "height": 180},
        # Noise that does not compress: the clip's first segment alone outgrows the 256 KiB disk.
        "clips": [{"kind": "recipe", "recipe": "life", "duration": 3}],
    }
    await renders.submit(job)
    async with asyncio.timeout(60):
        while (pending := await pending_render(renders.client, video_id)) is None or pending.attempt < 2:
            await asyncio.sleep(0.2)
    failure = pending.last_failure
    assert failure.application_failure_info.type == "DiskFull"
    assert failure.message.startswith("no space left on device") and str(scratch) in failure.message
    published = [p for p in (cluster.data / "work").rglob("*") if p.is_file() and video_id in str(p)]
    # Not a clip, not a checkpoint, not a partial file (the sound track and the stored plan are the control
    # worker's, written beside).
    assert [p for p in published if p.name != "audio.m4a" and "plans" not in p.parts] == []

    full.send_signal(signal.SIGTERM)  # the full worker goes; a healthy one takes the retry
    assert full.wait(timeout=60) == 0
    gpu_workers.append(cluster.start_worker("gpu"))
    result = await finish(renders, video_id)
    [clip] = clips_of(result)
    assert clip.attempt >= 2 and result.frames == 90
    output = cluster.data / "output" / f"{video_id}.mp4"
    assert output.stat().st_size == result.bytes
    leftovers = [p for p in cluster.data.rglob("*") if p.name.endswith(".partial") or video_id in p.name]
    assert sorted(leftovers) == [
        output,
        output.with_name(f"{video_id}.mp4.poster.jpg"),
        output.with_name(f"{video_id}.mp4.render.json"),
    ]  # the video, its poster, its manifest
    report(
        request,
        "disk full",
        failed_attempts=clip.attempt - 1,
        message=failure.message,
        completed_on_attempt=clip.attempt,
    )


async def test_a_sigkilled_workers_scratch_is_removed_by_the_next_worker(
    cluster: LocalCluster, renders: RenderClient, gpu_workers: list[subprocess.Popen[bytes]]
) -> None:
    worker = cluster.start_worker("gpu")
    gpu_workers.append(worker)
    video_id = f"stale-{uuid.uuid4().hex[:6]}"
    await renders.submit(long_job(video_id, seconds=30))
    await wait_for_segments(cluster, video_id, 1)
    [owned] = [p for p in (cluster.data / "scratch").glob(f"w.{worker.pid}.*")]
    worker.kill()
    worker.wait()
    assert [p.name for p in owned.iterdir() if p.name.startswith(video_id)]  # left behind: nobody could clean it

    gpu_workers.append(cluster.start_worker("gpu"))
    async with asyncio.timeout(30):
        while owned.exists():
            await asyncio.sleep(0.1)
    result = await finish(renders, video_id)
    assert result.frames == 900
    assert not list((cluster.data / "scratch").rglob(f"{video_id}*"))
