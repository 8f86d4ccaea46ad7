"""Media clips' pictures and sound: a video asset fitted to the profile, an image with a slow zoom and pan.

Every expression here runs on clip time (frame 0 is the clip's first frame) and the
clip's trim to its segments happens after, so a resumed segment is the same picture
as the original wherever the render starts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from contracts.job import AUDIO_RATE, ClipSpec, Profile
from engine.media import ffgraph as ffmpeg
from engine.media.ffgraph import Stream, Value

DUCK_DB = -12.0
"""How far a ducked asset's sound sits under the narration."""
SEEK_MARGIN_S = 1.0
"""A resumed video asset is decoded from this long before its first frame is needed, so the
frame-rate conversion has seen the frames around it exactly as an uninterrupted render did."""
SEEKABLE_FORMATS = ("mov", "mp4", "matroska", "webm")
"""Containers with an index: ffmpeg lands on the keyframe before the seek point, never after it."""
KEN_BURNS_PIXELS = 8_300_000
"""The zoom window is cut from the image at 2x to 4x the frame size, the most that stays under about 8 Mpx
(2x from 1080p up): its position moves in fractions of an output pixel, so a slow pan glides instead of stepping.
At 1080p, 2x halves plain zoompan's jitter for twice its CPU; 4x would cost four times as much again."""
PAN_SIGNS = {"center": (0, 0), "left": (1, 0), "right": (-1, 0), "up": (0, 1), "down": (0, -1)}
"""Which way the zoom window's centre travels: +1 from the right (or bottom) toward the left (or top)."""


@dataclass(frozen=True)
class VideoAsset:
    """A fetched video asset and what the render needs to know about it."""

    path: Path
    format_name: str = ""
    duration_s: float = 0.0
    has_audio: bool = False
    square_pixels: bool = True
    """False for anamorphic video (DVD, some broadcast): widened to its display shape before fitting."""

    @property
    def seekable(self) -> bool:
        return any(name in SEEKABLE_FORMATS for name in self.format_name.split(","))


def seek_point(spec: ClipSpec, asset: VideoAsset, first_frame: int, fps: int) -> float:
    """Where decoding may start for a render from `first_frame`; 0 decodes from the asset's start."""
    point = spec.trim_in + first_frame / fps - SEEK_MARGIN_S
    return round(point, 3) if asset.seekable and point > SEEK_MARGIN_S else 0.0


def video_asset_stream(spec: ClipSpec, profile: Profile, asset: VideoAsset, first_frame: int) -> Stream:
    """The asset from `in` on at the profile's rate and size; frames past its end repeat the last one.

    Timestamps are the asset's own (`copyts`), whether decoding starts at 0 or at a seek
    point, so the same source frame lands on the same clip frame either way.
    """
    seek = seek_point(spec, asset, first_frame, profile.fps)
    options: dict[str, Value] = {"copyts": None, "start_at_zero": None}
    if seek:
        options["ss"] = f"{seek:.3f}"
    w, h = profile.width, profile.height
    stream = (
        ffmpeg.input(str(asset.path), **options)
        .video.filter("setpts", f"PTS-{spec.trim_in:.6f}/TB")
        .filter("fps", fps=profile.fps, start_time=0)
        .filter("tpad", stop=-1, stop_mode="clone")
        # Fitted in RGB, like every other clip's picture, so the bars are exactly `background` once the
        # clip is converted to YUV with the matrix it is tagged with; the source's own matrix is read from its tags.
        .filter("format", "gbrp")
    )
    if not asset.square_pixels:
        # `scale` fits by stored pixels, not by display shape: make the pixels square first.
        stream = stream.filter("scale", "trunc(iw*sar/2)*2", "ih").filter("setsar", 1)
    if spec.fit == "crop":
        stream = stream.filter("scale", w, h, force_original_aspect_ratio="increase").filter("crop", w, h)
    else:
        stream = stream.filter("scale", w, h, force_original_aspect_ratio="decrease", force_divisible_by=2).filter(
            "pad", w, h, "(ow-iw)/2", "(oh-ih)/2", color=spec.background
        )
    return stream.filter("setsar", 1)


