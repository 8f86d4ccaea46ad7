"""What every activity shares: dependencies, scratch space, asset fetching, error mapping."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from temporalio.exceptions import ApplicationError

from activities.media.probe import ProbeError, decode_check
from activities.media.process import FfmpegError
from activities.scratch import process_dir
from activities.settings import Settings
from activities.storage import StorageError, Storages, confine
from contracts import names


@dataclass
class Deps:
    settings: Settings
    storages: Storages

    @classmethod
    def from_settings(cls, settings: Settings) -> Deps:
        return cls(settings, Storages(settings.s3_endpoint_url, settings.s3_region))


def fail(message: str, error_type: str, *, non_retryable: bool, details: str | None = None) -> NoReturn:
    # `from None`: the engine error is already summarised in the message.
    raise ApplicationError(
        message, *([details] if details else []), type=error_type, non_retryable=non_retryable
    ) from None


@contextmanager
def temporal_errors() -> Iterator[None]:
    """Turn engine errors into ApplicationErrors whose type says whether to retry."""
    try:
        yield
    except StorageError as err:
        fail(str(err), err.error_type or "StorageError", non_retryable=not err.retryable)
    except FfmpegError as err:
        fail(f"ffmpeg exited with {err.returncode}", "FfmpegError", non_retryable=False, details=err.stderr_tail)


@asynccontextmanager
async def scratch(settings: Settings, prefix: str) -> AsyncIterator[Path]:
    """A private working directory, removed whatever happens (success, failure, cancel).

    It lives in this process's own scratch directory, so if the process is
    killed before it can clean up, the next worker on the node removes it.
    """
    path = Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=process_dir(settings.scratch_dir)))
    try:
        yield path
    finally:
        await asyncio.to_thread(shutil.rmtree, path, True)


async def fetch(deps: Deps, uri: str, dest: Path) -> Path:
    """A local path for `uri`: the file itself when on local disk, else a copy in `dest`."""
    storage = deps.storages.for_uri(uri)
    local = storage.local_path(uri)
    if local is not None:
        return local
    await asyncio.to_thread(storage.download, uri, dest)
    return dest


async def fetch_asset(deps: Deps, uri: str, dest: Path, kind: str) -> Path:
    """Fetch an image or audio asset and prove ffmpeg can read it, naming the asset if not."""
    confine(uri, deps.settings.asset_roots, f"{kind} asset")
    storage = deps.storages.for_uri(uri)
    if not await asyncio.to_thread(storage.exists, uri):
        raise StorageError(f"{kind} asset {uri} does not exist", names.BAD_ASSET)
    path = await fetch(deps, uri, dest)
    try:
        await decode_check(path, kind)
    except ProbeError as err:
        raise StorageError(f"{kind} asset {uri} is not readable media: {err}", names.BAD_ASSET) from None
    return path
