"""Memory and CPU of processes and their children, read from /proc (Linux only).

Worker processes run as subprocesses in the benchmarks precisely so that these
numbers belong to one worker each: a worker's own resident set, its peak, and
the ffmpeg/ffprobe/espeak-ng children it starts, sampled while they run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK")


def status_kib(pid: int, key: str) -> int:
    """A `kB` field of /proc/PID/status (VmRSS, VmHWM); 0 once the process is gone."""
    with contextlib.suppress(OSError):
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(own CPU seconds, CPU seconds of children it has waited for), user plus system."""
    with contextlib.suppress(OSError):
        stat = (PROC / str(pid) / "stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        # Fields after the name, 0-based: utime 11, stime 12, cutime 13, cstime 14.
        own = (int(fields[11]) + int(fields[12])) / TICKS
        children = (int(fields[13]) + int(fields[14])) / TICKS
        return own, children
    return 0.0, 0.0


def children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in (PROC / str(pid) / "task").iterdir():
            with contextlib.suppress(OSError):
                found += [int(c) for c in (task / "children").read_text().split()]
    return found


def descendants(pid: int, skip: Iterable[int] = ()) -> list[int]:
    skipped = set(skip)
    pending, found = [c for c in children(pid) if c not in skipped], []
    while pending:
        child = pending.pop()
        found.append(child)
        pending += [c for c in children(child) if c not in skipped]
    return found


def command_name(pid: int) -> str:
    with contextlib.suppress(OSError):
        return (PROC / str(pid) / "comm").read_text().strip()
    return "?"


@dataclass
class MemoryPeaks:
    """What one sampled process tree used at most, in KiB."""

    own_rss: int = 0
    children_rss: int = 0
    """Largest sum of the children's resident sets at one instant."""
    child_rss: dict[str, int] = field(default_factory=dict)
    """Largest resident set of one child, by command name (ffmpeg, ffprobe, espeak-ng)."""

    def add(self, own: int, kids: dict[int, tuple[str, int]]) -> None:
        self.own_rss = max(self.own_rss, own)
        self.children_rss = max(self.children_rss, sum(rss for _, rss in kids.values()))
        for name, rss in kids.values():
            self.child_rss[name] = max(self.child_rss.get(name, 0), rss)

    def merge(self, other: MemoryPeaks) -> None:
        self.own_rss = max(self.own_rss, other.own_rss)
        self.children_rss = max(self.children_rss, other.children_rss)
        for name, rss in other.child_rss.items():
            self.child_rss[name] = max(self.child_rss.get(name, 0), rss)


class Sampler:
    """Samples named process trees every `interval` seconds while active (`async with`).

    Sampling costs a few /proc reads per process, well under 1 % of a core at the
    default interval; very short children (a one-frame ffmpeg) can fall between samples.
    """

    def __init__(self, roots: dict[str, int], *, skip: Iterable[int] = (), interval: float = 0.1) -> None:
        self.roots = roots
        self.skip = set(skip)
        self.interval = interval
        self.peaks = {name: MemoryPeaks() for name in roots}
        self._task: asyncio.Task[None] | None = None

    def sample(self) -> None:
        for name, pid in self.roots.items():
            # A child still named like its parent is a fork that has not exec'd ffmpeg yet
            # (the moment between fork and exec): its pages are the parent's, shared.
            parent = command_name(pid)
            kids = {c: (command_name(c), status_kib(c, "VmRSS")) for c in descendants(pid, self.skip)}
            kids = {c: kid for c, kid in kids.items() if kid[0] != parent}
            self.peaks[name].add(status_kib(pid, "VmRSS"), kids)

    async def _loop(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.interval)

    async def __aenter__(self) -> Sampler:
        self._task = asyncio.ensure_future(self._loop())
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.sample()


def cpu_total(pids: Iterable[int]) -> float:
    """CPU seconds used so far by these processes and the children they have reaped."""
    return sum(sum(cpu_seconds(pid)) for pid in pids)


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all processes, ours and others'), from /proc/stat."""
    with contextlib.suppress(OSError):
        fields = [int(x) for x in (PROC / "stat").read_text().splitlines()[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return (sum(fields[:8]) - idle) / TICKS
    return 0.0
