"""GPU classes a job may ask for, as data: memory, NVENC, default price.

A class names a worker pool with its own task queue (`render-gpu-<class>`), so a
job that needs an L4 waits for an L4, and a class nobody knows is refused up front.
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts.names import GPU_QUEUE


@dataclass(frozen=True)
class GpuClass:
    memory_gb: int
    nvenc: bool
    usd_per_hour: float
    """Default on-demand price; workers' RENDER_RATES overrides it."""


GPU_CLASSES: dict[str, GpuClass] = {
    "t4": GpuClass(memory_gb=16, nvenc=True, usd_per_hour=0.35),
    "l4": GpuClass(memory_gb=24, nvenc=True, usd_per_hour=0.70),
    "a10g": GpuClass(memory_gb=24, nvenc=True, usd_per_hour=1.01),
    "rtx6000ada": GpuClass(memory_gb=48, nvenc=True, usd_per_hour=0.69),
    "l40s": GpuClass(memory_gb=48, nvenc=True, usd_per_hour=1.60),
    "a100": GpuClass(memory_gb=80, nvenc=False, usd_per_hour=1.89),
    "h100": GpuClass(memory_gb=80, nvenc=False, usd_per_hour=2.99),
}
CPU_USD_PER_CORE_HOUR = 0.04
"""Default price of one CPU core-hour (libx264 fallback, concat, upload)."""


def render_queue(gpu_class: str | None) -> str:
    return f"{GPU_QUEUE}-{gpu_class}" if gpu_class else GPU_QUEUE


def class_for_memory(min_gb: float) -> str | None:
    """The cheapest NVENC class with at least `min_gb` of GPU memory."""
    fits = [(c.usd_per_hour, name) for name, c in GPU_CLASSES.items() if c.memory_gb >= min_gb and c.nvenc]
    return min(fits)[1] if fits else None
