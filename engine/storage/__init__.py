"""Storage by URI: `file://` on local or shared disk, `s3://` through boto3.

Both publish atomically (write then rename; an S3 upload becomes visible only when
its completing request lands), so a reader never sees a half-written file under a
final key, and a retried write simply overwrites.

Transfers can be stopped. An activity attempt that timed out or was canceled has
already been handed to another worker, so its upload must not land afterwards and
overwrite the newer one: `upload` and `download` take a `threading.Event`, check it
between chunks (and right before the publishing step), and raise `Stopped` without
publishing anything once it is set. `progress` hears the bytes done so far.
"""

from __future__ import annotations

from contracts import names
from engine.storage.base import (
    CHUNK,
    ObjectMissing,
    Progress,
    Storage,
    StorageError,
    check_stop,
    guarded,
    partial_name,
    sha256_of,
)
from engine.storage.confinement import confine, nearest_root
from engine.storage.file import FileStorage, copy_chunks, file_path
from engine.storage.s3 import PART, S3Storage, split_s3

__all__ = [
    "CHUNK",
    "PART",
    "FileStorage",
    "ObjectMissing",
    "Progress",
    "S3Storage",
    "Storage",
    "StorageError",
    "Storages",
    "check_stop",
    "confine",
    "copy_chunks",
    "file_path",
    "guarded",
    "nearest_root",
    "partial_name",
    "sha256_of",
    "split_s3",
]


class Storages:
    """Picks the backend by URI scheme; the S3 client is built on first use."""

    def __init__(self, s3_endpoint_url: str | None = None, s3_region: str | None = None) -> None:
        self._file = FileStorage()
        self._s3: S3Storage | None = None
        self._s3_args = (s3_endpoint_url, s3_region)

    def for_uri(self, uri: str) -> Storage:
        if uri.startswith("file://"):
            return self._file
        if uri.startswith("s3://"):
            if self._s3 is None:
                self._s3 = S3Storage(*self._s3_args)
            return self._s3
        raise StorageError(f"unsupported URI scheme: {uri[:80]}", names.FORBIDDEN_PATH)
