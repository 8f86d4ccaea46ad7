"""A themed clip's ffmpeg graph: its one still picture, repeated, with the countdown ring and the progress bar.

The picture (background, boxes, text, number, logo) is drawn once by Pillow and converted
to YUV once; only the ring's number and the bar change, and they are overlaid in YUV,
converted with the same matrix as the picture so their colours match it. On a theme's
background video, the picture without its background is overlaid on every frame of the loop
in RGB instead, and the frame converted to YUV. A theme's entrance (`motion`) covers the first
frames with pictures drawn one per frame (`engine.media.motion`), then the still shows, and its exit
covers the last frames likewise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from PIL import Image

from contracts.job import ClipSpec, Profile
from contracts.themes import Theme
from engine.kinds import renderer_for
from engine.media import ffgraph as ffmpeg
from engine.media.backdrop import LoopVideo, loop_stream
from engine.media.ffgraph import Stream
from engine.media.layers import Fonts, cropped
from engine.media.motion import Box, Part, entrance_frames, leaves, moving_frames, picture, reach, stage, starts
from engine.media.themed import (
    ALL_PARTS,
    HIGHLIGHT,
    answer_letters,
    answer_part,
    countdown_rings,
    reading_header,
    regions,
    rgba,
    still_frame,
)


@dataclass(frozen=True)
class Look:
    """How a themed clip is drawn: the theme, its place among the questions, and its fetched pictures."""

    theme: Theme
    number: int = 0
    total: int = 0
    background: Path | None = None
    """The clip's own image, else the theme's background image, fetched; None: the theme's gradient or colour."""
    logo: Path | None = None
    video: LoopVideo | None = None
    """The theme's background video, fetched, when the clip has no picture or colour of its own."""
    picture: Path | None = None
    """A question's picture (its own or the theme's `question_image`), fetched: drawn in its picture slot."""


def _to_yuv(stream: Stream, matrix: str, alpha: bool = False) -> Stream:
    return stream.filter("scale", out_color_matrix=matrix, out_range="tv").filter(
        "format", "yuva420p" if alpha else "yuv420p"
    )


def entrance_pictures(
    spec: ClipSpec, profile: Profile, fonts: Fonts, look: Look, first: int, backdrop: bool = True
) -> list[Image.Image]:
    """The whole pictures of the entrance's frames from `first` on (in RGB; without `backdrop`, in RGBA over
    transparency); none without motion or past it. Its parts stay: see `motion_pictures` for a whole clip."""
    return motion_pictures(spec, profile, fonts, look, first, 0, backdrop)[0]


@dataclass(frozen=True)
class Moving:
    """The pictures of a clip's motion, each the frame inside `box` (the rest of the frame is the still's)."""

    enter: list[Image.Image]
    """The entrance's pictures from the render's first frame on."""
    leaving: int
    """The first frame of the exit kept."""
    exits: list[Image.Image]
    """The exit's pictures from there to the clip's last frame."""
    box: Box


def motion_pictures(
    spec: ClipSpec, profile: Profile, fonts: Fonts, look: Look, first: int, frames: int, backdrop: bool = True
) -> tuple[list[Image.Image], int, list[Image.Image]]:
    """(the entrance's pictures from `first` on, the first frame of the exit kept, the exit's pictures from there
    to the clip's last frame) of a clip of `frames` frames, whole; 0 frames: an entrance alone, its parts staying."""
    moving = moving_pictures(spec, profile, fonts, look, first, frames, backdrop, whole=True)
    return moving.enter, moving.leaving, moving.exits


