"""Live progress of a render on stderr: a rich bar on a terminal, plain lines anywhere else.

rich redraws one line in place, fits it to the terminal's width and clears what it drew before,
which a hand-made `\\r` line got wrong. Both forms only move forward: a failure or a cancel
leaves the bar where the render got to and says how it ended.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Column

from starter.client import VideoStatus, worker_command


class ProgressDisplay:
    """Feed it statuses with `show`; use as a context manager so the terminal is left tidy."""

    def __init__(self, video_id: str, stream: TextIO | None = None, *, live: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.video_id = video_id
        self._frames = self._clips = 0
        self._last_line = ""
        self._warned: list[str] = []
        self._console = Console(file=self.stream, highlight=False) if self.live else None
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> ProgressDisplay:
        if self._console is not None:
            self._bar = Progress(
                TextColumn("{task.fields[clips]}", table_column=Column(no_wrap=True)),
                BarColumn(bar_width=24),
                TextColumn("{task.percentage:>5.1f}%", table_column=Column(no_wrap=True)),
                TextColumn("{task.description}", table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1)),
                TimeElapsedColumn(),
                console=self._console,
                expand=True,
            )
            self._bar.start()
            self._task = self._bar.add_task("starting", total=None, clips="clips -/-")
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()

    def show(self, status: VideoStatus) -> None:
        # Never backwards: a render that failed or was canceled keeps the frames it had reached.
        self._frames = max(self._frames, status.frames_done)
        self._clips = max(self._clips, status.clips_done)
        total = status.frames_total or None
        stage = status.stage or status.state
        clips = f"clips {self._clips}/{status.clips_total}" if status.clips_total else "clips -/-"
        self._warn(status.waiting_for)
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, total=total, completed=min(self._frames, total or 0), description=stage,
                             clips=clips)  # fmt: skip
            return
        percent = f"{self._frames / total:6.1%}" if total else "     -"
        line = f"{percent}  {clips}  frames {self._frames}/{status.frames_total}  {stage}"
        if line != self._last_line:
            print(line, file=self.stream, flush=True)
            self._last_line = line

    def note(self, text: str) -> None:
        """A line above the bar (or between the plain lines)."""
        if self._bar is not None:
            self._bar.console.print(text, markup=False, highlight=False)
        else:
            print(text, file=self.stream, flush=True)

    def _warn(self, queues: list[str]) -> None:
        for queue in queues:
            if queue not in self._warned:
                self._warned.append(queue)
                self.note(
                    f"render: no worker polls {queue}; start one with `{worker_command(queue)}` "
                    f"(the render waits for it)"
                )
