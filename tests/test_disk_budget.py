"""Disk is a shared budget: a worker low on space takes no work, and what stopped videos keep is bounded.

In the process: the guard's thresholds on a stand-in for the disk, and a real Temporal worker that stops
polling while it is paused and starts again after. With real parts: what failed videos keep, bounded per
channel and overall, oldest first, never a running video's, asking the real dev server about each video.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy, SearchAttributePair, TypedSearchAttributes
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from contracts import search
from devtools.local import LocalCluster
from engine import metrics
from engine.deps import Deps
from engine.retention import VideoState, bound_kept, relieve, sweep_work_store
from engine.settings import GB, Settings, file_uri
from starter import RenderClient
from tests.report import report
from tests.test_resume_processes import long_job, render_attempts
from tests.test_worker_faults import small_disks_work
from tests.test_worker_http import get
from workers.disk import SCRATCH, WORK_STORE, Disk, DiskGuard
from workers.health import WorkerState
from workers.kept import video_states
from workers.main import run_until_stopped

MB = 1 << 20


class FakeDisk:
    """`shutil.disk_usage` for paths under a directory, with a free figure the test sets."""

    def __init__(self, free: int) -> None:
        self.free = free

    def __call__(self, path: Path) -> SimpleNamespace:
        return SimpleNamespace(free=self.free, total=100 * self.free + 1)


def counter(metric: Any, *labels: str) -> float:
    return float((metric.labels(*labels) if labels else metric)._value.get())


def test_the_guard_pauses_below_the_minimum_and_resumes_with_room_to_spare(tmp_path: Path) -> None:
    disk = FakeDisk(free=100 * MB)
    guard = DiskGuard([Disk(SCRATCH, tmp_path / "scratch"), Disk(WORK_STORE, tmp_path / "work")], 10 * MB, 1, disk)
    changes: list[str | None] = []
    guard.on_change = changes.append
    pauses = counter(metrics.DISK_PAUSES)
    assert guard.check() is None and not guard.paused

    disk.free = 9 * MB
    reason = guard.check()
    assert reason is not None and guard.paused and metrics.WORKER_PAUSED._value.get() == 1
    assert f"the scratch disk ({tmp_path / 'scratch'}) has 9 MB free, under 10 MB" in reason
    assert "the work store" in reason and guard.pressure.is_set()  # the sweep is woken to free the store
    assert counter(metrics.DISK_PAUSES) == pauses + 1

    disk.free = 11 * MB  # over the minimum, not yet with room to spare: still paused (no stop-start per clip)
    assert guard.check() is not None and "under 12 MB" in str(guard.reason)
    disk.free = 12 * MB
    assert guard.check() is None and not guard.paused and metrics.WORKER_PAUSED._value.get() == 0
    assert changes == [reason, None] and counter(metrics.DISK_PAUSES) == pauses + 1

    off = DiskGuard([Disk(SCRATCH, tmp_path)], 0, 1, FakeDisk(free=0))
    assert not off.enabled and off.check() is None  # RENDER_DISK_MIN_FREE_MB=0: never paused


def test_a_scratch_budget_counts_what_the_directory_holds(tmp_path: Path, settings: Settings) -> None:
    """An emptyDir's sizeLimit: the kubelet evicts the pod past it while statvfs reports the node's free space."""
    scratch = tmp_path / "scratch"
    limited = settings.replace(
        storage={"scratch_dir": scratch}, limits={"scratch_limit_gb": 8 * MB / GB, "disk_min_free_mb": 4}
    )
    guard = DiskGuard.for_settings(limited.replace(storage={"work_uri": "s3://bucket/work"}))
    assert guard.check() is None  # the node's disk has room, and so has the budget
    (scratch / "w.1.2.host").mkdir(parents=True)
    (scratch / "w.1.2.host" / "segment.mov").write_bytes(os.urandom(5 * MB))
    assert str(guard.check()).startswith(f"the scratch disk ({scratch}) has 3 MB free, under 4 MB")


def test_the_guard_watches_the_work_store_only_when_it_is_on_disk(tmp_path: Path, settings: Settings) -> None:
    on_disk = DiskGuard.for_settings(settings.replace(storage={"work_uri": file_uri(tmp_path)}))
    assert [d.name for d in on_disk.disks] == [SCRATCH, WORK_STORE]
    on_s3 = DiskGuard.for_settings(settings.replace(storage={"work_uri": "s3://bucket/work"}))
    assert [d.name for d in on_s3.disks] == [SCRATCH]


@activity.defn(name="disk_budget_echo")
async def echo(text: str) -> str:
    return text


@workflow.defn(name="DiskBudgetEcho", sandboxed=False)
class Echo:
    @workflow.run
    async def run(self, text: str) -> str:
        once = RetryPolicy(maximum_attempts=1)
        timeout = timedelta(seconds=10)
        return str(await workflow.execute_activity(echo, text, start_to_close_timeout=timeout, retry_policy=once))


async def test_a_paused_worker_polls_nothing_and_a_fresh_one_starts_when_space_returns(
    client: Client, tmp_path: Path
) -> None:
    disk = FakeDisk(free=100 * MB)
    guard = DiskGuard([Disk(SCRATCH, tmp_path)], 10 * MB, 0.1, disk)
    queue = f"disk-budget-{uuid.uuid4().hex[:8]}"
    worker = Worker(
        client, task_queue=queue, workflows=[Echo], activities=[echo], workflow_runner=UnsandboxedWorkflowRunner(),
        graceful_shutdown_timeout=timedelta(seconds=1),
    )  # fmt: skip
    state = WorkerState(mode="all", task_queues=[queue], render_slots=1, encoder="libx264")
    stop = asyncio.Event()
    running = asyncio.ensure_future(run_until_stopped([worker], stop, state, adopt=False, guard=guard))
    try:
        assert await client.execute_workflow(Echo.run, "before", id=f"{queue}-1", task_queue=queue) == "before"

        disk.free = 1 * MB
        async with asyncio.timeout(10):
            while not state.paused:
                await asyncio.sleep(0.05)
        assert state.status()["paused"] == state.paused and not state.status()["ready"]
        await asyncio.sleep(0.5)  # the old worker's shutdown lands
        paused = await client.start_workflow(Echo.run, "while paused", id=f"{queue}-2", task_queue=queue)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.shield(paused.result()), timeout=2)  # nobody polls: it waits

        disk.free = 50 * MB
        async with asyncio.timeout(30):
            assert await paused.result() == "while paused"  # a fresh worker took it
        assert state.paused is None and state.status()["ready"]
    finally:
        stop.set()
        await running


# what stopped videos keep


@dataclasses.dataclass
class Videos:
    """Stand-in for Temporal: which videos run, their channel and when they stopped."""

    states: dict[str, VideoState]
    asked: list[str] = dataclasses.field(default_factory=list)

    async def __call__(self, video_id: str) -> VideoState:
        self.asked.append(video_id)
        return self.states.get(video_id, VideoState(running=False))


def leave(root: Path, video_id: str, size: int, hours_ago: float = 0) -> Path:
    clip = root / video_id / "clips" / "0000-abc.mov"
    clip.parent.mkdir(parents=True, exist_ok=True)
    clip.write_bytes(b"x" * size)
    stamp = time.time() - hours_ago * 3600
    os.utime(clip, (stamp, stamp))
    return root / video_id


def budget_deps(tmp_path: Path, settings: Settings, **limits: Any) -> Deps:
    """A work store of this test's own, and `limits` over the session's."""
    (tmp_path / "work").mkdir(exist_ok=True)
    (tmp_path / "scratch").mkdir(exist_ok=True)
    storage = {"work_uri": file_uri(tmp_path / "work"), "scratch_dir": tmp_path / "scratch"}
    return Deps.from_settings(settings.replace(storage=storage, limits=limits))


async def test_kept_intermediates_are_bounded_per_channel_then_overall_oldest_first(
    tmp_path: Path, settings: Settings
) -> None:
    deps = budget_deps(tmp_path, settings, kept_gb=2500 / GB, kept_channel_gb={"news": 1500 / GB, "*": 10_000 / GB})
    root = tmp_path / "work"
    now = time.time()
    videos = Videos(
        {
            "news-old": VideoState(False, "news", now - 500, "r1"),
            "news-new": VideoState(False, "news", now - 100, "r2"),
            "kids-old": VideoState(False, "kids", now - 400, "r3"),
            "kids-new": VideoState(False, "kids", now - 50, "r4"),
            "running": VideoState(True, "news", None, "r5"),
        }
    )
    for video_id in videos.states:
        leave(root, video_id, 1000)
    leave(root, "expired", 1000, hours_ago=2)  # Temporal no longer knows it: its newest file's age counts
    (root / "_cache" / "clips").mkdir(parents=True)
    (root / "_cache" / "clips" / "k.mov").write_bytes(b"c" * 5000)  # shared: never a video's leftovers
    (root / "narration").mkdir()
    (root / "narration" / "n.wav").write_bytes(b"n" * 5000)

    by_channel, overall = counter(metrics.KEPT_EVICTED, "channel"), counter(metrics.KEPT_EVICTED, "total")
    done = await bound_kept(deps, videos)
    left = sorted(p.name for p in root.iterdir())
    # news over its 1500: its oldest goes. Then 4000 kept over 2500 in all: the oldest first ("expired", then
    # "kids-old"), leaving 2000. The running video and the shared directories are never candidates.
    assert left == ["_cache", "kids-new", "narration", "news-new", "running"]
    assert done.evicted == 3 and done.kept_bytes == 2000 and done.kept_videos == 2
    assert counter(metrics.KEPT_EVICTED, "channel") == by_channel + 1
    assert counter(metrics.KEPT_EVICTED, "total") == overall + 2
    assert metrics.KEPT_BYTES._value.get() == 2000
    assert "_cache" not in videos.asked and "narration" not in videos.asked


async def test_a_video_resubmitted_meanwhile_keeps_its_intermediates(tmp_path: Path, settings: Settings) -> None:
    deps = budget_deps(tmp_path, settings, kept_gb=0)
    root = tmp_path / "work"
    leave(root, "again", 1000)
    answers = iter([VideoState(False, "a", 1.0, "first"), VideoState(True, "a", None, "second")])

    async def state_of(video_id: str) -> VideoState:
        return next(answers)

    done = await bound_kept(deps, state_of)
    assert done.evicted == 0 and (root / "again").exists()


async def test_relief_frees_a_low_work_store_kept_first_then_the_cache(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    deps = budget_deps(tmp_path, settings, disk_min_free_mb=10_000 / MB, kept_gb=1 << 10)
    root = tmp_path / "work"
    now = time.time()
    videos = Videos({"old": VideoState(False, "a", now - 100, "1"), "new": VideoState(False, "a", now - 10, "2")})
    leave(root, "old", 4000)
    leave(root, "new", 4000)
    cache = root / "_cache" / "clips"
    cache.mkdir(parents=True)
    for name, hours in (("lru.mov", 5), ("mru.mov", 1)):
        (cache / name).write_bytes(b"c" * 3000)
        stamp = now - hours * 3600
        os.utime(cache / name, (stamp, stamp))

    def free(_: Deps) -> int:
        """A 14,000-byte disk holding only the work store."""
        return 14_000 - sum(p.stat().st_size for p in root.rglob("*") if p.is_file())

    monkeypatch.setattr("engine.retention.work_free_bytes", free)
    # Free 0 of a 10,000 minimum: relief frees up to 12,000 (the resume level): both videos (8,000) first,
    # then the least recently used cache entry (3,000) and the next (3,000).
    disk = counter(metrics.KEPT_EVICTED, "disk")
    assert free(deps) == 0
    freed = await relieve(deps, videos)
    assert freed == 14_000 and sorted(p.name for p in root.rglob("*.mov")) == []
    assert counter(metrics.KEPT_EVICTED, "disk") == disk + 2

    # Only what is needed: with 11,000 free, the older video (4,000) is enough.
    leave(root, "old", 4000)
    leave(root, "new", 4000)
    monkeypatch.setattr("engine.retention.work_free_bytes", lambda _: 11_000)
    assert await relieve(deps, videos) == 4000 and sorted(p.name for p in root.iterdir()) == ["_cache", "new"]


async def test_the_sweep_asks_the_real_server_and_keeps_running_videos(
    client: Client, tmp_path: Path, settings: Settings
) -> None:
    """Temporal's own answer: a failed video's channel and close time, a running one left alone."""
    deps = budget_deps(tmp_path, settings, kept_gb=0, kept_channel_gb={})
    root = tmp_path / "work"
    queue = f"kept-{uuid.uuid4().hex[:8]}"
    failed_id, running_id, unknown_id = (f"{queue}-{n}" for n in ("failed", "running", "unknown"))
    channel = TypedSearchAttributes([SearchAttributePair(search.CHANNEL, "news")])
    worker = Worker(
        client, task_queue=queue, workflows=[Echo], activities=[], workflow_runner=UnsandboxedWorkflowRunner()
    )
    async with worker:
        failed = await client.start_workflow(
            Echo.run, "x", id=failed_id, task_queue=queue, search_attributes=channel,
            execution_timeout=timedelta(seconds=1),
        )  # fmt: skip
        with pytest.raises(Exception):  # noqa: B017 - the activity is never served: it times out
            await failed.result()
        await client.start_workflow(Echo.run, "y", id=running_id, task_queue=queue)
        state = await video_states(client)(failed_id)
        assert not state.running and state.channel == "news" and state.closed_at and state.run_id
        assert (await video_states(client)(running_id)).running
        assert await video_states(client)(unknown_id) == VideoState(running=False)

        for video_id in (failed_id, running_id, unknown_id):
            leave(root, video_id, 100)
        await sweep_work_store(deps, max_age_seconds=3600, state_of=video_states(client))
        assert sorted(p.name for p in root.iterdir()) == [running_id]
        await client.get_workflow_handle(running_id).terminate()


# worker processes on small real disks


def small_disk(path: Path, size: str) -> list[str]:
    """A command prefix: run in a new mount namespace with a tmpfs of `size` over `path` (no privileges needed
    where user namespaces are allowed). The test reaches that disk through /proc/<pid>/root."""
    mount = f"mount -t tmpfs -o size={size} tmpfs {shlex.quote(str(path))}"
    return ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", f'{mount} && exec "$@"', "sh"]


def inside(proc: subprocess.Popen[bytes], path: Path) -> Path:
    """`path` as the process in its own mount namespace sees it."""
    return Path(f"/proc/{proc.pid}/root") / path.relative_to("/")


def fill(path: Path, leave: int = 0) -> int:
    """Write into `path` until its filesystem has `leave` bytes free (or fewer); returns the bytes written."""
    written = 0
    with open(path, "wb") as out:
        while (room := shutil.disk_usage(path.parent).free - leave) > 0:
            try:
                out.write(b"\0" * min(room, 1 << 20))
                out.flush()
            except OSError:
                break
            written += min(room, 1 << 20)
    return written


def status(port: int) -> dict[str, Any]:
    return dict(json.loads(get(port, "/status")[1]))


def metric(port: int, series: str) -> float:
    text = get(port, "/metrics")[1]
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(series + " "))


PROCESS_ENV = {
    "RENDER_ENCODER": "libx264",
    "RENDER_FFMPEG_THREADS": "1",
    "RENDER_TTS": "none",
    "RENDER_SLOTS": "1",
    "RENDER_CLIP_CACHE_GB": "0",
    "RENDER_DISK_CHECK_SECONDS": "0.2",
    "RENDER_DRAIN_SECONDS": "5",
}


@pytest.fixture
def small_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    if not small_disks_work(tmp_path):
        pytest.skip("this system allows neither user namespaces nor mounts: no private small disk")
    running = LocalCluster(tmp_path / "cluster", env=dict(PROCESS_ENV))
    running.start_server()
    yield running
    running.stop()


def card_job(video_id: str, channel: str, seconds: float = 1.0) -> dict[str, Any]:
    clip = {"kind": "card", "duration": seconds, "lines": [f"{channel}: {video_id}"]}
    return {"video_id": video_id, "channel": channel, "profile": {"width": 320, "height": 180}, "clips": [clip]}


@pytest.mark.server
async def test_a_worker_short_of_scratch_takes_no_work_until_there_is_room(
    small_cluster: LocalCluster, request: pytest.FixtureRequest
) -> None:
    cluster = small_cluster
    cluster.start_worker("control")
    scratch = cluster.data / "scratch"
    low = cluster.start_worker("gpu", wrapper=small_disk(scratch, "8m"), env={"RENDER_DISK_MIN_FREE_MB": "4"})
    port = cluster.health_ports[-1]
    filler = inside(low, scratch) / "filler"
    fill(filler, leave=2 << 20)  # 2 MB free of 8: under the 4 MB minimum
    async with asyncio.timeout(10):
        while not status(port)["paused"]:
            await asyncio.sleep(0.05)
    said = status(port)["paused"]
    assert said.startswith(f"the scratch disk ({scratch}) has 2 MB free, under 4 MB")
    assert get(port, "/readyz") == (503, f"paused: {said}\n")
    assert metric(port, "render_worker_paused") == 1 and metric(port, "render_disk_pauses_total") == 1

    cluster.start_worker("gpu")  # a healthy one beside it
    renders = RenderClient(await Client.connect(cluster.address))
    ids = [f"room-{n}" for n in range(4)]
    for video_id in ids:
        await renders.submit(card_job(video_id, "alpha"))
    for video_id in ids:
        async with asyncio.timeout(120):
            await renders.result(video_id)
        assert [a.attempt for a in await render_attempts(renders.client, video_id)] == [1]
    assert metric(port, 'render_clips_total{outcome="rendered"}') == 0  # the low worker took none of them

    filler.unlink()  # room again: it polls again, and renders
    async with asyncio.timeout(10):
        while status(port)["paused"]:
            await asyncio.sleep(0.05)
    assert get(port, "/readyz")[0] == 200 and metric(port, "render_worker_paused") == 0
    cluster.workers[-1].kill()
    cluster.workers[-1].wait()
    await renders.submit(card_job("room-after", "alpha"))
    async with asyncio.timeout(120):
        await renders.result("room-after")
    assert metric(port, 'render_clips_total{outcome="rendered"}') == 1
    report(request, "worker short of scratch", videos=5, completed=5, failed_attempts=0, paused_worker_clips=1)


@pytest.mark.server
async def test_a_full_work_store_fails_no_video_for_another_videos_leftovers(
    small_cluster: LocalCluster, request: pytest.FixtureRequest
) -> None:
    """As reported: a failed video's intermediates fill the work store; the next tenant's 1-second video failed
    after 5 attempts with `no space left on device`. Now the workers stop taking work while the store is
    full, the control worker removes what stopped videos keep (oldest first), and the video completes."""
    cluster = small_cluster
    work = cluster.data / "work"
    env = {"RENDER_DISK_MIN_FREE_MB": "2", "RENDER_KEPT_GB": "100", "RENDER_KEPT_CHANNEL_GB": "*=100"}
    worker = cluster.start_worker("all", wrapper=small_disk(work, "24m"), env=env)
    port = cluster.health_ports[-1]
    store = inside(worker, work)
    renders = RenderClient(await Client.connect(cluster.address))

    # Tenant A's video stops with its checkpoints kept (a failure, here a terminate), its clip half done.
    await renders.submit({**long_job("tenant-a", seconds=60), "channel": "alpha"})
    async with asyncio.timeout(120):
        while len(list((store / "tenant-a" / "segments").glob("*/*.json"))) < 2:
            await asyncio.sleep(0.05)
    await renders.client.get_workflow_handle("tenant-a").terminate("keeps its intermediates")
    async with asyncio.timeout(60):
        while status(port)["render_slots"]["used"]:
            await asyncio.sleep(0.1)
    # ... and whatever else it kept fills the store to the last byte.
    written = fill(store / "tenant-a" / "segments" / "kept.bin")
    kept = sum(p.stat().st_size for p in (store / "tenant-a").rglob("*") if p.is_file())
    assert shutil.disk_usage(store).free < 1 << 20

    started = time.monotonic()
    await renders.submit(card_job("tenant-b", "beta"))
    async with asyncio.timeout(120):
        result = await renders.result("tenant-b")
    seconds = time.monotonic() - started
    assert result.frames == 30
    attempts = [a.attempt for a in await render_attempts(renders.client, "tenant-b")]
    assert not (store / "tenant-a").exists()  # the stopped video's leftovers went, oldest first
    assert metric(port, 'render_kept_evicted_total{reason="disk"}') == 1
    assert metric(port, 'render_kept_evicted_bytes_total{reason="disk"}') == kept
    assert shutil.disk_usage(store).free >= 2 << 20
    report(
        request,
        "full work store",
        kept_bytes=kept,
        filler_bytes=written,
        video_seconds=round(seconds, 2),
        render_attempts=attempts,
        pauses=metric(port, "render_disk_pauses_total"),
    )