def moving_pictures(
    spec: ClipSpec,
    profile: Profile,
    fonts: Fonts,
    look: Look,
    first: int,
    frames: int,
    backdrop: bool = True,
    whole: bool = False,
) -> Moving:
    """The pictures of a clip's motion (see `motion_pictures`), drawn only inside the box the moving parts reach
    unless `whole`: the rest of each frame is the still picture, so neither drawn, written nor read per frame.
    The box follows from the parts alone, so a resumed render's frames are the same."""
    fps, motion = profile.fps, look.theme.motion
    full: Box = (0, 0, profile.width, profile.height)
    begins = starts(spec.kind, len(spec.answers)) if motion != "none" else {}
    ends = leaves(spec.kind, len(spec.answers), spec.correct) if motion != "none" and frames else {}
    entered, leaving = moving_frames(begins, ends, fps, frames or entrance_frames(list(begins.values()), fps))
    names = sorted(begins.keys() | ends.keys())
    kept = max(first, leaving)
    if first >= entered and not ends:
        return Moving([], kept, [], full)
    draw = partial(
        still_frame,
        spec,
        profile,
        fonts,
        look.theme,
        look.number,
        look.total,
        image=look.background,
        logo=look.logo,
        picture=look.picture,
    )
    rtl, _ = answer_letters(spec.question or "")
    parts = {
        name: Part(layer, begins.get(name, -math.inf), name == HIGHLIGHT, ends.get(name), rtl)
        for name in names
        if (layer := cropped(draw(backdrop=False, parts=frozenset({name})))) is not None
    }
    still = draw(backdrop=backdrop, parts=ALL_PARTS - set(names))
    box = full if whole else reach(list(parts.values()), motion, profile.width, profile.height)
    on = stage(still, box)
    enter = [picture(on, list(parts.values()), motion, fps, n, frames) for n in range(first, entered)]
    on = stage(still, box)  # the exit's parts may differ: its own settled pictures
    # A reveal's correct answer as the question showed it lies under the entering highlight only: its highlight
    # leaves alone, over nothing.
    parts.pop(answer_part(spec.correct) if spec.kind == "reveal" else "", None)
    exits = [picture(on, list(parts.values()), motion, fps, n, frames) for n in range(kept, frames if ends else 0)]
    return Moving(enter, kept, exits, box)


def _pictures_input(
    pictures: list[Image.Image],
    text_dir: Path,
    name: str,
    first: int,
    fps: int,
    images: dict[Path, Image.Image],
    kind: str = "png",
) -> Stream:
    """Pictures of frames `first`.. written as numbered files (`name`-NNNN.`kind`) and read back as one input:
    PNGs keep transparency; RGB pictures go as BMPs, written and read without compressing."""
    for n, image in enumerate(pictures, first):
        images[text_dir / f"{name}-{n:04d}.{kind}"] = image
    return ffmpeg.input(str(text_dir / f"{name}-%04d.{kind}"), framerate=fps, start_number=first)


