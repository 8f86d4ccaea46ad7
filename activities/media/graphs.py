"""Clip → ffmpeg command. Pure: builds the argument list and the text files to write.

Every clip is whole frames (`trim`) with audio exactly as long (`apad`,
`atrim=end_sample`), H.264 in a closed GOP and PCM audio in a .mov, so clips join
by stream copy and AAC is encoded once, at concat, with no drift. The video is
written as keyframe-aligned segments, each a durable checkpoint; the audio is
cheap and is rendered whole, then joined to the segments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ffmpeg

from activities.media.sources import VideoAsset, ken_burns_stream, video_asset_stream
from activities.media.text import TextLine, block
from contracts.job import AUDIO_RATE, ClipSpec, Profile
from contracts.plan import samples_for
from contracts.recipes import RECIPES

ANSWER_LETTERS = "ABCD"
CORRECT_FILL = "0x1E8449"
DIMMED = "0xA0A0A0"


@dataclass(frozen=True)
class Fonts:
    regular: Path
    bold: Path


@dataclass(frozen=True)
class ClipInputs:
    """Local files the activity fetched or made for this clip."""

    image: Path | None = None
    audio: Path | None = None
    narration: Path | None = None
    video: VideoAsset | None = None
    first_frame: int = 0
    """The first frame this render needs: a video asset may be decoded from just before it."""


@dataclass
class ClipCommands:
    video: list[str]
    audio: list[str]
    text_files: dict[Path, str] = field(default_factory=dict)


def progress_args() -> list[str]:
    # A progress block every 0.2 s: finished segments are noticed, published and
    # heartbeated promptly, and a drain stops soon after the segment in progress.
    return [
        "-hide_banner",
        "-loglevel",
        "error",
        "-nostdin",
        "-y",
        "-progress",
        "pipe:1",
        "-nostats",
        "-stats_period",
        "0.2",
    ]


def text_layers(spec: ClipSpec, profile: Profile, fonts: Fonts) -> tuple[list[TextLine], list[tuple[int, int]]]:
    """Text lines to draw, and (top, height) bands to highlight behind them."""
    w, h = profile.width, profile.height
    if spec.kind in ("question", "reveal"):
        lines, y = block(
            spec.question or "", font=fonts.bold, size=max(12, h // 14), top=h // 12, width=w, bold=True, max_lines=4
        )
        y += h // 24
        highlight: list[tuple[int, int]] = []
        size = max(10, h // 18)
        for i, answer in enumerate(spec.answers):
            correct = spec.kind == "reveal" and i == spec.correct
            colour = "white" if spec.kind == "question" or correct else DIMMED
            answer_lines, below = block(
                f"{ANSWER_LETTERS[i]}. {answer}",
                font=fonts.regular,
                size=size,
                top=y,
                width=w,
                colour=colour,
                bold=correct,
                max_lines=2,
            )
            if correct:
                highlight.append((y - size // 4, below - y))
            lines += answer_lines
            y = below + size // 3
        if spec.kind == "question":
            countdown = f"%{{eif:ceil({spec.duration:g}-t):d}}"
            lines.append(TextLine(countdown, int(h * 0.82), max(12, h // 9), "white", bold=True, expand=True))
        return lines, highlight
    if spec.kind == "card":
        size = max(12, h // 12)
        spacing = int(size * 1.25)
        total = sum(len(block(t, font=fonts.regular, size=size, top=0, width=w)[0]) for t in spec.lines)
        y = max(0, (h - total * spacing) // 2)
        lines = []
        for text in spec.lines:
            more, y = block(text, font=fonts.regular, size=size, top=y, width=w)
            lines += more
        return lines, []
    return [], []


def _video_source(spec: ClipSpec, profile: Profile, frames: int, inputs: ClipInputs) -> Any:
    size = f"{profile.width}x{profile.height}"
    if spec.kind == "video" and inputs.video is not None:
        return video_asset_stream(spec, profile, inputs.video, inputs.first_frame)
    if spec.kind == "image" and inputs.image is not None:
        return ken_burns_stream(spec, profile, inputs.image, frames)
    if spec.kind == "recipe" and spec.recipe:
        recipe = RECIPES[spec.recipe]
        params = "".join(f":{k}={int(v) if recipe.params[k].integer else repr(float(v))}" for k, v in spec.params)
        stream = ffmpeg.input(f"{recipe.source}=s={size}:r={profile.fps}{params}", f="lavfi")
    elif inputs.image is not None:
        stream = (
            ffmpeg.input(str(inputs.image), loop=1, framerate=profile.fps)
            .filter("scale", profile.width, profile.height, force_original_aspect_ratio="decrease")
            .filter("pad", profile.width, profile.height, "(ow-iw)/2", "(oh-ih)/2", color=spec.background)
            .filter("setsar", 1)
        )
    else:
        stream = ffmpeg.input(f"color=c=0x{spec.background.lstrip('#')}:s={size}:r={profile.fps}", f="lavfi")
    return stream


def _audio_source(profile: Profile, frames: int, inputs: ClipInputs) -> Any:
    sources = [ffmpeg.input(str(p)).audio for p in (inputs.audio, inputs.narration) if p is not None]
    if not sources:
        audio = ffmpeg.input(f"anullsrc=r={AUDIO_RATE}:cl=stereo", f="lavfi").audio
    elif len(sources) == 1:
        audio = sources[0]
    else:
        audio = ffmpeg.filter(sources, "amix", inputs=2, duration="longest", dropout_transition=0, normalize=0)
    return (
        audio.filter("aresample", AUDIO_RATE)
        .filter("aformat", sample_fmts="s16", channel_layouts="stereo")
        .filter("apad")
        .filter("atrim", end_sample=samples_for(frames, profile.fps))
        .filter("asetpts", "PTS-STARTPTS")
    )


@dataclass(frozen=True)
class Segments:
    """How a clip's video is cut into durable checkpoints."""

    directory: Path
    frames: int
    """Frames per segment: a whole number of GOPs, so every segment starts on a keyframe."""
    start: int = 0
    """First segment to render; earlier ones are already stored."""

    @property
    def list_file(self) -> Path:
        return self.directory / "segments.csv"

    def path(self, number: int) -> Path:
        return self.directory / f"{number:05d}.mov"


