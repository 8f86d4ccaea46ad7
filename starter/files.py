"""Job files read safely: regular files only, never more bytes than a job may have.

A job file comes from whoever runs `render`, perhaps from a folder others write to: a link to
/dev/zero would be read without end, a FIFO would block forever, a binary would fail with a
decoding error. Each is refused with a reason instead.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from contracts.job import MAX_JOB_BYTES

_CHUNK = 64 * 1024


class UnreadableJob(ValueError):
    """A job file (or one line of a batch) that cannot be a job; the message says why."""


def open_regular(path: Path) -> BinaryIO:
    """`path` opened for reading if it is a regular file (links followed); a FIFO never blocks the open."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as err:
        raise UnreadableJob(err.strerror or str(err)) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnreadableJob("not a regular file")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def decoded(data: bytes) -> str:
    if len(data) > MAX_JOB_BYTES:
        raise UnreadableJob(f"larger than the {MAX_JOB_BYTES // 1024} KiB a job may be")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UnreadableJob(f"not UTF-8 text (byte {err.start})") from None


def read_job_text(path: Path) -> str:
    """The text of a job file, reading at most one byte more than a job may have."""
    with open_regular(path) as file:
        return decoded(file.read(MAX_JOB_BYTES + 1))


def job_lines(path: Path) -> Iterator[tuple[int, str | UnreadableJob]]:
    """(line number, text or why not) for each line of a JSON Lines file; no line is held whole past
    the job limit, so one endless line costs no memory and never hides the lines after it.

    The file is opened (or refused) at once, before the first line is asked for.
    """
    return _lines(open_regular(path))


def _lines(file: BinaryIO) -> Iterator[tuple[int, str | UnreadableJob]]:
    with file:
        number = 0
        while line := file.readline(MAX_JOB_BYTES + 2):
            number += 1
            if not line.endswith(b"\n") and len(line) > MAX_JOB_BYTES + 1:
                while (rest := file.readline(_CHUNK)) and not rest.endswith(b"\n"):
                    pass
            try:
                yield number, decoded(line.rstrip(b"\r\n"))
            except UnreadableJob as err:
                yield number, err
