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
"""

from __future__ import annotations

import asyncio
import errno
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from activities.clip_cache import evict
from activities.common import Deps
from activities.storage import FileStorage, S3Storage, StorageError, file_path, split_s3
from contracts import names

log = structlog.get_logger(__name__)

S3_DELETE_BATCH = 1000
"""The most keys one DeleteObjects request may name."""


@dataclass
class _Tally:
    removed: int = 0
    directories: int = 0
    failed: int = 0
    first_failure: str = ""

    def failure(self, what: str) -> None:
        self.failed += 1
        self.first_failure = self.first_failure or what


async def sweep_work_store(deps: Deps, max_age_seconds: float, now: float | None = None) -> int:
    """Remove what the work store holds that is older than `max_age_seconds`; returns how many files or objects went."""
    work_uri = deps.settings.work_uri
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
    await evict(deps, deps.settings.clip_cache_bytes)
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


# the loop


async def sweep_forever(deps: Deps, interval: float, max_age: float) -> None:
    """Sweep the work store every `interval` seconds until cancelled; a failed sweep is logged and retried."""
    if interval <= 0:
        return
    while True:
        try:
            await sweep_work_store(deps, max_age)
        except Exception as err:
            log.warning(
                "work store sweep failed",
                work_uri=deps.settings.work_uri,
                error=str(err) or type(err).__name__,
                retry_in_s=interval,
            )
        await asyncio.sleep(interval)


@asynccontextmanager
async def sweeping(deps: Deps, interval: float, max_age: float) -> AsyncIterator[None]:
    """Run `sweep_forever` in the background for the duration of the block (interval 0: not at all)."""
    task = asyncio.ensure_future(sweep_forever(deps, interval, max_age)) if interval > 0 else None
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
