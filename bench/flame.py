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
    """py-spy's short file names → a package: 'temporalio/worker/_activity.py' → 'temporalio.worker'.

    temporalio is split one level down (worker, bridge, converter) because that is
    where the interesting difference between its parts lies.
    """
    path = path.removeprefix("<frozen ").removesuffix(">")
    parts = path.split("/")
    if len(parts) == 1:
        return parts[0].removesuffix(".py")
    if parts[0] == "temporalio" and len(parts) > 2:
        return f"temporalio.{parts[1]}"
    return parts[0]


def summarise(raw: str, top: int = 12) -> tuple[int, list[tuple[str, int]], list[tuple[str, int]]]:
    """(samples, hottest functions by own samples, packages by samples they appear in).

    Packages on nearly every stack (the entry point, the event loop) say nothing and are left out.
    """
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
    telling = [(name, n) for name, n in packages.most_common() if n < 0.95 * total]
    return total, leaves.most_common(top), telling[:top]
