"""What every activity shares: dependencies, scratch space, asset fetching, error mapping."""

from __future__ import annotations

import asyncio
import errno
import re
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from activities.errors import BadAsset, RenderError
from activities.keeper import stoppable
from activities.media.images import check_image_pixels
from activities.media.probe import ProbeError, decode_check
from activities.media.process import FfmpegError, use_home
from activities.scratch import child_home, process_dir
from activities.settings import Settings
from activities.storage import StorageError, Storages, confine
from contracts import names


@dataclass
class Deps:
    settings: Settings
    storages: Storages

    @classmethod
    def from_settings(cls, settings: Settings) -> Deps:
        use_home(child_home(settings.scratch_dir))
        return cls(settings, Storages(settings.s3_endpoint_url, settings.s3_region))


def fail(message: str, error_type: str, *, non_retryable: bool, details: str | None = None) -> NoReturn:
    # `from None`: the engine error is already summarised in the message.
    raise ApplicationError(
        message, *([details] if details else []), type=error_type, non_retryable=non_retryable,
        category=category(error_type),
    ) from None  # fmt: skip


def category(error_type: str) -> ApplicationErrorCategory:
    """BENIGN for the job's own mistakes (an invalid job, a bad asset): logged without a stack trace and left
    out of the SDK's failure metrics, so an operator's alerts count the farm's faults, not tenants' typos."""
    expected = error_type in names.EXPECTED_ERRORS
    return ApplicationErrorCategory.BENIGN if expected else ApplicationErrorCategory.UNSPECIFIED


SCRATCH_FULL_BYTES = 1 << 20
"""Less free scratch space than this when an activity fails: the full disk is why."""
DISK_FULL = "DiskFull"
"""Retryable: another worker (or this one, later) may have room."""
FFMPEG_DISK_FULL = "No space left on device"


TRANSIENT_FFMPEG = (
    "Input/output error",
    "Cannot allocate memory",
    "Resource temporarily unavailable",
    "Connection reset",
    "Broken pipe",
    "Stale file handle",
    "OpenEncodeSessionEx failed",  # every NVENC session on the GPU is taken: another worker has room
    "out of memory",
)
"""ffmpeg's words for trouble with the machine rather than with the input: another attempt may succeed."""

ERROR_WORDS = ("error", "invalid", "cannot", "could not", "unsupported", "failed", "not ")
"""Lines that explain a failure; ffmpeg's last line is often only 'Conversion failed!'."""


CONTEXT_TAG = re.compile(r"\[[^\]\[]* @ 0x[0-9a-f]+\] ")
"""ffmpeg's `[aresample @ 0x55d0…]` prefixes: memory addresses, noise in a message meant for people."""


