"""Procedural clip recipes: data, not code.

A recipe names an ffmpeg source filter and the parameters a job may set, each
with a default and bounds. Adding a recipe is adding an entry here; the engine
turns any entry into a filter graph the same way, so no recipe runs code of its own.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Bound:
    default: float
    low: float
    high: float
    integer: bool = False


@dataclass(frozen=True)
class Recipe:
    source: str
    """An ffmpeg lavfi video source that takes `s` (size) and `r` (rate)."""
    params: dict[str, Bound]
    cost: tuple[str, float] | None = None
    """(parameter, seconds per pixel per unit of it) when a frame costs more than a plain clip's:
    what the budget prices a frame at (see contracts.budget)."""


RECIPES: dict[str, Recipe] = {
    "mandelbrot": Recipe(
        source="mandelbrot",
        params={
            "maxiter": Bound(default=256, low=16, high=8192, integer=True),
            "start_scale": Bound(default=3.0, low=1e-6, high=10.0),
            "end_scale": Bound(default=0.3, low=1e-9, high=10.0),
            "start_x": Bound(default=-0.743643887037158704752191506114774, low=-2.0, high=2.0),
            "start_y": Bound(default=-0.131825904205311970493132056385139, low=-2.0, high=2.0),
        },
        # Every pixel may run to maxiter (a deep zoom inside the set). Measured: 1080p at maxiter
        # 8192 took 32 s a frame on an idle core (1.9e-9), 320x180 at 8192 took 1.8 s a frame on a
        # two-core machine at load 7 (3.9e-9).
        cost=("maxiter", 3e-9),
    ),
    "life": Recipe(
        source="life",
        params={
            "ratio": Bound(default=0.1, low=0.01, high=0.9),
            "seed": Bound(default=7, low=0, high=2**31 - 1, integer=True),
        },
    ),
    "testsrc": Recipe(source="testsrc2", params={}),
}
