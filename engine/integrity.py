"""Content records: what videos share through the work store is checked before it is trusted.

A finished clip and a clip cache entry are stored with a record of their content,
`sha256` and `size` (stored segments keep theirs beside them: engine/segments.py),
and whoever reuses them first hashes the bytes it actually has:

- `file://`: a small JSON file beside the file, `<name>.sha256`, written *before* the
  file is published, so a file without its record was never stored by this code;
- `s3://`: the object's own user metadata (`x-amz-meta-sha256`, `x-amz-meta-size`),
  which lands in the same request as the bytes. Metadata alone proves nothing (a
  truncated object can keep it), so the object is read and hashed, streamed and with
  `If-Match` on the ETag of what was checked: the bytes hashed are the bytes then
  copied or used, and nothing lands on the worker's disk.

A check says `good`, `missing`, `unrecorded` (stored before records were kept, or not
by this code) or `damaged` (the record does not describe the bytes, with why).
"""

from __future__ import annotations

import json
import os
import threading
from contextlib import suppress
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from engine.storage import (
    FileStorage,
    ObjectMissing,
    Progress,
    S3Storage,
    Storage,
    check_stop,
    file_path,
    partial_name,
    sha256_of,
)

RECORD_SUFFIX = ".sha256"
"""On disk, the record of `x.mov` is `x.mov.sha256`."""


@dataclass(frozen=True)
class Content:
    """What a stored file must be: its bytes' SHA-256 (hex) and their count."""

    sha256: str
    size: int

    def metadata(self) -> dict[str, str]:
        """As S3 user metadata."""
        return {"sha256": self.sha256, "size": str(self.size)}

    @classmethod
    def from_metadata(cls, metadata: dict[str, str]) -> Content | None:
        digest, size = metadata.get("sha256", ""), metadata.get("size", "")
        if len(digest) != 64 or not size.isdigit():
            return None
        return cls(digest, int(size))

    def to_json(self) -> str:
        return json.dumps({"sha256": self.sha256, "size": self.size}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Content | None:
        try:
            data = json.loads(text)
            content = cls(data["sha256"], data["size"])
        except (ValueError, KeyError, TypeError):
            return None
        ok = isinstance(content.sha256, str) and len(content.sha256) == 64 and isinstance(content.size, int)
        return content if ok else None


class Verdict(StrEnum):
    GOOD = "good"
    MISSING = "missing"
    UNRECORDED = "unrecorded"
    DAMAGED = "damaged"


@dataclass(frozen=True)
class Checked:
    verdict: Verdict
    record: Content | None = None
    why: str = ""
    """For `damaged`: what differs, in words."""
    etag: str = ""
    """On S3, the version whose bytes were hashed (copy it with If-Match on this, and the copy is them)."""

    @property
    def good(self) -> bool:
        return self.verdict is Verdict.GOOD


def content_of(path: Path, *, stop: threading.Event | None = None) -> Content:
    return Content(sha256_of(path, stop=stop), path.stat().st_size)


def record_path(path: Path) -> Path:
    return path.with_name(path.name + RECORD_SUFFIX)


def read_record(path: Path) -> Content | None:
    """The record beside the file at `path`, or None when there is none (or it is not one)."""
    try:
        return Content.from_json(record_path(path).read_text(errors="replace"))
    except (FileNotFoundError, NotADirectoryError):
        return None


def write_record(path: Path, content: Content) -> None:
    """The record beside `path`, appearing whole (a private name, then a rename)."""
    record = record_path(path)
    record.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_name(record)
    try:
        partial.write_text(content.to_json())
        os.replace(partial, record)
    finally:
        partial.unlink(missing_ok=True)


def compare(record: Content, actual: Content) -> str:
    """Why `actual` is not what `record` describes; empty when it is."""
    if actual.size != record.size:
        return f"{actual.size} bytes where {record.size} were stored"
    if actual.sha256 != record.sha256:
        return f"sha256 {actual.sha256[:12]}… where {record.sha256[:12]}… was stored"
    return ""


def store(
    storage: Storage, src: Path, uri: str, *, stop: threading.Event | None = None, progress: Progress | None = None
) -> Content:
    """Publish `src` at `uri` with the record of its content; returns the record."""
    content = content_of(src, stop=stop)
    if isinstance(storage, S3Storage):
        storage.upload(src, uri, stop=stop, progress=progress, metadata=content.metadata())
    else:
        check_stop(stop, f"upload to {uri}")
        path = file_path(uri)
        write_record(path, content)  # first: a file without its record was not stored here
        try:
            storage.upload(src, uri, stop=stop, progress=progress)
        except BaseException:
            # Nothing landed: a record of bytes that are not there would call the file before it damaged.
            record_path(path).unlink(missing_ok=True)
            raise
    return content


def check(storage: Storage, uri: str, *, stop: threading.Event | None = None) -> Checked:
    """Whether the bytes stored at `uri` are those its record describes (read and hashed here)."""
    if isinstance(storage, S3Storage):
        try:
            head = storage.head(uri)
        except ObjectMissing:
            return Checked(Verdict.MISSING)
        record = Content.from_metadata(head["metadata"])
        if record is None:
            return Checked(Verdict.UNRECORDED, etag=head["etag"])
        if head["size"] != record.size:  # a cut object: no need to read it to know
            return Checked(Verdict.DAMAGED, record, compare(record, Content("", head["size"])), head["etag"])
        digest, size = storage.digest(uri, stop=stop, if_match=head["etag"] or None)
        return judged(record, Content(digest, size), head["etag"])
    path = file_path(uri)
    if not path.is_file():
        return Checked(Verdict.MISSING)
    record = read_record(path)
    if record is None:
        return Checked(Verdict.UNRECORDED)
    return check_file(path, record, stop=stop)


def check_file(path: Path, record: Content, *, stop: threading.Event | None = None) -> Checked:
    """Whether the local file at `path` is what `record` describes."""
    size = path.stat().st_size
    if size != record.size:
        return Checked(Verdict.DAMAGED, record, compare(record, Content("", size)))
    return judged(record, content_of(path, stop=stop))


def judged(record: Content, actual: Content, etag: str = "") -> Checked:
    why = compare(record, actual)
    return Checked(Verdict.DAMAGED if why else Verdict.GOOD, record, why, etag)


def recorded(storage: Storage, uri: str) -> Content | None:
    """The record stored with `uri` (without reading its bytes); None when there is none."""
    if isinstance(storage, S3Storage):
        try:
            return Content.from_metadata(storage.head(uri)["metadata"])
        except ObjectMissing:
            return None
    return read_record(file_path(uri))


def remove(storage: Storage, uri: str) -> None:
    """Remove a stored file and its record."""
    storage.delete(uri)
    if isinstance(storage, FileStorage):
        with suppress(FileNotFoundError):
            record_path(file_path(uri)).unlink()


__all__ = [
    "RECORD_SUFFIX",
    "Checked",
    "Content",
    "Verdict",
    "check",
    "check_file",
    "content_of",
    "read_record",
    "record_path",
    "recorded",
    "remove",
    "store",
    "write_record",
]
