"""Printing figures: aligned tables, ratios with their goal, and the final headline line."""

from __future__ import annotations

import os
import platform
import statistics
import sys
from collections.abc import Sequence


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    """First quartile, median and third quartile: the spread a reader needs to tell a change from noise."""
    if len(values) < 2:
        only = values[0] if values else float("nan")
        return only, only, only
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def with_spread(values: Sequence[float], digits: int = 3) -> str:
    """'1.032 (IQR 0.998–1.061, n=7)': the median of paired ratios and their interquartile range."""
    q1, q2, q3 = quartiles(values)
    return f"{q2:.{digits}f} (IQR {q1:.{digits}f}–{q3:.{digits}f}, n={len(values)})"


def verdict(value: float, goal: float, *, at_most: bool) -> str:
    met = value <= goal if at_most else value >= goal
    return f"goal {'≤' if at_most else '≥'} {goal:g}: {'met' if met else 'MISSED'}"


def table(rows: Sequence[Sequence[object]], header: Sequence[str] | None = None) -> str:
    """Left-aligned first column, right-aligned others; floats with 2 decimals unless already strings."""
    cells = [[_cell(c) for c in row] for row in ([header] if header else []) + list(rows)]
    widths = [max(len(row[i]) for row in cells if i < len(row)) for i in range(max(len(r) for r in cells))]
    lines = []
    for row in cells:
        parts = [row[0].ljust(widths[0])] + [c.rjust(widths[i + 1]) for i, c in enumerate(row[1:])]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def machine() -> str:
    """One line on where the figures come from: they only compare within one run on one machine."""
    cpu = "?"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "?")
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, load average at start {load}"


def progress(message: str) -> None:
    """Progress goes to stderr so that stdout holds the figures only."""
    print(f"… {message}", file=sys.stderr, flush=True)


def mib(kib: int) -> str:
    return f"{kib / 1024:.0f}"
