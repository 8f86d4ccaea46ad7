"""Disk is a shared budget: a worker low on space stops taking work instead of failing videos.

`DiskGuard` measures the free space of every disk the worker writes to (its scratch
directory and a file:// work store) every RENDER_DISK_CHECK_SECONDS. Below
RENDER_DISK_MIN_FREE_MB it pauses the worker and says so (a log line naming the disk,
`render_worker_paused 1`, `/status` and a 503 on `/readyz`); once every disk has
`RESUME_FACTOR` times that free again it resumes. While a file:// work store is low
it also wakes the control worker's sweep (`pressure`), which removes what videos no
longer running keep, then clip cache entries, until there is room again.

`Pausable` is how a Temporal worker pauses: it shuts its `Worker` down gracefully (work
in flight gets RENDER_DRAIN_SECONDS, as on SIGTERM, then is handed to other workers,
and a render resumes there from its checkpoints) and, when space returns, starts a new
one from the same configuration. A paused worker polls nothing, so no task reaches it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from temporalio.worker import Worker

from engine import metrics
from engine.retention import RESUME_FACTOR
from engine.settings import Settings
from engine.storage import file_path

log = structlog.get_logger(__name__)

SCRATCH = "scratch disk"
WORK_STORE = "work store"


@dataclass(frozen=True)
class Disk:
    name: str
    """`scratch disk` or `work store`: what the worker writes there, for people."""
    path: Path
    limit: int = 0
    """A budget of its own within the filesystem (a Kubernetes emptyDir's `sizeLimit`, past which the kubelet
    evicts the pod, while the filesystem's free space is the node's): free is then at most the limit less
    what the directory holds. 0: the filesystem's free space alone."""


Usage = Callable[[Path], Any]
"""`shutil.disk_usage`, or a stand-in with its `free` field."""


def mb(count: int) -> str:
    return f"{count / (1 << 20):.0f} MB"


def held(path: Path) -> int:
    """Bytes the files under `path` take on disk (blocks, as `du` and the kubelet count them)."""
    total = 0
    for parent, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(parent, name)).st_blocks * 512
            except FileNotFoundError:  # an activity's scratch removed meanwhile
                continue
    return total


