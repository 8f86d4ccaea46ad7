"""Pins each render to one GPU: the least busy one when it starts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class GpuSlots:
    def __init__(self, gpus: int) -> None:
        self.load = [0] * gpus

    @contextmanager
    def hold(self) -> Iterator[int | None]:
        """A GPU index for the duration of one render; None when there are no GPUs."""
        if not self.load:
            yield None
            return
        index = min(range(len(self.load)), key=self.load.__getitem__)
        self.load[index] += 1
        try:
            yield index
        finally:
            self.load[index] -= 1
