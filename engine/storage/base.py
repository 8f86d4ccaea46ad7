"""What every store shares: the `Storage` protocol, its errors, stop checks and transfer progress."""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from contracts import names
from engine.threads import Stopped

Progress = Callable[[int], None]
"""Called with the bytes transferred so far (never decreasing), on the thread doing the transfer.

An activity's heartbeat must be sent from its event loop (`loop.call_soon_threadsafe`).
A progress callback that raises is reported once and then left out: it never fails a transfer.
"""

log = logging.getLogger(__name__)


def guarded(progress: Progress | None) -> Progress | None:
    """`progress`, except that its first exception is logged and it is not called again."""
    if progress is None:
        return None
    failed = False

    def report(done: int) -> None:
        nonlocal failed
        if failed:
            return
        try:
            progress(done)
        except Exception:
            failed = True
            log.warning("transfer progress callback failed; progress is no longer reported", exc_info=True)

    return report


CHUNK = 1 << 20
"""FileStorage copies this much between checks of the stop event."""


class StorageError(Exception):
    """A storage problem; `error_type` says whether a retry can help."""

    def __init__(self, message: str, error_type: str | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type

    @property
    def retryable(self) -> bool:
        return self.error_type not in names.NON_RETRYABLE_ERRORS


class ObjectMissing(StorageError):
    """The object is not there: storage's own word; callers say what was missing (an asset, a clip)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "ObjectMissing")

    @property
    def retryable(self) -> bool:
        return False


class Storage(Protocol):
    def exists(self, uri: str) -> bool: ...
    def size(self, uri: str) -> int: ...
    def download(
        self, uri: str, dest: Path, *, stop: threading.Event | None = None, progress: Progress | None = None
    ) -> None:
        """Copy `uri` to `dest` (whole, or not at all); raise `Stopped` once `stop` is set."""
        ...

    def upload(
        self, src: Path, uri: str, *, stop: threading.Event | None = None, progress: Progress | None = None
    ) -> None:
        """Publish `src` at `uri` atomically; once `stop` is set, raise `Stopped` and publish nothing."""
        ...

    def local_path(self, uri: str) -> Path | None:
        """The file itself when it is on this machine's disk, to avoid a copy."""
        ...

    def delete_prefix(self, uri: str) -> int: ...
    def delete(self, uri: str) -> bool:
        """Remove one file or object (never a directory, never others sharing its name as a prefix)."""
        ...

    def create(self, data: bytes, uri: str) -> bool:
        """Store a small object only if nothing is there yet; False if something was (atomic: one winner)."""
        ...


def check_stop(stop: threading.Event | None, what: str) -> None:
    if stop is not None and stop.is_set():
        raise Stopped(f"{what} stopped")


def sha256_of(path: Path, *, stop: threading.Event | None = None) -> str:
    """Hex SHA-256 of a file, read in chunks so that a stop is noticed."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            check_stop(stop, f"hashing {path.name}")
            digest.update(chunk)
    return digest.hexdigest()


def partial_name(dest: Path) -> Path:
    """A private name beside `dest` for the bytes until they are whole."""
    return dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.partial")
