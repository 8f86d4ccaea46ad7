"""Transitions between clips, chosen by the theme and made inside each clip, so clips stay independent.

A `fade` covers a card's, question's or reveal's first and last frames with its background picture (the
theme's colour or gradient; black behind an image or a video), opaque on the first and the last frame and
clear `TRANSITION` seconds in: one clip fades out to the picture the next fades in from. A `slide` moves the
whole frame (the countdown and the bar too) in from the right over that picture and out to the left.
Either is a function of the frame's time alone, drawn by ffmpeg over the clip's finished frames before they
are cut into segments, so a resumed render draws what an uninterrupted one draws, and the clip keeps its
frames. Between the two ends nothing is drawn: the clip's frames pass through. `cut` is the clip as it is.
"""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image

from contracts.job import Profile
from contracts.themes import Theme
from engine.media import ffgraph as ffmpeg
from engine.media.ffgraph import Stream
from engine.media.themed import background

TRANSITION = 0.25
"""Seconds a clip takes to come in, and again to go out."""


def transition_frames(fps: int, frames: int) -> int:
    """Frames of each end's transition: `TRANSITION` seconds, at most half the clip."""
    return min(math.ceil(round(TRANSITION * fps, 6)), frames // 2)


def dip_picture(theme: Theme, profile: Profile) -> Image.Image:
    """What a clip fades from and to, and slides over: the theme's background colour or gradient (black when
    the background is an image or a video, which differ from clip to clip)."""
    return background(theme, profile.width, profile.height)


def _yuv(stream: Stream, matrix: str, *, alpha: bool) -> Stream:
    return stream.filter("scale", out_color_matrix=matrix, out_range="tv").filter(
        "format", "yuva420p" if alpha else "yuv420p"
    )


def with_transition(
    video: Stream,
    theme: Theme,
    profile: Profile,
    frames: int,
    matrix: str,
    text_dir: Path,
    images: dict[Path, Image.Image],
) -> Stream:
    """`video` (YUV, every frame of the clip from its first, at times n / fps) with the theme's transition."""
    fps, k = profile.fps, transition_frames(profile.fps, frames)
    if theme.transition == "cut" or k < 1:
        return video
    path = text_dir / "dip.png"
    images[path] = dip_picture(theme, profile)

    fade, last = theme.transition == "fade", frames - k
    # Converted once, then repeated: a conversion per frame would cost more than the whole transition.
    picture = ffmpeg.input(str(path), loop=1, framerate=fps).filter("format", "rgba").trim(end_frame=1)
    dips = _yuv(picture, matrix, alpha=fade).split()

    def dip(branch: int, count: int) -> Stream:
        """The picture repeated `count` times, at times from 0."""
        return dips[branch].filter("loop", loop=count - 1, size=1, start=0).filter("setpts", f"N/{fps}/TB")

    # Only the first and the last k frames go through the transition: the frames between pass as they are,
    # not even copied. Each part is timed from 0 here; the concat times them back one after another.
    parts = video.split()
    head = parts[0].trim(end_frame=k)
    middle = parts[1].trim(start_frame=k, end_frame=last).setpts("PTS-STARTPTS")
    tail = parts[2].trim(start_frame=last, end_frame=frames).setpts("PTS-STARTPTS")
    if fade:
        # The picture over frame n of the head at alpha 1 - n / k (opaque on the clip's first frame), over frame
        # j of the tail at (j + 1) / k (opaque on its last).
        head = ffmpeg.overlay(head, dip(0, k).filter("fade", type="out", start_frame=0, nb_frames=k, alpha=1))
        rising = dip(1, k + 1).filter("fade", type="in", start_frame=0, nb_frames=k, alpha=1)
        tail = ffmpeg.overlay(tail, rising.trim(start_frame=1).setpts("PTS-STARTPTS"))
    else:
        # The frame over the picture, moved right by W (1 - n / k)^3 on frame n of the head (off the frame on the
        # clip's first), and left by W ((j + 1) / k)^3 on frame j of the tail (off the frame on its last).
        n = f"floor(t*{fps}+0.5)"
        head = ffmpeg.overlay(dip(0, k), head, x=f"W*pow(1-{n}/{k},3)", y=0, eval="frame")
        tail = ffmpeg.overlay(dip(1, k), tail, x=f"-W*pow(({n}+1)/{k},3)", y=0, eval="frame")
    return ffmpeg.concat(*([head, middle, tail] if last > k else [head, tail]), v=1, a=0)
