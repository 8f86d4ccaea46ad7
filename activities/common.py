"""What every activity shares beyond the engine: engine errors mapped onto ApplicationErrors.

`temporal_errors` decides, once, which failures another attempt may cure (the error's type says so);
`fail` raises one. The engine's dependencies, scratch space and asset fetching are `engine.deps`.
"""

from __future__ import annotations

import errno
import re
import signal
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import NoReturn

from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from contracts import names
from engine.deps import says_disk_full
from engine.errors import RenderError
from engine.media.process import FfmpegError
from engine.storage import StorageError

DISK_FULL = "DiskFull"
"""Retryable: another worker (or this one, later) may have room."""


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
