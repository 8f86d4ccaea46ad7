"""The ffmpeg runner: stalls are killed, and no child outlives its worker."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from engine.media.probe import mov_is_whole
from engine.media.process import FfmpegError, run_ffmpeg


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


async def test_a_silent_child_is_killed_as_stalled() -> None:
    with pytest.raises(FfmpegError, match="no progress"):
        await run_ffmpeg(["sleep", "30"], stall_seconds=0.5)


async def test_cancel_kills_the_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    script = f"sleep 300 & echo $! > {pid_file}; wait"
    task = asyncio.ensure_future(run_ffmpeg(["sh", "-c", script]))
    while not pid_file.exists() or not pid_file.read_text().strip():
        await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    grandchild = int(pid_file.read_text())
    for _ in range(50):
        if not alive(grandchild):
            break
        await asyncio.sleep(0.05)
    assert not alive(grandchild)


def test_children_die_with_a_killed_worker(tmp_path: Path) -> None:
    """SIGKILL leaves no time to clean up: the kernel's parent-death signal does it."""
    pid_file = tmp_path / "pid"
    worker = textwrap.dedent(f"""
        import asyncio, os
        from engine.media.process import run_ffmpeg
        async def main():
            task = asyncio.ensure_future(run_ffmpeg(["sleep", "300"]))
            await asyncio.sleep(0.3)
            open({str(pid_file)!r}, "w").write("ready")
            await task
        asyncio.run(main())
    """)
    proc = subprocess.Popen([sys.executable, "-c", worker], cwd=Path(__file__).parent.parent)
    deadline = time.monotonic() + 20
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    children = subprocess.run(["pgrep", "-P", str(proc.pid), "sleep"], capture_output=True, text=True).stdout.split()
    assert len(children) == 1
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    for _ in range(50):
        if not alive(int(children[0])):
            break
        time.sleep(0.05)
    assert not alive(int(children[0]))


def test_a_truncated_segment_is_not_whole(tmp_path: Path) -> None:
    segment = tmp_path / "segment.mov"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=160x90:r=30:d=2", "-c:v", "libx264",
                    "-f", "mov", str(segment)], check=True)  # fmt: skip
    assert mov_is_whole(segment)
    data = segment.read_bytes()
    for cut in (len(data) - 1, len(data) // 2, 7):
        (tmp_path / "cut.mov").write_bytes(data[:cut])
        assert not mov_is_whole(tmp_path / "cut.mov")
