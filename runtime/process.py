"""How a service process leaves: flushed, with its real status, and one line for bad settings."""

from __future__ import annotations

import os
import shutil
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

from runtime.settings import SettingsError

BAD_SETTINGS = 2
"""Exit status of a process refused its configuration (the variable is named on stderr)."""


def exit_now(code: int) -> NoReturn:
    """Leave without interpreter teardown.

    A process that ran a temporalio worker can abort while Python finalises the
    SDK's native runtime (temporalio/sdk-python#300), turning a clean exit into a
    crash at random. Everything that matters is flushed first, then we exit with
    the real status code.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@contextmanager
def settings_or_exit(prog: str) -> Iterator[None]:
    """A bad environment variable ends the process with one line on stderr and status 2, not a traceback."""
    try:
        yield
    except SettingsError as err:
        print(f"{prog}: {err}", file=sys.stderr)
        exit_now(BAD_SETTINGS)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def program(name: str) -> str:
    """How to run `name`, one of this installation's commands, as a hint the user can paste: its bare name when
    PATH finds this very one, else its path beside this interpreter (`.venv/bin/render-worker` from the checkout).
    """
    beside = Path(sys.executable).parent / name
    if not beside.exists():
        return name
    found = shutil.which(name)
    if found and os.path.samefile(found, beside):
        return name
    local = Path(".venv", "bin", name)  # the checkout's own environment, however it is linked
    if local.exists() and os.path.samefile(local, beside):
        return str(local)
    try:
        return str(beside.relative_to(Path.cwd()))
    except ValueError:
        return str(beside)
