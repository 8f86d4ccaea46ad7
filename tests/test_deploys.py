"""A deploy during renders, with real worker processes of two builds and the operator's `temporal` commands.

v1 renders a video whose GPU worker is SIGKILLed mid-clip; v2 starts and becomes current; a video
started then runs on v2 while the v1 clip waits for a v1 GPU worker (activities follow their pinned
workflow: runtime.versioning); rollback makes v1 current again; v1 finishes both its videos, pinned;
rolled forward again, the drained v1 workers leave on their own, and not before.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import VersioningBehavior
from temporalio.client import Client

from devtools.devserver import PLAIN_CONNECTION, temporal_binary
from devtools.local import LocalCluster
from devtools.testing import FakeKube, clips_of
from runtime.versioning import Build, adopt_if_none, routing
from starter import RenderClient
from starter.client import NoCurrentVersion
from starter.exits import NO_WORKER
from tests.test_resume_processes import long_job, render_attempts, wait_for_segments
from workers.autoscaler.config import AutoscalerConfig
from workers.autoscaler.kube import KubeScaler, apps_api
from workers.autoscaler.loop import Autoscaler
from workers.autoscaler.policy import Policy, Pool
from workers.autoscaler.signals import TemporalSignals

WORKER_ENV = {
    "RENDER_ENCODER": "libx264",
    "RENDER_FFMPEG_THREADS": "1",
    "RENDER_TTS": "none",
    "RENDER_SLOTS": "1",
    "RENDER_DRAIN_SECONDS": "5",
    "RENDER_HEARTBEAT_SECONDS": "5",
    "RENDER_CLIP_CACHE_GB": "0",  # each video renders its own clips, on the build it is pinned to
    "RENDER_DRAIN_CHECK_SECONDS": "1",
}
V1 = {"RENDER_BUILD_ID": "v1"}
V2 = {"RENDER_BUILD_ID": "v2"}
DRAIN = ["--exit-when-drained"]
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    running = LocalCluster(tmp_path, env=WORKER_ENV)
    running.start_server()
    yield running
    running.stop()


def operator(cluster: LocalCluster, *args: str) -> dict[str, Any]:
    """Run a `temporal` command as an operator would, against the cluster's server; its JSON output."""
    done = subprocess.run(
        [temporal_binary(), *args, "--address", cluster.address, *PLAIN_CONNECTION, "-o", "json"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    if done.returncode:
        raise subprocess.CalledProcessError(done.returncode, args, done.stdout, done.stderr)
    return json.loads(done.stdout) if done.stdout.strip().startswith(("{", "[")) else {}


def set_current(cluster: LocalCluster, build_id: str, timeout: float = 30.0) -> None:
    """`set-current-version`, asked again while the server refuses it: it does until every task queue of the
    current version has a poller of the new one (a worker that just started registers on its first poll)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            operator(cluster, "worker", "deployment", "set-current-version",
                     "--deployment-name", "render", "--build-id", build_id, "--yes")  # fmt: skip
            return
        except subprocess.CalledProcessError as err:
            if time.monotonic() > deadline:
                raise AssertionError(err.stderr) from None
            time.sleep(0.5)


def described_pin(cluster: LocalCluster, video_id: str) -> tuple[str, str]:
    """(behaviour, build id) from `temporal workflow describe -o json`, as an operator reads it."""
    try:
        described = operator(cluster, "workflow", "describe", "-w", video_id)
    except subprocess.CalledProcessError as err:
        raise AssertionError(err.stderr) from None
    info = described["workflowExecutionInfo"]["versioningInfo"]
    return info["behavior"], info["deploymentVersion"]["buildId"]


async def pinned_build(client: Client, video_id: str) -> tuple[str, str]:
    """(behaviour, build id) of a video, from the server's description."""
    described = await client.get_workflow_handle(video_id).describe()
    info = described.raw_description.workflow_execution_info.versioning_info
    return VersioningBehavior.Name(info.behavior), info.deployment_version.build_id


def tiny_job(video_id: str) -> dict[str, Any]:
    return {"video_id": video_id, "profile": {"width": 160, "height": 90}, "clips": [{"kind": "recipe",
            "recipe": "testsrc", "duration": 1}]}  # fmt: skip


async def until(check: Any, timeout: float = 60.0) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.2)


async def test_rollout_and_rollback_during_renders(cluster: LocalCluster, renders: RenderClient) -> None:
    client = renders.client
    v1_control = cluster.start_worker("control", env=V1, args=DRAIN)
    v1_gpu = cluster.start_worker("gpu", env=V1, args=DRAIN)

    async def current_is(build_id: str) -> bool:
        found = await routing(client, "render")
        return found is not None and found.current == build_id

    await until(lambda: current_is("v1"), 30)  # a fresh deployment: the first build made itself current

    # v1 renders a long clip; its only GPU worker dies mid-clip.
    old = f"old-{uuid.uuid4().hex[:6]}"
    await renders.submit(long_job(old))
    await wait_for_segments(cluster, old, 2)
    v1_gpu.send_signal(signal.SIGKILL)
    v1_gpu.wait()

    # v2 starts; the operator makes it current; a video started now runs on v2.
    v2_control = cluster.start_worker("control", env=V2, args=DRAIN)
    v2_gpu = cluster.start_worker("gpu", env=V2, args=DRAIN)
    assert not await adopt_if_none(client, Build("render", "v2"), timeout=1)  # v1 was chosen: left alone
    set_current(cluster, "v2")
    new = f"new-{uuid.uuid4().hex[:6]}"
    await renders.submit(tiny_job(new))
    async with asyncio.timeout(60):
        await renders.result(new)
    assert await pinned_build(client, new) == ("VERSIONING_BEHAVIOR_PINNED", "v2")
    # Meanwhile v1's clip was not handed to v2's GPU worker: it waits for a worker of its own build.
    assert described_pin(cluster, old) == ("VERSIONING_BEHAVIOR_PINNED", "v1")
    assert all(str(v2_gpu.pid) not in a.identity for a in await render_attempts(client, old))

    # A v1 GPU worker comes back (as Kubernetes replaces the killed pod): the clip resumes there, on v1.
    assert v1_control.poll() is None  # v1 still has a video: its workers stay
    v1_gpu = cluster.start_worker("gpu", env=V1, args=DRAIN)
    async with asyncio.timeout(120):
        result = await renders.result(old)
    finished = time.monotonic()
    assert described_pin(cluster, old) == ("VERSIONING_BEHAVIOR_PINNED", "v1")  # as `temporal workflow describe` shows
    attempts = await render_attempts(client, old)
    [clip] = clips_of(result)
    assert str(v1_gpu.pid) in attempts[-1].identity and clip.reused_frames > 0  # resumed, on v1

    # v1 has drained (not current, nothing running): its workers leave by themselves, status 0.
    assert v1_control.wait(timeout=30) == 0 and v1_gpu.wait(timeout=30) == 0
    print(f"v1 workers left {time.monotonic() - finished:.1f} s after their last video finished; the killed clip "
          f"resumed on attempt {clip.attempt} reusing {clip.reused_frames}/{result.frames} frames")  # fmt: skip
    assert v2_control.poll() is None and v2_gpu.poll() is None  # the current version stays

    # Rollback: v1's workers start again, v1 becomes current, new videos go to v1; v2 drains and leaves.
    v1_control = cluster.start_worker("control", env=V1)
    cluster.start_worker("gpu", env=V1)
    set_current(cluster, "v1")
    back = f"back-{uuid.uuid4().hex[:6]}"
    await renders.submit(tiny_job(back))
    async with asyncio.timeout(60):
        await renders.result(back)
    assert await pinned_build(client, back) == ("VERSIONING_BEHAVIOR_PINNED", "v1")
    assert v2_control.wait(timeout=30) == 0 and v2_gpu.wait(timeout=30) == 0


async def test_ramp_sends_new_videos_to_both_builds(cluster: LocalCluster, renders: RenderClient) -> None:
    client = renders.client
    cluster.start_worker("all", env=V1)
    cluster.start_worker("all", env=V2)
    await until(lambda: _has_current(renders.client), 30)
    first = (await routing(renders.client, "render")).current  # type: ignore[union-attr]
    other = "v2" if first == "v1" else "v1"
    operator(cluster, "worker", "deployment", "set-ramping-version", "--deployment-name", "render",
             "--build-id", other, "--percentage", "50", "--yes")  # fmt: skip
    ids = [f"ramp-{i}-{uuid.uuid4().hex[:4]}" for i in range(12)]
    for video_id in ids:
        await renders.submit(tiny_job(video_id))
    async with asyncio.timeout(120):
        for video_id in ids:
            await renders.result(video_id)
    builds = [(await pinned_build(client, v))[1] for v in ids]
    assert set(builds) == {"v1", "v2"}, builds  # 12 videos at 50 %: all on one build has p = 1/2048
    # Rollback of the ramp: new videos go to the current version only.
    operator(cluster, "worker", "deployment", "set-ramping-version", "--deployment-name", "render",
             "--build-id", other, "--delete", "--yes")  # fmt: skip
    after = [f"after-{i}-{uuid.uuid4().hex[:4]}" for i in range(4)]
    for video_id in after:
        await renders.submit(tiny_job(video_id))
    async with asyncio.timeout(60):
        for video_id in after:
            await renders.result(video_id)
    assert {(await pinned_build(client, v))[1] for v in after} == {first}


async def _has_current(client: Client) -> bool:
    found = await routing(client, "render")
    return found is not None and found.current is not None


async def test_no_current_version_is_refused_with_the_command_to_run(
    cluster: LocalCluster, renders: RenderClient, tmp_path: Path
) -> None:
    cluster.start_worker("all", env={**V1, "RENDER_DEPLOYMENT_CURRENT": "never"})
    with pytest.raises(NoCurrentVersion) as refused:
        await renders.submit(tiny_job(f"refused-{uuid.uuid4().hex[:6]}"), grace_seconds=2)
    command = "temporal worker deployment set-current-version --deployment-name render --build-id v1"
    said = f"worker deployment 'render' has no current version (builds polling: v1); run `{command}`"
    assert str(refused.value) == f"task_queue: {said}"
    job = tmp_path / "job.json"
    job.write_text(json.dumps(tiny_job("cli-refused")))
    run = subprocess.run(
        [str(Path(sys.executable).parent / "render"), "submit", str(job)], capture_output=True, text=True, timeout=60,
        env={**os.environ, "TEMPORAL_ADDRESS": cluster.address, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert (run.returncode, run.stderr) == (NO_WORKER, f"render: refused: task_queue: {said}\n")
    set_current(cluster, "v1")
    video_id = f"after-{uuid.uuid4().hex[:6]}"
    await renders.submit(tiny_job(video_id))
    async with asyncio.timeout(60):
        await renders.result(video_id)
    assert await pinned_build(renders.client, video_id) == ("VERSIONING_BEHAVIOR_PINNED", "v1")

    # A development loop: a changed checkout is a new build, made current by an explicit render-dev step.
    cluster.start_worker("all", env=V2)
    async with asyncio.timeout(30):
        while True:
            made = subprocess.run(
                [str(Path(sys.executable).parent / "render-dev"), "make-current", "--build-id", "v2"],
                capture_output=True, text=True, timeout=60,
                env={**os.environ, "TEMPORAL_ADDRESS": cluster.address, "PYTHONPATH": str(REPO)},
            )  # fmt: skip
            if made.returncode == 0:
                break
            await asyncio.sleep(0.5)  # until v2's first poll has registered it
    assert made.stdout == "render:v2 is current (was v1)\n"


async def test_each_builds_gpu_pool_scales_on_its_own_backlog(cluster: LocalCluster, renders: RenderClient) -> None:
    """A draining build's retried clip scales that build's pool from zero; the current build's stays put."""
    client = renders.client
    cluster.start_worker("control", env=V1)
    v1_gpu = cluster.start_worker("gpu", env=V1)
    await until(lambda: _has_current(client), 30)
    v1_gpu.send_signal(signal.SIGTERM)  # v1's GPU pool is at zero
    assert v1_gpu.wait(timeout=60) == 0
    cluster.start_worker("control", env=V2)
    cluster.start_worker("gpu", env=V2)
    video_id = f"waits-{uuid.uuid4().hex[:6]}"
    await renders.submit(tiny_job(video_id), require_worker=False)  # pinned to v1: its clip waits for v1
    set_current(cluster, "v2")

    pools = tuple(
        Pool(f"render-gpu-{build}", "render", "render-gpu", max_replicas=3, version=f"render:{build}")
        for build in ("v1", "v2")
    )
    policy = Policy(target_backlog_per_replica=1, burst_backlog=None, burst_age_seconds=None)
    config = AutoscalerConfig(pools=pools, policy=policy, interval_seconds=0.5)
    with FakeKube({("render", p.deployment): 0 for p in pools}) as kube:
        autoscaler = Autoscaler(config, TemporalSignals(client), KubeScaler(apps_api(kube.url)))
        async with asyncio.timeout(30):
            while kube.replicas[("render", "render-gpu-v1")] == 0:
                tick = await autoscaler.tick()
                assert tick.error is None, tick.error
                await asyncio.sleep(0.5)
        assert tick.signals["render-gpu@render:v1"].running == 1  # the video pinned to v1
        assert (tick.signals["render-gpu@render:v2"].backlog, tick.signals["render-gpu@render:v2"].running) == (0, 0)
        assert kube.replicas[("render", "render-gpu-v2")] == 0 and kube.patches("render-gpu-v2") == []
    cluster.start_worker("gpu", env=V1)  # what the patched replica count would start
    async with asyncio.timeout(60):
        await renders.result(video_id)
