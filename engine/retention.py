"""Removal of intermediates that outlived their video.

Intermediates live in the work store under `<video_id>/`. A completed or
canceled video removes its own; a failed one keeps them (a resubmit reuses its
finished clips), and a worker that died mid-video leaves them behind. Control
workers therefore sweep the work store periodically and remove anything whose
modification time is older than the configured age.

The sweep only ever removes files or objects older than that age, tolerates
other sweepers (or the video itself) removing the same things at the same
time, never follows a symlink (nor removes one: it may be an operator's) and
never removes the work root itself.

The clip cache (`_cache/clips/`) follows the same age rule, counted from each
entry's last use (a hit refreshes its time); after the age rule the sweep trims
the cache to RENDER_CLIP_CACHE_GB, least recently used first.

What videos no longer running keep (a failed video's clips, for a resubmit) is a
shared budget too: given how to ask Temporal about a video (`StateOf`), the sweep
then bounds it per channel (RENDER_KEPT_CHANNEL_GB) and overall (RENDER_KEPT_GB),
removing the videos that stopped longest ago first, and never a running video's.
When a file:// work store runs low (`relieve`, woken by the workers' disk guard),
kept intermediates go first, oldest first, then clip cache entries, least recently
used first, until the store has room again: one tenant's leftovers never fail
another tenant's video.
"""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from contracts import names
from contracts.tenancy import ANY_CHANNEL
from engine import metrics
from engine.clip_cache import PREFIX as CACHE_PREFIX
from engine.clip_cache import cached_bytes, evict
from engine.deps import Deps
from engine.storage import FileStorage, S3Storage, StorageError, file_path, split_s3

log = structlog.get_logger(__name__)

S3_DELETE_BATCH = 1000
"""The most keys one DeleteObjects request may name."""
SHARED_ROOTS = frozenset({CACHE_PREFIX.split("/", 1)[0], "narration"})
"""Top-level names of the work store that belong to no one video: the clip cache, narration by content."""
RESUME_FACTOR = 1.2
"""A worker paused for disk space takes work again once the disk has this many times its minimum free: room
for a render or two, so it does not stop and start at every clip. Relief frees space up to the same level."""
STATE_LOOKUPS = 16
"""Videos asked about at once."""


@dataclass
class _Tally:
    removed: int = 0
    directories: int = 0
    failed: int = 0
    first_failure: str = ""

    def failure(self, what: str) -> None:
        self.failed += 1
        self.first_failure = self.first_failure or what


async def sweep_work_store(
    deps: Deps, max_age_seconds: float, now: float | None = None, state_of: StateOf | None = None
) -> int:
    """Remove what the work store holds that is older than `max_age_seconds`; returns how many files or objects went.

    With `state_of`, also bound what videos no longer running keep (`bound_kept`).
    """
    work_uri = deps.settings.storage.work_uri
    cutoff = (time.time() if now is None else now) - max_age_seconds
    storage = deps.storages.for_uri(work_uri)
    tally = _Tally()
    if isinstance(storage, FileStorage):
        await _sweep_files(file_path(work_uri), cutoff, tally)
    elif isinstance(storage, S3Storage):
        await _sweep_s3(storage._client, work_uri, cutoff, tally)
    else:  # pragma: no cover - Storages knows no other backend
        raise StorageError(f"cannot sweep {work_uri}: unknown storage backend", names.FORBIDDEN_PATH)
    # After the age rule (entries age from their last use): the clip cache's size bound.
    await evict(deps, deps.settings.limits.clip_cache_bytes)
    if state_of is not None:
        await bound_kept(deps, state_of)
    log.info(
        "work store swept",
        work_uri=work_uri,
        removed=tally.removed,
        directories_removed=tally.directories,
        failed=tally.failed,
        max_age_hours=round(max_age_seconds / 3600, 3),
        **({"first_failure": tally.first_failure} if tally.failed else {}),
    )
    return tally.removed


