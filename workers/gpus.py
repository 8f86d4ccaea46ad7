"""GPU discovery through NVML. No driver means CPU mode, said once, never a crash."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    memory_mb: int


def discover_gpus() -> list[Gpu]:
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception as err:  # NVMLError_LibraryNotFound, DriverNotLoaded, ImportError
        log.info("no NVIDIA driver found, running in CPU mode", reason=type(err).__name__)
        return []
    try:
        gpus = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = pynvml.nvmlDeviceGetName(handle)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            gpus.append(Gpu(i, name if isinstance(name, str) else name.decode(), int(memory.total) // 2**20))
        log.info("GPUs found", gpus=[g.name for g in gpus])
        return gpus
    finally:
        pynvml.nvmlShutdown()


def sample_gpus() -> list[dict[str, Any]]:
    """Live utilisation per GPU, with encoder load and sessions where the driver reports them."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:
        return []
    try:
        samples = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            sample: dict[str, Any] = {"index": i, "utilization": pynvml.nvmlDeviceGetUtilizationRates(handle).gpu}
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            sample["memory_used_mb"] = int(memory.used) // 2**20
            try:
                sample["encoder_utilization"] = pynvml.nvmlDeviceGetEncoderUtilization(handle)[0]
                sample["encoder_sessions"] = pynvml.nvmlDeviceGetEncoderStats(handle)[0]
            except pynvml.NVMLError:
                pass  # no NVENC on this GPU (A100, H100, H200)
            samples.append(sample)
        return samples
    finally:
        pynvml.nvmlShutdown()
