"""Run ffmpeg as a child that reports progress and never outlives its caller."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import resource
import shutil
import signal
import tempfile
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class FfmpegError(Exception):
    """ffmpeg exited non-zero; the end of its stderr says why."""

    def __init__(self, returncode: int, stderr_tail: str, what: str = "") -> None:
        super().__init__(f"ffmpeg exited with {returncode}: {stderr_tail[-1500:]}")
        self.returncode = returncode
        self.stderr_tail = stderr_tail
        self.what = what
        """What ffmpeg was making, when the activity makes several things (a clip's sound): named first."""


@functools.cache
def dying_with_parent() -> tuple[str, ...]:
    """The prefix that makes a child die with the worker: if the worker is SIGKILLed (preemption, OOM),
    the kernel kills ffmpeg too, and no orphan keeps burning a GPU for a render nobody will collect.

    util-linux's `setpriv` sets the parent-death signal and execs the command in the same process.
    Not a `preexec_fn`: Python code run between fork and exec in a process with threads (the SDK's,
    the storage threads) can deadlock on a lock another thread held at the fork, and the parent's
    event loop then waits on that child for ever; on a busy machine it did."""
    setpriv = shutil.which("setpriv")
    return (setpriv, "--pdeathsig", "KILL", "--") if setpriv else ()


CHILD_ENV_KEPT = ("PATH", "LD_LIBRARY_PATH", "ESPEAK_DATA_PATH")
CHILD_ENV_PREFIXES = ("NVIDIA_", "CUDA_")
"""What ffmpeg needs of the worker's environment (NVENC: the driver's libraries and GPU selection)."""
_child_home: list[Path] = []


def use_home(path: Path) -> None:
    """Children get `path` (the worker's scratch) as HOME and TMPDIR."""
    _child_home[:] = [path]


def child_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """A minimal environment for ffmpeg, ffprobe and espeak-ng, which parse untrusted media.

    Nothing else of the worker's reaches them: not the storage keys, the webhook secret
    or the Temporal API key.
    """
    source = os.environ if environ is None else environ
    home = str(_child_home[0]) if _child_home else tempfile.gettempdir()
    env = {key: value for key, value in source.items() if key in CHILD_ENV_KEPT or key.startswith(CHILD_ENV_PREFIXES)}
    env.setdefault("PATH", os.defpath)
    return env | {"HOME": home, "TMPDIR": home, "LANG": "C.UTF-8"}


STALL_SECONDS = 120.0
"""ffmpeg writes a progress block every half second; this long without one is a hang."""


class FfmpegStopped(Exception):
    """The caller asked ffmpeg to stop early (its progress callback returned False)."""


ProgressCallback = Callable[[int], Awaitable[bool]]


def children_cpu() -> float:
    """User + system CPU time of every child this process has reaped."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a running process, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


async def run_ffmpeg(
    args: Sequence[str], on_frames: ProgressCallback | None = None, stall_seconds: float = STALL_SECONDS
) -> float:
    """Run `args` (ffmpeg with `-progress pipe:1 -nostats`), awaiting `on_frames` as frames complete.

    `on_frames` returns False to stop ffmpeg early (FfmpegStopped). On that, on
    cancellation, or when ffmpeg stops reporting progress, the whole process group
    is killed before the error propagates. Returns the CPU seconds ffmpeg used, as
    last sampled (each progress block, the last one just before it exits); for a run
    too short to be sampled (it exited and was reaped before its one block was read),
    the CPU this process's children gained while it ran, at most its wall time.
    """
    before, started = children_cpu(), time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *dying_with_parent(),
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
        env=child_env(),
    )
    assert proc.stdout is not None and proc.stderr is not None
    tail: deque[str] = deque(maxlen=30)

    async def read_stderr() -> None:
        assert proc.stderr is not None
        async for raw in proc.stderr:
            tail.append(raw.decode(errors="replace").rstrip())

    stderr_task = asyncio.ensure_future(read_stderr())
    loop = asyncio.get_running_loop()
    used = 0.0
    try:
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
        # cancellation that arrives as a line is read, and the render runs on.
        async with asyncio.timeout(stall_seconds) as deadline:
            while raw := await proc.stdout.readline():
                deadline.reschedule(loop.time() + stall_seconds)
                line = raw.decode(errors="replace").strip()
                if line.startswith("progress="):
                    used = cpu_seconds(proc.pid) or used
                if on_frames and line.startswith("frame="):
                    value = line.partition("=")[2]
                    # The callback may store a checkpoint over a slow link: that is not ffmpeg stalling.
                    deadline.reschedule(None)
                    if value.isdigit() and not await on_frames(int(value)):
                        raise FfmpegStopped()
                    deadline.reschedule(loop.time() + stall_seconds)
        await stderr_task
        returncode = await proc.wait()
        if not used:
            used = min(children_cpu() - before, time.monotonic() - started)
    except TimeoutError:
        kill_group(proc.pid)
        await proc.wait()
        stderr_task.cancel()
        raise FfmpegError(-1, f"no progress for {stall_seconds:g} s; ffmpeg was killed") from None
    except BaseException:
        kill_group(proc.pid)
        await proc.wait()
        stderr_task.cancel()
        raise
    if returncode != 0:
        raise FfmpegError(returncode, "\n".join(tail))
    return used


def kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


async def run_tool(*args: str, stdin: bytes | None = None) -> tuple[int, bytes, bytes]:
    """Run a short helper (ffprobe, espeak-ng) to completion; killed if the caller is canceled."""
    proc = await asyncio.create_subprocess_exec(
        *dying_with_parent(),
        *args,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
        env=child_env(),
    )
    try:
        out, err = await proc.communicate(stdin)
    except BaseException:
        kill_group(proc.pid)
        await proc.wait()
        raise
    return proc.returncode or 0, out, err
