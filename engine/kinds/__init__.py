"""Clip kinds' renderers: a kind is a module in this package that registers its `KindRenderer`s.

Each module is named as its kind's contract in `contracts.kinds` and registers a renderer for every spec kind
that contract module registers (the question module: `question` and `reveal`); tests/test_kinds.py checks that
both registries list the same kinds. `engine.media.graphs` asks this registry for a clip's picture: the
renderer gives the clip's video source, and the graph around it (text, colour conversion, frame-exact trim,
segments for resuming, the encoder) is the one every clip shares.

The text a card, question or reveal draws is laid out by `engine.media.layers` and, under a theme,
`engine.media.themed`, `themed_graph` and `motion`, which know those kinds' parts (lines; a question and its
answers); a renderer says only whether a theme draws it (`themed`).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from contracts.job import ClipSpec, Profile
from engine.media.effects import Effect
from engine.media.ffgraph import Stream
from engine.media.sources import VideoAsset


@dataclass(frozen=True)
class ClipInputs:
    """Local files the activity fetched or made for this clip."""

    image: Path | None = None
    audio: Path | None = None
    narration: Path | None = None
    music_gain_db: float = 0.0
    """Brings the music to MUSIC_BED_LUFS, from its measured loudness."""
    video: VideoAsset | None = None
    first_frame: int = 0
    """The first frame this render needs: a video asset may be decoded from just before it."""
    audio_start: float = 0.0
    """Seconds into `audio` where this clip's stretch starts (the theme's bed runs on across clips)."""
    effects: tuple[Effect, ...] = ()
    """The theme's ticks and sting, added on top of the mix."""


@dataclass(frozen=True)
class KindRenderer:
    """How the engine draws one clip kind (or a spec kind another kind plans)."""

    kind: str
    video: Callable[[ClipSpec, Profile, int, ClipInputs], Stream]
    """The clip's picture as an `engine.media.ffgraph` stream in rgb24, from the spec, the profile, the clip's frame
    count and the files fetched for it; time in the stream is clip time (a resumed segment is trimmed from it)."""
    still: bool = False
    """One picture for the whole clip: its first frame is drawn and converted once, then repeated; its `image`
    is its background, fitted to the frame before the render (a moving kind's image is fitted as it moves)."""
    themed: bool = False
    """A theme draws it (`engine.media.themed`: its text, backdrop, motion and transition); False: the plain look
    draws it under a theme as without one."""
    countdown: bool = False
    """It counts down its seconds: numbers and a shrinking bar in the plain look, rings under a theme, and the
    theme's tick once a number."""
    sound: str = ""
    """The theme's sound (`Sounds` field) it plays: with a countdown once a number, else at its first frame."""


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


def renderer_for(kind: str) -> KindRenderer:
    """The spec kind's renderer; a kind nobody registered is a programming error (the contract refuses it)."""
    return RENDERERS[kind]


load()
