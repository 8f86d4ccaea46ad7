"""What the engine reports its progress to: a stage and counters, sent on by whoever runs it.

The activities' `activities.keeper.Heartbeats` satisfies it (a heartbeat carries the latest report); a test
or a benchmark passes anything with the same two methods. `update` may be called from a worker thread (a
transfer's progress).
"""

from __future__ import annotations

from typing import Any, Protocol


class Reporter(Protocol):
    """Progress of one piece of work: `stage` names what it is doing, `update` changes any reported field
    (`frames_done`, `segments_done`, `bytes_done`, `bytes_total`, …)."""

    def update(self, **changes: Any) -> None: ...

    def stage(self, stage: str) -> None: ...
