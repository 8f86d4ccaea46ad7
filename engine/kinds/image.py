"""The `image` clip's picture: the image with a slow zoom and pan (`sources.ken_burns_stream`), fitted as it moves."""

from __future__ import annotations

from contracts.job import ClipSpec, Profile
from engine.kinds import ClipInputs, KindRenderer, register
from engine.media.ffgraph import Stream
from engine.media.sources import ken_burns_stream, plain_background


def video(spec: ClipSpec, profile: Profile, frames: int, inputs: ClipInputs) -> Stream:
    if inputs.image is None:
        return plain_background(spec, profile, None)
    return ken_burns_stream(spec, profile, inputs.image, frames)


RENDERER = register(KindRenderer(kind="image", video=video))
