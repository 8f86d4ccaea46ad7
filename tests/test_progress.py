"""The live progress display: a bar in a real pseudo-terminal, plain lines elsewhere, never backwards."""

from __future__ import annotations

import asyncio
import fcntl
import io
import json
import os
import pty
import re
import struct
import sys
import termios
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client

from runtime.process import program
from starter.client import VideoStatus
from starter.progress import ProgressDisplay

pytestmark = pytest.mark.usefixtures("workers")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
COLUMNS = 64


def read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the other side has closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


async def test_the_bar_redraws_in_place_fits_the_terminal_and_only_moves_forward(
    client: Client, tmp_path: Path
) -> None:
    video_id = f"pty-{uuid.uuid4().hex[:6]}"
    job = {
        "video_id": video_id,
        "profile": {"width": 160, "height": 90},
        "max_parallel_clips": 1,
        "clips": [{"kind": "recipe", "recipe": "testsrc", "duration": 1} for _ in range(4)]
        + [{"kind": "card", "duration": 1, "lines": ["a long stage name is cut, never wrapped " * 3]}],
    }
    path = tmp_path / "job.json"
    path.write_text(json.dumps(job))
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, COLUMNS, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env |= {"TEMPORAL_ADDRESS": client.service_client.config.target_host, "TERM": "xterm-256color"}
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "render"), "submit", str(path), "--wait",
        stdin=slave, stdout=slave, stderr=slave, env=env,
    )  # fmt: skip
    os.close(slave)
    raw = (await asyncio.wait_for(asyncio.to_thread(read_all, master), timeout=180)).decode()
    os.close(master)
    assert await proc.wait() == 0, raw

    assert "\x1b[2K" in raw  # each redraw erases the line it replaces
    text = ANSI.sub("", raw)
    assert f"rendered {video_id}: " in text
    drawn = [segment for segment in re.split(r"[\r\n]", text) if segment.strip()]
    bars = [segment for segment in drawn if segment.startswith("clips ")]
    assert all(len(bar) <= COLUMNS for bar in bars), [bar for bar in bars if len(bar) > COLUMNS]
    assert bars and "completed" in bars[-1] and "100.0%" in bars[-1]
    percents = [float(p) for bar in bars for p in re.findall(r"(\d+\.\d)%", bar)]
    assert percents == sorted(percents) and len(set(percents)) > 2, percents
    clips = [int(c) for bar in bars for c in re.findall(r"clips (\d)/5", bar)]
    assert clips == sorted(clips)


def test_plain_lines_off_a_terminal_never_go_backwards() -> None:
    out = io.StringIO()
    statuses = [
        VideoStatus("v", "running", "waiting for a worker", waiting_for=["render-gpu"]),
        VideoStatus("v", "running", "rendering", 1, 4, 30, 120),
        VideoStatus("v", "running", "rendering", 1, 4, 30, 120),
        VideoStatus("v", "running", "rendering", 2, 4, 75, 120),
        VideoStatus("v", "failed", "failed", 0, 4, 0, 120),  # a failure reports nothing in flight
    ]
    with ProgressDisplay("v", out) as display:
        for status in statuses:
            display.show(status)
    lines = out.getvalue().splitlines()
    assert "\x1b" not in out.getvalue()
    assert lines == [
        f"render: no worker polls render-gpu; start one with `{program('render-worker')} --mode gpu` "
        "(the render waits for it)",
        "     -  clips -/-  frames 0/0  waiting for a worker",
        " 25.0%  clips 1/4  frames 30/120  rendering",
        " 62.5%  clips 2/4  frames 75/120  rendering",
        " 62.5%  clips 2/4  frames 75/120  failed",
    ]
