"""The `color` clip's picture: ffmpeg's colour source at the profile's size and rate, one frame repeated."""

from __future__ import annotations

from contracts.job import ClipSpec, Profile
from engine.kinds import ClipInputs, KindRenderer, register
from engine.media import ffgraph as ffmpeg
from engine.media.ffgraph import Stream


def video(spec: ClipSpec, profile: Profile, frames: int, inputs: ClipInputs) -> Stream:
    size = f"{profile.width}x{profile.height}"
    source = ffmpeg.input(f"color=c=0x{spec.background.lstrip('#')}:s={size}:r={profile.fps}", f="lavfi")
    return source.filter("format", "rgb24")


RENDERER = register(KindRenderer(kind="color", video=video, still=True))
