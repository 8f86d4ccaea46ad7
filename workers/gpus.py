"""GPU discovery through NVML. No driver means CPU mode, said once, never a crash."""

from __future__ import annotations

from dataclasses import dataclass

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
