"""`file://` storage: local or shared disk, published by rename (or by a hard link, for one winner)."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path
from urllib.parse import unquote

from contracts import names
from engine.storage.base import CHUNK, Progress, StorageError, check_stop, guarded, partial_name


def file_path(uri: str) -> Path:
    if not uri.startswith("file://"):
        raise StorageError(f"not a file:// URI: {uri}", names.FORBIDDEN_PATH)
    return Path(unquote(uri[len("file://") :]))


def copy_chunks(
    src: Path, dest: Path, stop: threading.Event | None, progress: Progress | None, *, sync: bool, what: str
) -> None:
    done = 0
    with open(src, "rb") as reader, open(dest, "wb") as writer:
        while chunk := reader.read(CHUNK):
            check_stop(stop, what)
            writer.write(chunk)
            done += len(chunk)
            if progress is not None:
                progress(done)
        if sync:
            writer.flush()
            os.fsync(writer.fileno())


class FileStorage:
    def exists(self, uri: str) -> bool:
        return file_path(uri).is_file()

    def size(self, uri: str) -> int:
        return file_path(uri).stat().st_size

    def download(
        self, uri: str, dest: Path, *, stop: threading.Event | None = None, progress: Progress | None = None
    ) -> None:
        partial = partial_name(dest)
        try:
            copy_chunks(file_path(uri), partial, stop, guarded(progress), sync=False, what=f"download of {uri}")
            check_stop(stop, f"download of {uri}")
            os.replace(partial, dest)
        finally:
            partial.unlink(missing_ok=True)

    def upload(
        self, src: Path, uri: str, *, stop: threading.Event | None = None, progress: Progress | None = None
    ) -> None:
        dest = file_path(uri)
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = partial_name(dest)
        try:
            copy_chunks(src, partial, stop, guarded(progress), sync=True, what=f"upload to {uri}")
            # The rename publishes: a stopped attempt never reaches it.
            check_stop(stop, f"upload to {uri}")
            os.replace(partial, dest)
        finally:
            partial.unlink(missing_ok=True)

    def local_path(self, uri: str) -> Path | None:
        return file_path(uri)

    def delete_prefix(self, uri: str) -> int:
        path = file_path(uri)
        if path.is_dir():
            count = sum(1 for p in path.rglob("*") if p.is_file())
            shutil.rmtree(path)
            return count
        if path.is_file():
            path.unlink()
            return 1
        return 0

    def delete(self, uri: str) -> bool:
        path = file_path(uri)
        if not path.is_file() or path.is_symlink():
            return False
        path.unlink(missing_ok=True)
        return True

    def create(self, data: bytes, uri: str) -> bool:
        dest = file_path(uri)
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = partial_name(dest)
        try:
            partial.write_bytes(data)
            os.link(partial, dest)  # fails if dest exists: exactly one creator wins
        except FileExistsError:
            return False
        finally:
            partial.unlink(missing_ok=True)
        return True
