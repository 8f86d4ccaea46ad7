"""The `video` clip's picture: the asset from `in` at the profile's rate, fitted (`sources.video_asset_stream`)."""

from __future__ import annotations

from contracts.job import ClipSpec, Profile
from engine.kinds import ClipInputs, KindRenderer, register
from engine.media.ffgraph import Stream
from engine.media.sources import plain_background, video_asset_stream


def video(spec: ClipSpec, profile: Profile, frames: int, inputs: ClipInputs) -> Stream:
    if inputs.video is None:
        return plain_background(spec, profile, inputs.image)
    return video_asset_stream(spec, profile, inputs.video, inputs.first_frame)


RENDERER = register(KindRenderer(kind="video", video=video))