class DiskGuard:
    """Whether this worker may take work: every disk it writes to has room (see the module's docstring)."""

    def __init__(
        self, disks: list[Disk], min_free_bytes: int, interval: float, usage: Usage = shutil.disk_usage
    ) -> None:
        self.disks, self.min_free, self.interval, self.usage = disks, min_free_bytes, interval, usage
        self.reason: str | None = None
        """Why the worker takes no work now, in words; None while it may."""
        self.pressure = asyncio.Event()
        """Set at each check while a file:// work store is low: the sweep then frees space in it."""
        self._changed = asyncio.Event()
        self.on_change: Callable[[str | None], None] = lambda _: None

    @classmethod
    def for_settings(cls, settings: Settings, usage: Usage = shutil.disk_usage) -> DiskGuard:
        disks = [Disk(SCRATCH, settings.storage.scratch_dir, settings.limits.scratch_limit_bytes)]
        if settings.storage.work_uri.startswith("file://"):
            disks.append(Disk(WORK_STORE, file_path(settings.storage.work_uri)))
        return cls(disks, settings.limits.disk_min_free_bytes, settings.limits.disk_check_seconds, usage)

    @property
    def enabled(self) -> bool:
        return self.min_free > 0

    @property
    def paused(self) -> bool:
        return self.reason is not None

    def _free(self, disk: Disk) -> int | None:
        try:
            disk.path.mkdir(parents=True, exist_ok=True)
            free = int(self.usage(disk.path).free)
            return max(0, min(free, disk.limit - held(disk.path))) if disk.limit else free
        except OSError as err:
            why = os.strerror(err.errno) if err.errno else str(err)
            log.warning("cannot measure free space", disk=disk.name, path=str(disk.path), error=why)
            return None

    def measure(self) -> list[tuple[Disk, int | None]]:
        """Every disk's free bytes now (None when it cannot be read): blocking, run it in a thread."""
        return [(disk, self._free(disk)) for disk in self.disks]

    def check(self) -> str | None:
        """Measure every disk now and pause or resume on the result; the reason to pause, or None."""
        return self.decide(self.measure())

    def decide(self, measured: list[tuple[Disk, int | None]]) -> str | None:
        """Pause or resume on measurements (on the event loop: it sets the guard's events)."""
        if not self.enabled:
            return None
        # Paused, a disk must have more than the minimum again before work resumes: no stop-start at every clip.
        level = int(self.min_free * RESUME_FACTOR) if self.paused else self.min_free
        low = [(disk, free) for disk, free in measured if free is not None and free < level]
        if any(disk.name == WORK_STORE for disk, _ in low):
            self.pressure.set()
        reason = None
        if low:
            reason = "; ".join(
                f"the {disk.name} ({disk.path}) has {mb(free)} free, under {mb(level)}" for disk, free in low
            )
        if (reason is None) != (self.reason is None):
            self._switch(reason, low)
        elif reason is not None:
            self.reason = reason  # the figures of the latest check
        return self.reason

    def _switch(self, reason: str | None, low: list[tuple[Disk, int]]) -> None:
        self.reason = reason
        metrics.WORKER_PAUSED.set(1 if reason else 0)
        if reason:
            metrics.DISK_PAUSES.inc()
            log.warning(
                "disk low: this worker takes no work until there is room",
                reason=reason,
                disks=[disk.name for disk, _ in low],
                min_free_mb=round(self.min_free / (1 << 20)),
                resume_at_mb=round(self.min_free * RESUME_FACTOR / (1 << 20)),
            )
        else:
            log.info("disk space back: this worker takes work again", min_free_mb=round(self.min_free / (1 << 20)))
        self.on_change(reason)
        self._changed.set()
        self._changed = asyncio.Event()

    async def watch(self) -> None:
        """Check every `interval` seconds until cancelled (measured in a thread: a network disk may be slow)."""
        while True:
            await self.check_soon()
            await asyncio.sleep(self.interval)

    async def check_soon(self) -> str | None:
        return self.decide(await asyncio.to_thread(self.measure))

    async def until(self, paused: bool) -> None:
        """Return once the guard is paused (True) or not (False)."""
        while self.paused != paused:
            await self._changed.wait()


class Pausable:
    """A Temporal worker that stops polling while the guard is paused, and starts again after it (module docstring)."""

    def __init__(self, worker: Worker, guard: DiskGuard) -> None:
        self.worker, self.guard = worker, guard
        self._stopping = asyncio.Event()
        self.restarts = 0

    @property
    def client(self) -> Any:
        return self.worker.client

    def config(self) -> Any:
        return self.worker.config()

    async def run(self) -> None:
        worker = self.worker
        fresh = True
        while not self._stopping.is_set():
            if self.guard.paused:
                await _first(self.guard.until(False), self._stopping.wait())
                continue
            if not fresh:
                # A Worker runs once: the next one is made from the same configuration.
                worker = self.worker = Worker(**worker.config())
                self.restarts += 1
                log.info("worker polls again", task_queue=worker.task_queue)
            fresh = False
            running = asyncio.ensure_future(worker.run())
            await _first(running, self.guard.until(True), self._stopping.wait())
            if running.done():
                running.result()  # a worker that died on its own: raised to the caller, as without a guard
                return
            log.info("worker stops polling", task_queue=worker.task_queue, why=self.guard.reason or "stopping")
            await worker.shutdown()
            await asyncio.gather(running, return_exceptions=True)
            log.info("worker stopped polling", task_queue=worker.task_queue)

    async def shutdown(self) -> None:
        self._stopping.set()
        if self.worker.is_running:  # a Worker never started (paused from the start) has nothing to shut down
            await self.worker.shutdown()


async def _first(*waits: Any) -> None:
    """Wait until the first of `waits` (futures or coroutines) is done; the coroutines' other tasks are cancelled."""
    futures = [asyncio.ensure_future(w) for w in waits]
    ours = [f for f, given in zip(futures, waits, strict=True) if f is not given]
    try:
        await asyncio.wait(futures, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for future in ours:
            future.cancel()
        await asyncio.gather(*ours, return_exceptions=True)
