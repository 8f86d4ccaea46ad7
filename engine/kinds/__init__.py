"""Clip kinds' renderers: a kind is a module in this package that registers one `KindRenderer`.

Each module is named as its kind's contract in `contracts.kinds` (tests/test_kinds.py checks that both
registries list the same kinds). `engine.media.graphs` asks this registry for a clip's picture before its own
kinds' code: the renderer gives the clip's video source, and the graph around it (text, colour conversion,
frame-exact trim, segments for resuming, the encoder) is the one every clip shares.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from contracts.job import ClipSpec, Profile
    from engine.media.ffgraph import Stream
    from engine.media.graphs import ClipInputs


@dataclass(frozen=True)
class KindRenderer:
    """How the engine draws one clip kind."""

    kind: str
    video: Callable[[ClipSpec, Profile, int, ClipInputs], Stream]
    """The clip's picture as an `engine.media.ffgraph` stream in rgb24, from the spec, the profile, the clip's frame
    count and the files fetched for it; time in the stream is clip time (a resumed segment is trimmed from it)."""
    still: bool = False
    """One picture for the whole clip: its first frame is drawn and converted once, then repeated."""


RENDERERS: dict[str, KindRenderer] = {}


def register(renderer: KindRenderer) -> KindRenderer:
    if renderer.kind in RENDERERS and RENDERERS[renderer.kind] is not renderer:
        raise ValueError(f"clip kind {renderer.kind!r} has two renderers")
    RENDERERS[renderer.kind] = renderer
    return renderer


def load() -> dict[str, KindRenderer]:
    """Import every kind module of this package (each registers itself) and return the registry."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    return RENDERERS


load()
