"""Scratch left by dead workers is removed when a worker starts; nobody else's is touched."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from engine.scratch import Owner, process_dir, process_start, sweep_stale


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def make(root: Path, name: str) -> Path:
    path = root / name / "clip-0-abc"
    path.mkdir(parents=True)
    (path / "audio.wav").write_bytes(b"x" * 100)
    return path.parent


def test_only_dead_processes_of_this_host_lose_their_scratch(tmp_path: Path) -> None:
    host = socket.gethostname()
    me = process_dir(tmp_path)
    (me / "running-0-xyz").mkdir()
    dead = make(tmp_path, Owner(dead_pid(), "12345", host).name)
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        live_start = process_start(sleeper.pid)
        assert live_start is not None
        alive = make(tmp_path, Owner(sleeper.pid, live_start, host).name)
        reused_pid = make(tmp_path, Owner(sleeper.pid, str(int(live_start) - 1), host).name)  # same pid, older process
        other_host = make(tmp_path, Owner(dead_pid(), "1", host + "-elsewhere").name)
        unrelated = make(tmp_path, "not-a-worker")
        old_layout = tmp_path / "video-0-abcd"
        old_layout.mkdir()

        removed = sweep_stale(tmp_path)

        assert sorted(removed) == sorted([dead, reused_pid])
        assert not dead.exists() and not reused_pid.exists()
        for kept in (me, alive, other_host, unrelated, old_layout):
            assert kept.exists(), kept
        assert (me / "running-0-xyz").exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_owner_names_round_trip() -> None:
    me = Owner.current()
    assert Owner.parse(me.name) == me and me.alive()
    assert Owner.parse("w.12.34.host.with.dots") == Owner(12, "34", "host.with.dots")
    for name in ("w.12.34.", "x.1.2.h", "w.a.2.h", "video-0-abcd", "w.1.2"):
        assert Owner.parse(name) is None, name