# file://


async def _sweep_files(root: Path, cutoff: float, tally: _Tally) -> None:
    # One thread call per entry of the root (a video's directory, as a rule), so a
    # cancelled sweep stops at the next video instead of walking the whole store.
    for entry in await asyncio.to_thread(_entries, root, tally):
        await asyncio.to_thread(_sweep_entry, entry, cutoff, tally)


def _entries(directory: Path | str, tally: _Tally) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as listing:
            return list(listing)
    except FileNotFoundError:  # no work store yet, or removed meanwhile by someone else
        return []
    except OSError as err:
        tally.failure(f"{directory}: {err.strerror}")
        return []


def _sweep_entry(entry: os.DirEntry[str], cutoff: float, tally: _Tally) -> None:
    """Remove `entry` if it is an old file, or sweep it and then remove it if it is a directory left empty."""
    try:
        if entry.is_symlink():
            return
        stat = entry.stat(follow_symlinks=False)
        if entry.is_dir(follow_symlinks=False):
            # Its own time as it was before we removed anything from it: a directory
            # that something wrote into lately (a render making `<video_id>/clips/`
            # before its first file lands) stays.
            for child in _entries(entry.path, tally):
                _sweep_entry(child, cutoff, tally)
            if stat.st_mtime < cutoff:
                os.rmdir(entry.path)
                tally.directories += 1
        elif stat.st_mtime < cutoff:
            os.unlink(entry.path)
            tally.removed += 1
    except FileNotFoundError:  # another sweeper, or the video's own cleanup, got there first
        pass
    except OSError as err:
        if err.errno not in (errno.ENOTEMPTY, errno.EEXIST):  # not empty: something young, or new, is inside
            tally.failure(f"{entry.path}: {err.strerror}")


# s3://


async def _sweep_s3(client: Any, work_uri: str, cutoff: float, tally: _Tally) -> None:
    bucket, key = split_s3(work_uri)
    # `s3://bucket/work` covers `work/...`, never `work-old/...`.
    request: dict[str, Any] = {"Bucket": bucket, "Prefix": f"{key.rstrip('/')}/" if key else ""}
    while True:
        page = await asyncio.to_thread(client.list_objects_v2, **request)
        old = [item["Key"] for item in page.get("Contents", []) if item["LastModified"].timestamp() < cutoff]
        for start in range(0, len(old), S3_DELETE_BATCH):
            batch = old[start : start + S3_DELETE_BATCH]
            await asyncio.to_thread(_delete_batch, client, bucket, batch, tally)
        if not page.get("IsTruncated"):
            return
        request["ContinuationToken"] = page["NextContinuationToken"]


def _delete_batch(client: Any, bucket: str, keys: list[str], tally: _Tally) -> None:
    # Deleting a key that is already gone succeeds: concurrent sweepers need no care.
    answer = client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True})
    errors = answer.get("Errors", [])
    tally.removed += len(keys) - len(errors)
    for error in errors:
        tally.failure(f"s3://{bucket}/{error.get('Key', '')}: {error.get('Code', 'error')}")


# what videos no longer running keep


@dataclass(frozen=True)
class VideoState:
    """What Temporal says of the video whose id names a directory of the work store."""

    running: bool
    channel: str = ""
    closed_at: float | None = None
    """When its last run closed (Unix seconds); None when Temporal knows no such video (its history expired)."""
    run_id: str = ""


StateOf = Callable[[str], Awaitable[VideoState]]
"""How to ask about a video by its id (workers.kept.video_states asks the Temporal server)."""


@dataclass(frozen=True)
class Leftover:
    video_id: str
    channel: str
    size: int
    since: float
    """When the video stopped; for one Temporal no longer knows, its newest file's time."""
    run_id: str


@dataclass
class Bounded:
    kept_bytes: int = 0
    kept_videos: int = 0
    evicted: int = 0
    evicted_bytes: int = 0


async def bound_kept(deps: Deps, state_of: StateOf, need_bytes: int = 0) -> Bounded:
    """Keep what videos no longer running hold within RENDER_KEPT_CHANNEL_GB per channel and RENDER_KEPT_GB in
    all, removing the videos that stopped longest ago first; with `need_bytes`, then free at least that much
    more the same way (the work store is low). A running video's intermediates are never touched."""
    settings = deps.settings
    sizes = await asyncio.to_thread(_video_sizes, deps)
    asking = asyncio.Semaphore(STATE_LOOKUPS)

    async def ask(video_id: str) -> VideoState:
        async with asking:
            return await state_of(video_id)

    states = await asyncio.gather(*(ask(video_id) for video_id in sizes))
    kept = [
        Leftover(video_id, state.channel, size, newest if state.closed_at is None else state.closed_at, state.run_id)
        for (video_id, (size, newest)), state in zip(sizes.items(), states, strict=True)
        if not state.running
    ]
    done = Bounded(kept_bytes=sum(k.size for k in kept), kept_videos=len(kept))

    async def remove(leftover: Leftover, reason: str) -> bool:
        if not await _still_kept(leftover, state_of):
            return False
        prefix = settings.work_uri_for(f"{leftover.video_id}/")
        await asyncio.to_thread(deps.storages.for_uri(prefix).delete_prefix, prefix)
        kept.remove(leftover)
        done.evicted += 1
        done.evicted_bytes += leftover.size
        done.kept_bytes -= leftover.size
        done.kept_videos -= 1
        metrics.KEPT_EVICTED.labels(reason).inc()
        metrics.KEPT_EVICTED_BYTES.labels(reason).inc(leftover.size)
        log.info(
            "kept intermediates removed",
            video_id=leftover.video_id,
            channel=leftover.channel,
            bytes=leftover.size,
            stopped_s_ago=round(time.time() - leftover.since),
            reason=reason,
        )
        return True

    channels = {k.channel for k in kept}
    for channel in sorted(channels):
        bound = settings.limits.kept_channel_bytes.get(channel, settings.limits.kept_channel_bytes.get(ANY_CHANNEL))
        if bound is None:
            continue
        mine = sorted((k for k in kept if k.channel == channel), key=lambda k: k.since)
        total = sum(k.size for k in mine)
        for leftover in mine:
            if total <= bound:
                break
            if await remove(leftover, "channel"):
                total -= leftover.size
    for leftover in sorted(kept, key=lambda k: k.since):
        if done.kept_bytes <= settings.limits.kept_bytes:
            break
        await remove(leftover, "total")
    freed = 0
    for leftover in sorted(kept, key=lambda k: k.since):
        if freed >= need_bytes:
            break
        if await remove(leftover, "disk"):
            freed += leftover.size
    metrics.KEPT_BYTES.set(done.kept_bytes)
    metrics.KEPT_VIDEOS.set(done.kept_videos)
    if done.evicted:
        log.info(
            "kept intermediates bounded",
            removed_videos=done.evicted,
            removed_bytes=done.evicted_bytes,
            kept_bytes=done.kept_bytes,
            kept_videos=done.kept_videos,
        )
    return done


async def _still_kept(leftover: Leftover, state_of: StateOf) -> bool:
    """Asked again right before removal: a resubmit may have started the video since."""
    state = await state_of(leftover.video_id)
    return not state.running and state.run_id == leftover.run_id


