"""The `render` CLI's exit statuses: one per way a command can end, so scripts can branch on them."""

from __future__ import annotations

OK = 0
RENDER_FAILED = 1
"""The render ended without a video: failed, canceled, terminated or timed out."""
BAD_INPUT = 2
"""A bad command line, job file or environment variable (the field or variable is named)."""
UNREACHABLE = 3
"""Temporal cannot be reached at the configured address."""
NOT_FOUND = 4
"""No render has that video id."""
BAD_QUERY = 5
"""The server refused the --query."""
CONFLICT = 6
"""The render's state forbids it: the video id already exists (submit), the render already ended (cancel)."""
NO_WORKER = 7
"""No worker polls a task queue the job needs (submit without --allow-no-worker)."""
INTERRUPTED = 130
"""Ctrl-C: the command stopped; a started render goes on."""
BROKEN_PIPE = 141
"""Whoever read the output stopped reading (`render list | head`), as for SIGPIPE."""
UNEXPECTED = 70
"""A fault in the CLI itself or an answer from Temporal it does not know."""


class CliError(Exception):
    """Ends the command with one line on stderr and `code`."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