def build_clip_commands(
    spec: ClipSpec,
    profile: Profile,
    frames: int,
    *,
    inputs: ClipInputs,
    fonts: Fonts,
    video_args: list[str],
    text_dir: Path,
    segments: Segments,
    audio_out: Path,
) -> ClipCommands:
    """The clip's video as numbered segments from `segments.start` on, and its whole audio track.

    Trimming happens after every layer is drawn, so `t` in the countdown and the
    recipes is clip time and a resumed segment is the same picture as the original.
    """
    video = _video_source(spec, profile, frames, inputs)
    lines, highlights = text_layers(spec, profile, fonts)
    for top, height in highlights:
        video = video.drawbox(int(profile.width * 0.04), top, int(profile.width * 0.92), height, CORRECT_FILL, t="fill")
    text_files: dict[Path, str] = {}
    for n, line in enumerate(lines):
        path = text_dir / f"line-{n:03d}.txt"
        text_files[path] = line.text
        video = video.drawtext(
            textfile=str(path),
            expansion="normal" if line.expand else "none",
            fontfile=str(fonts.bold if line.bold else fonts.regular),
            fontsize=line.size,
            fontcolor=line.colour,
            x="(w-text_w)/2",
            y=line.y,
            shadowcolor="black@0.6",
            shadowx=2,
            shadowy=2,
        )
    if spec.kind == "question":
        bar_height = max(4, profile.height // 40)
        bar = ffmpeg.input(f"color=c=white:s={profile.width}x{bar_height}:r={profile.fps}", f="lavfi")
        video = ffmpeg.overlay(video, bar, x=f"-w*t/{spec.duration:g}", y=profile.height - bar_height, shortest=1)
    first = segments.start * segments.frames
    video = video.trim(start_frame=first, end_frame=frames).setpts("PTS-STARTPTS")
    segment_options = {
        "f": "segment",
        "segment_format": "mov",
        "segment_time": f"{segments.frames / profile.fps:.6f}",
        "segment_start_number": segments.start,
        "reset_timestamps": 1,
        # Without this the first segment keeps the encoder's B-frame delay while the
        # others start at zero, leaving a gap (a frozen frame) at the first join.
        "avoid_negative_ts": "disabled",
        "segment_list": str(segments.list_file),
        "segment_list_type": "csv",
        "map_metadata": -1,
    }
    video_cmd: list[str] = ffmpeg.output(video, str(segments.directory / "%05d.mov"), **segment_options).compile()
    audio = _audio_source(profile, frames, inputs)
    audio_cmd: list[str] = ffmpeg.output(audio, str(audio_out), f="wav", acodec="pcm_s16le").compile()
    return ClipCommands(
        video=[video_cmd[0], *progress_args(), *video_cmd[1:-1], *video_args, video_cmd[-1]],
        audio=[audio_cmd[0], *progress_args(), *audio_cmd[1:]],
        text_files=text_files,
    )


def join_clip_command(segment_list: Path, audio: Path, output: Path) -> list[str]:
    """Segments joined by stream copy, with the clip's exact-length PCM track beside them."""
    return [
        "ffmpeg", *progress_args(), "-f", "concat", "-safe", "0", "-i", str(segment_list), "-i", str(audio),
        "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "pcm_s16le", "-f", "mov", str(output),
    ]  # fmt: skip


def concat_list(paths: list[Path]) -> str:
    """A concat-demuxer list; single quotes in paths are escaped the ffconcat way."""
    return "ffconcat version 1.0\n" + "".join("file '" + str(p).replace("'", "'\\''") + "'\n" for p in paths)


def final_mp4_args(output: Path) -> list[str]:
    """How every finished video is written: AAC once, the index up front for streaming."""
    return ["-c:a", "aac", "-b:a", "160k", "-movflags", "+faststart", "-f", "mp4", str(output)]


def concat_command(list_file: Path, output: Path, video_args: list[str] | None) -> list[str]:
    """Join clips: video by stream copy (or re-encoded when `video_args` is given), AAC once."""
    return [
        "ffmpeg",
        *progress_args(),
        "-f",
        "concat",
        "-safe",
        "0",
        "-i",
        str(list_file),
        *(video_args or ["-c:v", "copy"]),
        "-af",
        "aresample=async=1:min_hard_comp=0.001:first_pts=0",
        *final_mp4_args(output),
    ]