def oversample(profile: Profile) -> int:
    return max(2, min(4, math.isqrt(KEN_BURNS_PIXELS // (profile.width * profile.height))))


def zoompan_options(spec: ClipSpec, profile: Profile, frames: int) -> dict[str, Value]:
    """`zoompan`'s zoom and window position as expressions of the output frame number `on` alone.

    The window's centre moves in a straight line from as far to one side as the first zoom
    allows to as far to the other as the last allows: inside the image at every zoom between,
    and the picture drifts one way only, never back.
    """
    start, end = spec.zoom or (1.0, 1.0)
    p = f"on/{max(1, frames - 1)}"
    room_start, room_end = 0.5 - 0.5 / start, 0.5 - 0.5 / end
    drift = f"({room_start:.9f}-{room_start + room_end:.9f}*{p})"
    sx, sy = PAN_SIGNS[spec.pan]
    return {
        "z": f"{start:.9f}+({end - start:.9f})*{p}",
        "x": f"iw*(0.5+{sx}*{drift})-iw/zoom/2",
        "y": f"ih*(0.5+{sy}*{drift})-ih/zoom/2",
        "d": frames,
        "s": f"{profile.width}x{profile.height}",
        "fps": profile.fps,
    }


def ken_burns_stream(spec: ClipSpec, profile: Profile, image: Path, frames: int) -> Stream:
    """The image decoded once, cut to the frame's shape, then zoomed and panned frame by frame.

    `zoompan` turns the one decoded frame into `frames` frames; its window is cut from
    an oversampled copy in planar RGB, where positions are whole pixels without chroma rounding.
    """
    w, h, k = profile.width, profile.height, oversample(profile)
    return (
        ffmpeg.input(str(image))
        .video.filter("scale", w * k, h * k, force_original_aspect_ratio="increase", flags="lanczos")
        .filter("crop", w * k, h * k)
        .filter("format", "gbrp")
        .filter("zoompan", **zoompan_options(spec, profile, frames))
        .filter("setsar", 1)
    )


def asset_audio_command(spec: ClipSpec, asset: VideoAsset, output: Path, *, narrated: bool) -> list[str] | None:
    """The asset's sound from `in` to `out` as a 48 kHz stereo WAV, ducked under narration; None for no sound."""
    if spec.audio_mode == "drop" or not asset.has_audio:
        return None
    gain = DUCK_DB if spec.audio_mode == "duck" and narrated else 0.0
    audio = (
        ffmpeg.input(str(asset.path), copyts=None, start_at_zero=None)
        .audio.filter("atrim", start=f"{spec.trim_in:.6f}", end=f"{spec.trim_in + spec.duration:.6f}")
        .filter("asetpts", f"PTS-{spec.trim_in:.6f}/TB")
        .filter("aresample", AUDIO_RATE, first_pts=0)
        .filter("volume", f"{gain:g}dB")
    )
    command: list[str] = ffmpeg.output(audio, str(output), f="wav", acodec="pcm_s16le", ac=2).compile()
    return command


def plain_background(spec: ClipSpec, profile: Profile, image: Path | None) -> Stream:
    """A card's (and a question's) picture without a theme: its image fitted to the frame, bars in its
    background colour, else the colour alone; in rgb24."""
    size = f"{profile.width}x{profile.height}"
    if image is not None:
        stream = (
            ffmpeg.input(str(image), loop=1, framerate=profile.fps)
            .filter("format", "rgb24")  # so the padding colour is exact too
            .filter("scale", profile.width, profile.height, force_original_aspect_ratio="decrease")
            .filter("pad", profile.width, profile.height, "(ow-iw)/2", "(oh-ih)/2", color=spec.background)
            .filter("setsar", 1)
        )
    else:
        stream = ffmpeg.input(f"color=c=0x{spec.background.lstrip('#')}:s={size}:r={profile.fps}", f="lavfi")
    # Drawn in RGB and converted to YUV once, with the matrix the output is tagged with.
    return stream.filter("format", "rgb24")
