"""A theme's video background: the asset looped for the whole clip, filling the frame, without its sound.

The loop is timed by frame count, not by the asset's timestamps: source frame n of the endless
loop is shown at n / rate seconds of the clip, rate being the asset's average frame rate. Which
source frame a clip frame shows is then a pure function of the clip frame's index, so a render
resumed at frame F decodes from the frame the loop has reached there ((F / fps) mod the asset's
length) and draws exactly the pictures an uninterrupted render draws. (ffmpeg's own `-stream_loop`
offsets each pass by a length it measures from the packets it has read, which differs once the
input was seeked: it cannot be trusted to agree between the two.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from contracts.job import Profile
from engine.media import ffgraph as ffmpeg
from engine.media.ffgraph import Stream
from engine.media.sources import VideoAsset

LEAD_FRAMES = 2
"""A resumed loop starts this many source frames before the one its first clip frame shows."""


@dataclass(frozen=True)
class LoopVideo:
    """A fetched background video: its file, and the time of each of its frames as ffmpeg decodes them."""

    asset: VideoAsset
    times: tuple[float, ...]
    """Every decoded frame's timestamp in seconds (NaN where it has none), in order: their count is the loop's
    length in frames."""
    rate: Fraction
    """Frames per second the loop plays at: the asset's average rate."""
    start: float = 0.0
    """The container's start time: `-ss` seeks are counted from it."""
    rotation: int = 0
    """Degrees counterclockwise (0, 90, 180 or 270) the asset's picture is turned for display, as ffprobe reports
    it, that the Matroska copy no longer says: the loop turns it itself, as players turn the original."""

    @property
    def frames(self) -> int:
        return len(self.times)


def loop_start(video: LoopVideo, fps: int, first_frame: int) -> tuple[int, int]:
    """(pass, frame in the asset) where decoding starts for a render from clip frame `first_frame`."""
    shown = first_frame * video.rate.numerator // (video.rate.denominator * fps)
    return divmod(max(0, shown - LEAD_FRAMES), video.frames)


def _from_frame(video: LoopVideo, frame: int) -> Stream:
    """The asset from source frame `frame` to its end, once."""
    path = str(video.asset.path)
    if frame == 0:
        return ffmpeg.input(path).video
    point = (video.times[frame - 1] + video.times[frame]) / 2 - video.start
    if video.asset.seekable and math.isfinite(point):
        # Halfway between the frame before and this one: the accurate seek drops every frame before it.
        return ffmpeg.input(path, ss=f"{point:.6f}").video
    return ffmpeg.input(path).video.trim(start_frame=frame)


def loop_stream(video: LoopVideo, profile: Profile, first_frame: int) -> Stream:
    """The looping background in planar RGB at the profile's size and rate, from clip frame 0 on, endless.

    Frames before `first_frame` are copies of the first one decoded (the clip's trim drops them).
    """
    lap, frame = loop_start(video, profile.fps, first_frame)
    endless = ffmpeg.input(str(video.asset.path), stream_loop=-1).video
    stream = endless if frame == 0 else ffmpeg.concat(_from_frame(video, frame), endless, v=1, a=0)
    # Source frame n at n / rate seconds, in a time base where that is a whole number of ticks.
    ticks = video.rate.numerator * profile.fps
    stream = stream.filter("settb", f"1/{ticks}").filter(
        "setpts", f"(N+{lap * video.frames + frame})*{video.rate.denominator * profile.fps}"
    )
    w, h = profile.width, profile.height
    stream = _turned(stream, video.rotation)
    stream = stream.filter("format", "gbrp")
    if not video.asset.square_pixels:
        stream = stream.filter("scale", "trunc(iw*sar/2)*2", "ih").filter("setsar", 1)
    stream = stream.filter("scale", w, h, force_original_aspect_ratio="increase").filter("crop", w, h)
    return stream.filter("setsar", 1).filter("fps", fps=profile.fps, start_time=0)


def _turned(stream: Stream, rotation: int) -> Stream:
    """The picture turned `rotation` degrees counterclockwise, as ffmpeg turns a file that says it is rotated."""
    if rotation == 90:
        return stream.filter("transpose", "cclock")
    if rotation == 180:
        return stream.filter("hflip").filter("vflip")
    if rotation == 270:
        return stream.filter("transpose", "clock")
    return stream
