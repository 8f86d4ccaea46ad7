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
from typing import Any

import ffmpeg
from PIL import Image

from activities.media.themed import background
from contracts.job import Profile
from contracts.themes import Theme

TRANSITION = 0.25
"""Seconds a clip takes to come in, and again to go out."""


def transition_frames(fps: int, frames: int) -> int:
    """Frames of each end's transition: `TRANSITION` seconds, at most half the clip."""
    return min(math.ceil(round(TRANSITION * fps, 6)), frames // 2)


def dip_picture(theme: Theme, profile: Profile) -> Image.Image:
    """What a clip fades from and to, and slides over: the theme's background colour or gradient (black when
    the background is an image or a video, which differ from clip to clip)."""
    return background(theme, profile.width, profile.height)


def _yuv(stream: Any, matrix: str, alpha: bool) -> Any:
    return stream.filter("scale", out_color_matrix=matrix, out_range="tv").filter(
        "format", "yuva420p" if alpha else "yuv420p"
    )


def with_transition(
    video: Any,
    theme: Theme,
    profile: Profile,
    frames: int,
    matrix: str,
    text_dir: Path,
    images: dict[Path, Image.Image],
) -> Any:
    """`video` (YUV, every frame of the clip from its first, at times n / fps) with the theme's transition."""
    fps, k = profile.fps, transition_frames(profile.fps, frames)
    if theme.transition == "cut" or k < 1:
        return video
    path = text_dir / "dip.png"
    images[path] = dip_picture(theme, profile)

    picture = ffmpeg.input(str(path), loop=1, framerate=fps).filter("format", "rgba").trim(end_frame=1).split()

    def dip(branch: int, count: int) -> Any:
        """The picture, decoded once and repeated `count` times (`count` < 0: for ever), in RGBA."""
        repeated = picture[branch].filter("loop", loop=count - 1 if count > 0 else -1, size=1, start=0)
        return repeated.filter("setpts", f"N/{fps}/TB")

    if theme.transition == "fade":
        # Opaque on frame 0, 1 - n / k on frame n; on the way out the same, mirrored: opaque on the last frame.
        enter = _yuv(dip(0, k).filter("fade", type="out", start_frame=0, nb_frames=k, alpha=1), matrix, True)
        video = ffmpeg.overlay(video, enter, eof_action="pass")
        leave = _yuv(dip(1, k + 1).filter("fade", type="in", start_frame=0, nb_frames=k, alpha=1), matrix, True)
        return ffmpeg.overlay(video, leave.filter("setpts", f"(N+{frames - k - 1})/{fps}/TB"), eof_action="pass")
    # slide: over the first and last k frames the picture covers the frame and the clip's frame is laid on it,
    # moved right by W (1 - n / k)^3 on frame n coming in, left by the same mirrored going out.
    n = f"floor(t*{fps}+0.5)"
    ends = f"lt({n},{k})+gte({n},{frames - k})"
    shift = f"if(lt({n},{k}),W*pow(1-{n}/{k},3),if(gte({n},{frames - k}),-W*pow(1-({frames - 1}-{n})/{k},3),0))"
    split = video.split()
    covered = ffmpeg.overlay(split[0], _yuv(dip(0, -1), matrix, False), enable=ends)
    return ffmpeg.overlay(covered, split[1], x=shift, y=0, eval="frame", enable=ends)