def ffmpeg_failure(err: FfmpegError) -> str:
    """One line that says what happened: the signal that killed ffmpeg, or its words on stderr."""
    if err.what:
        return f"{err.what}: {ffmpeg_failure(FfmpegError(err.returncode, err.stderr_tail))}"
    if err.returncode < 0 and err.returncode != -1:
        with suppress(ValueError):
            return f"ffmpeg was killed by {signal.Signals(-err.returncode).name}"
    lines = [CONTEXT_TAG.sub("", line).strip() for line in err.stderr_tail.splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    cause = next((line for line in lines[:-1] if any(w in line.lower() for w in ERROR_WORDS)), "")
    said = f"{cause[:200]} ({last[:80]})" if cause and cause != last else last[:200]
    return f"ffmpeg exited with {err.returncode}" + (f": {said}" if said else "")


def ffmpeg_will_repeat(err: FfmpegError) -> bool:
    """Whether the same command on the same input would fail the same way.

    ffmpeg that exits with an error of its own (a graph it rejects, a stream it
    cannot convert, an impossible output name) is deterministic; a signal, a stall
    or the machine's trouble (I/O, memory, a full disk, no free NVENC session) is not.
    """
    if err.returncode <= 0 or says_disk_full(err):
        return False
    return not any(word in err.stderr_tail for word in TRANSIENT_FFMPEG)


@contextmanager
def temporal_errors() -> Iterator[None]:
    """Turn engine errors into ApplicationErrors whose type says whether to retry: decided here, once."""
    try:
        yield
    except RenderError as err:
        fail(str(err), err.error_type, non_retryable=not err.retryable)
    except StorageError as err:
        fail(str(err), err.error_type or "StorageError", non_retryable=not err.retryable)
    except FfmpegError as err:
        if says_disk_full(err):
            fail(
                f"no space left on device; {ffmpeg_failure(err)}",
                DISK_FULL,
                non_retryable=False,
                details=err.stderr_tail,
            )
        if ffmpeg_will_repeat(err):
            fail(ffmpeg_failure(err), names.FFMPEG_REJECTED, non_retryable=True, details=err.stderr_tail)
        fail(ffmpeg_failure(err), names.FFMPEG_FAILED, non_retryable=False, details=err.stderr_tail)
    except OSError as err:
        if err.errno in (errno.ENAMETOOLONG, errno.ENOTDIR, errno.EISDIR):
            # The same path fails the same way on every attempt and every worker.
            fail(f"{err.strerror}: {str(err.filename)[:200]}", names.INVALID_JOB, non_retryable=True)
        if err.errno != errno.ENOSPC:
            raise
        where = f" writing {err.filename}" if err.filename else ""
        fail(f"no space left on device{where}: {err.strerror}", DISK_FULL, non_retryable=False)


def says_disk_full(err: BaseException) -> bool:
    if isinstance(err, OSError):
        return err.errno == errno.ENOSPC
    return isinstance(err, FfmpegError) and FFMPEG_DISK_FULL in err.stderr_tail


@asynccontextmanager
async def scratch(settings: Settings, prefix: str) -> AsyncIterator[Path]:
    """A private working directory, removed whatever happens (success, failure, cancel).

    It lives in this process's own scratch directory, so if the process is
    killed before it can clean up, the next worker on the node removes it.
    """
    path = Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=process_dir(settings.scratch_dir)))
    try:
        yield path
    except Exception as err:
        # ffmpeg 5.1 can lose writes to a full disk and still exit 0, so the failure
        # shows up later and looks like something else (a short clip, a bad join).
        # Whatever failed, a full scratch disk is the reason to report: a retry,
        # perhaps on another worker, has a chance.
        if not says_disk_full(err):
            usage = await asyncio.to_thread(shutil.disk_usage, path)
            if usage.free < SCRATCH_FULL_BYTES:
                where = f"{settings.scratch_dir}: {usage.free} of {usage.total} bytes free"
                seen = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
                raise OSError(errno.ENOSPC, f"the scratch disk is full ({where}); it caused: {seen}") from err
        raise
    finally:
        await asyncio.to_thread(shutil.rmtree, path, True)


async def fetch(deps: Deps, uri: str, dest: Path) -> Path:
    """A local path for `uri`: the file itself when on local disk, else a copy in `dest`."""
    storage = deps.storages.for_uri(uri)
    local = storage.local_path(uri)
    if local is not None:
        return local
    await stoppable(storage.download, uri, dest)
    return dest


async def check_asset_size(deps: Deps, uri: str, what: str) -> None:
    """Refuse an asset larger than the budget before any of it is fetched."""
    limit = deps.settings.budget.asset_megabytes
    size = await asyncio.to_thread(deps.storages.for_uri(uri).size, uri)
    if size > limit * 1e6:
        raise BadAsset(f"{what} {uri} is {size / 1e6:.1f} MB; the limit is {limit:g} MB an asset")


async def fetch_asset(deps: Deps, uri: str, dest: Path, kind: str) -> Path:
    """Fetch an image or audio asset and prove ffmpeg can read it, naming the asset if not."""
    confine(uri, deps.settings.asset_roots, f"{kind} asset")
    storage = deps.storages.for_uri(uri)
    if not await asyncio.to_thread(storage.exists, uri):
        raise BadAsset(f"{kind} asset {uri} does not exist")
    await check_asset_size(deps, uri, f"{kind} asset")
    path = await fetch(deps, uri, dest)
    if kind == "image":
        # Before ffmpeg sees it: a small file may declare billions of pixels.
        name = f"image asset {uri[:200]}"
        await asyncio.to_thread(check_image_pixels, path, name, deps.settings.budget.image_megapixels)
    try:
        await decode_check(path, kind)
    except ProbeError as err:
        raise BadAsset(f"{kind} asset {uri} is not readable media: {err}") from None
    return path