def themed_video(
    spec: ClipSpec,
    profile: Profile,
    fonts: Fonts,
    look: Look,
    text_dir: Path,
    matrix: str,
    images: dict[Path, Image.Image],
    text_files: dict[Path, str],
    countdown_list: Callable[[list[float], list[str]], str],
    first_frame: int = 0,
    frames: int = 0,
) -> Stream:
    """The clip's video stream in YUV, every frame of it; files to write go into `images` and `text_files`.

    `first_frame` is the first frame the render keeps: a background video is decoded from where it is there.
    `frames`: the clip's length, where a theme's motion has its parts leave (0: they stay).
    """
    fps = profile.fps
    still = text_dir / "still.png"
    moving = look.video is not None and look.background is None
    picture = still_frame(
        spec, profile, fonts, look.theme, look.number, look.total, image=look.background, logo=look.logo,
        backdrop=not moving, picture=look.picture,
    )  # fmt: skip
    layer = cropped(picture) if moving else None
    if look.video is not None and moving:
        # Boxes, text and logo drawn once, overlaid on every frame of the loop, in RGB like the still picture.
        # Frames before `first_frame` are dropped by the clip's trim: they skip the overlay and the conversion
        # and come back as copies of the first one kept, so the frames after keep their numbers.
        video = loop_stream(look.video, profile, first_frame).trim(start_frame=first_frame).setpts("PTS-STARTPTS")
        pictures, leaving, exits = motion_pictures(spec, profile, fonts, look, first_frame, frames, backdrop=False)
        if layer is not None:
            images[still] = layer.image
            parts = ffmpeg.input(str(still), loop=1, framerate=fps).filter("format", "rgba").trim(end_frame=1)
            parts = parts.filter("loop", loop=-1, size=1, start=0).filter("setpts", f"N/{fps}/TB")
            # During an entrance or an exit its frames are overlaid instead; `t` counts from `first_frame` here.
            between = [f"gte(t,{(len(pictures) - 0.5) / fps:.6f})"] if pictures else []
            between += [f"lt(t,{(leaving - first_frame - 0.5) / fps:.6f})"] if exits else []
            shown = {"enable": "*".join(between)} if between else {}
            video = ffmpeg.overlay(video, parts, x=layer.x, y=layer.y, format="gbrp", **shown)
        if pictures:
            enter = _pictures_input(pictures, text_dir, "enter", first_frame, fps, images).filter("format", "rgba")
            video = ffmpeg.overlay(video, enter.filter("setpts", f"N/{fps}/TB"), format="gbrp", eof_action="pass")
        if exits:
            leave = _pictures_input(exits, text_dir, "exit", leaving, fps, images).filter("format", "rgba")
            leave = leave.filter("setpts", f"(N+{leaving - first_frame})/{fps}/TB")
            video = ffmpeg.overlay(video, leave, format="gbrp", eof_action="pass")
        video = _to_yuv(video, matrix)
        if first_frame:
            video = video.filter("tpad", start=first_frame, start_mode="clone")
    else:
        images[still] = picture
        video = ffmpeg.input(str(still), loop=1, framerate=fps).filter("format", "rgb24").trim(end_frame=1)
        video = _to_yuv(video, matrix).filter("loop", loop=-1, size=1, start=0).filter("setpts", f"N/{fps}/TB")
        moving_parts = moving_pictures(spec, profile, fonts, look, first_frame, frames)
        pictures, leaving, exits = moving_parts.enter, moving_parts.leaving, moving_parts.exits
        x, y = moving_parts.box[:2]
        if pictures:
            # Frames first_frame.. of the entrance, each over the repeated still at its own time; after the
            # last, the still shows through.
            # BMPs decode as BGR, converted to YUV in one step.
            enter = _pictures_input(pictures, text_dir, "enter", first_frame, fps, images, "bmp")
            enter = _to_yuv(enter, matrix).filter("setpts", f"(N+{first_frame})/{fps}/TB")
            video = ffmpeg.overlay(video, enter, x=x, y=y, eof_action="pass")
        if exits:
            # The exit's frames from where the render starts (or the exit does) to the clip's last, likewise.
            leave = _pictures_input(exits, text_dir, "exit", leaving, fps, images, "bmp")
            leave = _to_yuv(leave, matrix).filter("setpts", f"(N+{leaving})/{fps}/TB")
            video = ffmpeg.overlay(video, leave, x=x, y=y, eof_action="pass")
    if not renderer_for(spec.kind).countdown:
        return video
    rtl, _ = answer_letters(spec.question or "")
    reg = reading_header(regions(profile, look.theme), rtl)
    rings = countdown_rings(spec.duration, profile, fonts, look.theme)
    names = [f"ring-{i:04d}.png" for i in range(len(rings))]
    for name, (_, image) in zip(names, rings, strict=True):
        images[text_dir / name] = image
    listing = text_dir / "countdown.ffconcat"
    text_files[listing] = countdown_list([start for start, _ in rings], names)
    ring = _to_yuv(ffmpeg.input(str(listing), f="concat").filter("format", "rgba"), matrix, alpha=True)
    video = ffmpeg.overlay(video, ring, x=reg.ring.x, y=reg.ring.y, eof_action="repeat")
    # The bar empties from the end reading reaches last (the right; the left for right-to-left text): the accent
    # slides that way under a patch of the picture beside the track.
    bar = reg.bar
    r, g, b, _ = rgba(look.theme.accent)
    fill = ffmpeg.input(f"color=c=0x{r:02X}{g:02X}{b:02X}:s={bar.w}x{bar.h}:r={fps}", f="lavfi")
    fill = _to_yuv(fill.filter("format", "rgb24"), matrix)
    split = video.split()
    base, beside = split[0], split[1]
    slid = f"{bar.w}*t/{spec.duration:g}"
    video = ffmpeg.overlay(base, fill, x=f"{bar.x}+{slid}" if rtl else f"{bar.x}-{slid}", y=bar.y, shortest=1)
    if rtl:
        patch = beside.crop(bar.right, bar.y, profile.width - bar.right, bar.h)
        return ffmpeg.overlay(video, patch, x=bar.right, y=bar.y, shortest=1)
    patch = beside.crop(0, bar.y, bar.x, bar.h)
    return ffmpeg.overlay(video, patch, x=0, y=bar.y, shortest=1)
