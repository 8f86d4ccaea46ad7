"""py-spy, attached to a worker for the measured window, and a text summary of what it saw.

py-spy samples only what runs on a CPU (idle threads are left out), so the
summary answers "what is this process busy with": its hottest functions and the
share of samples in which each package appears anywhere on the stack.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


@dataclass
class Recording:
    proc: subprocess.Popen[bytes]
    output: Path

    def stop(self) -> Path:
        """py-spy writes its file when interrupted."""
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.output


def record(pid: int, output: Path, rate: int = 100) -> Recording:
    binary = py_spy()
    if binary is None:
        raise RuntimeError("py-spy is not installed (pip install py-spy)")
    args = [binary, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw", "--function"]
    args += ["--nonblocking", "--output", str(output)]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return Recording(proc, output)


def package_of(path: str) -> str:
    """'…/site-packages/temporalio/worker/_activity.py' → 'temporalio'; repo modules by their top folder."""
    parts = Path(path).parts
    for marker in ("site-packages", "dist-packages"):
        if marker in parts:
            return parts[parts.index(marker) + 1].removesuffix(".py")
    for top in ("activities", "workflows", "workers", "contracts", "starter", "bench"):
        if top in parts:
            return top
    if "python3.11" in parts or "lib" in parts:
        name = Path(path).stem
        folder = Path(path).parent.name
        return f"stdlib {folder}" if folder in ("asyncio", "concurrent", "json", "logging") else f"stdlib {name}"
    return path or "?"


def summarise(raw: str, top: int = 12) -> tuple[int, list[tuple[str, int]], list[tuple[str, int]]]:
    """(samples, hottest functions by own samples, packages by samples they appear in)."""
    leaves: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [FRAME.match(f) for f in stack.split(";")]
        parsed = [(m.group("func"), m.group("file")) for m in frames if m]
        if not parsed:
            continue
        func, file = parsed[-1]
        leaves[f"{func} ({package_of(file)})"] += count
        for package in {package_of(f) for _, f in parsed}:
            packages[package] += count
    return total, leaves.most_common(top), packages.most_common(top)