def _video_sizes(deps: Deps) -> dict[str, tuple[int, float]]:
    """Each video's directory in the work store: its bytes and its newest file's time."""
    work_uri = deps.settings.storage.work_uri
    storage = deps.storages.for_uri(work_uri)
    found: dict[str, tuple[int, float]] = {}

    def add(video_id: str, size: int, stamp: float) -> None:
        if video_id in SHARED_ROOTS:
            return
        total, newest = found.get(video_id, (0, 0.0))
        found[video_id] = (total + size, max(newest, stamp))

    if isinstance(storage, FileStorage):
        root = file_path(work_uri)
        for entry in _entries(root, _Tally()):
            if not entry.is_dir(follow_symlinks=False) or entry.name in SHARED_ROOTS:
                continue
            found[entry.name] = (0, 0.0)
            for parent, _, files in os.walk(entry.path):
                for name in files:
                    with suppress(FileNotFoundError):
                        stat = os.lstat(os.path.join(parent, name))
                        add(entry.name, stat.st_size, stat.st_mtime)
    elif isinstance(storage, S3Storage):
        bucket, key = split_s3(work_uri)
        prefix = f"{key.rstrip('/')}/" if key else ""
        paginator = storage._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                video_id, slash, _ = item["Key"][len(prefix) :].partition("/")
                if slash:
                    add(video_id, int(item["Size"]), item["LastModified"].timestamp())
    return found


def work_free_bytes(deps: Deps) -> int | None:
    """Free bytes on a file:// work store's filesystem; None on an object store (it does not fill)."""
    if not deps.settings.storage.work_uri.startswith("file://"):
        return None
    return shutil.disk_usage(file_path(deps.settings.storage.work_uri)).free


async def relieve(deps: Deps, state_of: StateOf | None) -> int:
    """Free a low file:// work store up to RESUME_FACTOR x RENDER_DISK_MIN_FREE_MB: kept intermediates first
    (oldest first), then clip cache entries (least recently used first). Returns the bytes removed."""
    minimum = deps.settings.limits.disk_min_free_bytes
    free = await asyncio.to_thread(work_free_bytes, deps)
    if free is None or not minimum:
        return 0
    need = int(minimum * RESUME_FACTOR) - free
    if need <= 0:
        return 0
    freed = 0
    if state_of is not None:
        freed = (await bound_kept(deps, state_of, need_bytes=need)).evicted_bytes
    if freed < need and (cached := await cached_bytes(deps)):
        await evict(deps, max(0, cached - (need - freed)))
        freed += cached - await cached_bytes(deps)
    log.warning(
        "work store low on space, intermediates removed",
        work_uri=deps.settings.storage.work_uri,
        free_bytes=free,
        needed_bytes=need,
        removed_bytes=freed,
    )
    return freed


# the loop


async def sweep_forever(
    deps: Deps,
    interval: float,
    max_age: float,
    state_of: StateOf | None = None,
    pressure: asyncio.Event | None = None,
) -> None:
    """Sweep the work store every `interval` seconds until cancelled; a failed sweep is logged and retried.

    Between sweeps, `pressure` (set by the disk guard while a file:// work store is low) wakes a `relieve`.
    """
    if interval <= 0:
        return
    loop = asyncio.get_running_loop()
    while True:
        try:
            await sweep_work_store(deps, max_age, state_of=state_of)
        except Exception as err:
            log.warning(
                "work store sweep failed",
                work_uri=deps.settings.storage.work_uri,
                error=str(err) or type(err).__name__,
                retry_in_s=interval,
            )
        next_sweep = loop.time() + interval
        while (left := next_sweep - loop.time()) > 0:
            if pressure is None:
                await asyncio.sleep(left)
                break
            try:
                await asyncio.wait_for(pressure.wait(), left)
            except TimeoutError:
                break
            pressure.clear()
            try:
                await relieve(deps, state_of)
            except Exception as err:
                log.warning("work store relief failed", work_uri=deps.settings.storage.work_uri, error=str(err))


@asynccontextmanager
async def sweeping(
    deps: Deps,
    interval: float,
    max_age: float,
    state_of: StateOf | None = None,
    pressure: asyncio.Event | None = None,
) -> AsyncIterator[None]:
    """Run `sweep_forever` in the background for the duration of the block (interval 0: not at all)."""
    task = asyncio.ensure_future(sweep_forever(deps, interval, max_age, state_of, pressure)) if interval > 0 else None
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
