"""Scratch space per worker process, and removal of what dead workers left behind.

Each activity cleans its own scratch directory, whatever happens to it, but a
SIGKILLed worker (preemption, OOM) gets no chance to: its files would stay on
the node's disk forever. So every process keeps its activities' directories
under one directory named after itself (host, pid and the process's start
time, which tells a reused pid apart), and a worker starting up removes the
directories of processes on its host that are gone.
"""

from __future__ import annotations

import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

PREFIX = "w"


def process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot, or None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # Field 2 (the command) may hold spaces and parentheses: count fields after its closing one.
    return stat.rpartition(")")[2].split()[19]


@dataclass(frozen=True)
class Owner:
    pid: int
    start: str
    host: str

    @property
    def name(self) -> str:
        return f"{PREFIX}.{self.pid}.{self.start}.{self.host}"

    @classmethod
    def current(cls) -> Owner:
        pid = os.getpid()
        return cls(pid, process_start(pid) or "0", socket.gethostname())

    @classmethod
    def parse(cls, name: str) -> Owner | None:
        prefix, _, rest = name.partition(".")
        pid, _, rest = rest.partition(".")
        start, _, host = rest.partition(".")
        if prefix != PREFIX or not pid.isdigit() or not start.isdigit() or not host:
            return None
        return cls(int(pid), start, host)

    def alive(self) -> bool:
        return process_start(self.pid) == self.start


CHILD_HOME = ".home"
"""HOME and TMPDIR of this process's children (ffmpeg, espeak-ng): what they leave there (a PulseAudio
runtime directory, config caches) stays out of the activities' scratch and goes with the process's."""


def child_home(scratch_dir: Path) -> Path:
    """The children's HOME inside this process's scratch directory, created on first use."""
    path = process_dir(scratch_dir) / CHILD_HOME
    path.mkdir(exist_ok=True)
    return path


def activity_dirs(scratch_dir: Path) -> list[Path]:
    """What activities left in the scratch directories of every process (the children's homes aside)."""
    return [p for p in scratch_dir.glob("*/*") if p.name != CHILD_HOME]


def process_dir(scratch_dir: Path) -> Path:
    """This process's scratch directory, created on first use."""
    path = scratch_dir / Owner.current().name
    path.mkdir(parents=True, exist_ok=True)
    return path


def sweep_stale(scratch_dir: Path) -> list[Path]:
    """Remove the scratch directories of this host's processes that no longer run; returns what went.

    Directories of other hosts (a scratch volume shared between nodes) and
    anything not named by `Owner` are left alone: only their owner can tell.
    """
    if not scratch_dir.is_dir():
        return []
    host = socket.gethostname()
    removed = []
    for path in sorted(scratch_dir.iterdir()):
        owner = Owner.parse(path.name)
        if owner is None or owner.host != host or owner.alive() or not path.is_dir():
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed
