"""The `card` clip's picture: its image fitted to the frame or its colour, one frame repeated; a theme draws it."""

from __future__ import annotations

from contracts.job import ClipSpec, Profile
from engine.kinds import ClipInputs, KindRenderer, register
from engine.media.ffgraph import Stream
from engine.media.sources import plain_background


def video(spec: ClipSpec, profile: Profile, frames: int, inputs: ClipInputs) -> Stream:
    return plain_background(spec, profile, inputs.image)


RENDERER = register(KindRenderer(kind="card", video=video, still=True, themed=True))
