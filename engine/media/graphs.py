"""Clip → ffmpeg command. Pure: builds the argument list and the text files to write.

Every clip is whole frames (`trim`) with audio exactly as long (`apad`,
`atrim=end_sample`), H.264 in a closed GOP, so clips join by stream copy and AAC
is encoded once with no drift: either the video's whole sound is built once from
every clip's PCM in one run (`programme_audio_command`, `audio_encode_command`) and muxed beside
video-only clips (`mux_command`), or, on the older path, each clip carries its PCM
in a .mov and concat encodes. The video is written as keyframe-aligned segments,
each a durable checkpoint.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from contracts.job import AUDIO_RATE, ClipSpec, Profile
from contracts.plan import samples_for
from engine.kinds import ClipInputs, renderer_for
from engine.media import ffgraph as ffmpeg
from engine.media.effects import with_effects
from engine.media.ffgraph import Stream, Value
from engine.media.layers import (
    Fonts,
    clip_texts,
    countdown_frames,
    countdown_top,
    cropped,
    draw_blocks,
    layout_clip,
    shadow_offset,
)
from engine.media.themed_graph import Look, themed_video
from engine.media.transitions import with_transition

CORRECT_FILL = "0x1E8449"
MUSIC_BED_LUFS = -24.0
"""Music is levelled to this, a bed 6 LU under levelled speech before any ducking."""
DUCKING = {"threshold": 0.02, "ratio": 10, "attack": 15, "release": 350, "makeup": 1}
"""Music under narration drops by about 13 dB while a voice speaks, and comes back in a third of a second."""
FADE_OUT_SECONDS = 0.04
"""Every clip's audio ends with this fade: long enough to never click, short enough to cut no word."""

__all__ = ["ClipCommands", "ClipInputs", "Fonts", "Segments", "build_clip_commands"]


@dataclass
class ClipCommands:
    video: list[str]
    audio: list[str]
    text_files: dict[Path, str] = field(default_factory=dict)
    images: dict[Path, Image.Image] = field(default_factory=dict)
    """Text drawn as transparent PNGs, written before ffmpeg runs; user text reaches ffmpeg only this way."""


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


def countdown_list(times: list[float], names: list[str]) -> str:
    """An ffconcat list showing each countdown image from its start time until the next one's."""
    ends = [*times[1:], None]
    entries = "".join(
        f"file '{name}'\n" + (f"duration {end - start:.6f}\n" if end is not None else "")
        for name, start, end in zip(names, times, ends, strict=True)
    )
    return "ffconcat version 1.0\n" + entries


def _text_overlays(
    video: Stream, spec: ClipSpec, profile: Profile, fonts: Fonts, text_dir: Path
) -> tuple[Stream, ClipCommands]:
    """The clip's text drawn once into a PNG (shaped, with font fallback) and overlaid, with the highlight."""
    files = ClipCommands([], [])
    w, h = profile.width, profile.height
    layout = layout_clip(spec, profile, fonts) if any(clip_texts(spec)) else None
    if layout is not None:
        for top, height in layout.highlights:
            video = video.drawbox(int(w * 0.04), top, int(w * 0.92), height, CORRECT_FILL, t="fill")
        layer = cropped(draw_blocks(layout.blocks, w, h, shadow_offset(h)))
        if layer is not None:
            path = text_dir / "text.png"
            files.images[path] = layer.image
            video = ffmpeg.overlay(video, ffmpeg.input(str(path), loop=1, framerate=profile.fps), x=layer.x,
                                   y=layer.y, shortest=1, format="rgb")  # fmt: skip
    return video, files


def _countdown(
    video: Stream, spec: ClipSpec, profile: Profile, fonts: Fonts, text_dir: Path, files: ClipCommands
) -> Stream:
    """A question's countdown: one drawn number per second, from an ffconcat list of PNGs."""
    if renderer_for(spec.kind).countdown:
        h = profile.height
        frames = countdown_frames(spec.duration, profile, fonts)
        names = [f"count-{i:04d}.png" for i in range(len(frames))]
        for name, (_, image) in zip(names, frames, strict=True):
            files.images[text_dir / name] = image
        listing = text_dir / "countdown.ffconcat"
        files.text_files[listing] = countdown_list([start for start, _ in frames], names)
        countdown = ffmpeg.input(str(listing), f="concat")
        video = ffmpeg.overlay(video, countdown, x=0, y=countdown_top(h), eof_action="repeat")
    return video


def colour_matrix(profile: Profile) -> str:
    """BT.709 for HD and above, BT.601 (SMPTE 170M) below, as players assume from the frame size."""
    return "bt709" if profile.height >= 720 else "bt601"


def _video_source(spec: ClipSpec, profile: Profile, frames: int, inputs: ClipInputs) -> Stream:
    """The clip's picture in rgb24, as its kind's renderer (`engine.kinds`) draws it."""
    return renderer_for(spec.kind).video(spec, profile, frames, inputs)


MIX_GROUP = 32
"""Clips mixed per ffmpeg run: ffmpeg schedules a graph in time that grows with its size, so the CPU per
clip of one run rises past this (on a 2-core EPYC, clips of music ducked under speech: about 23 ms each
in runs of 20, 27 ms at 50, 43 ms at 100, 80 ms at 400), while one run per clip costs over 50 ms."""

AudioInput = Callable[..., Stream]
"""`(name, **input options)` → an audio stream of that input: how a sound graph opens its files."""


def _own_input(name: str, **options: Value) -> Stream:
    return ffmpeg.input(name, **options).audio


class _SharedInputs:
    """Each input opened once however many clips use it, split into one branch per use.

    Built in two passes: the first (`counting`) learns how often each input is used, the
    second hands out the branches of one `asplit` per input, in the same order.
    """

    def __init__(self) -> None:
        self.uses: Counter[tuple[str, tuple[tuple[str, Value], ...]]] = Counter()
        self.branches: dict[tuple[str, tuple[tuple[str, Value], ...]], list[Stream]] = {}
        self.counting = True

    def __call__(self, name: str, **options: Value) -> Stream:
        key = (name, tuple(sorted(options.items())))
        if self.counting:
            self.uses[key] += 1
            return _own_input(name, **options)
        if key not in self.branches:
            stream = _own_input(name, **options)
            n = self.uses[key]
            split = stream.filter_multi_output("asplit", n) if n > 1 else None
            self.branches[key] = [split[i] for i in range(n)] if split is not None else [stream]
        return self.branches[key].pop(0)


def _audio_source(
    profile: Profile, frames: int, inputs: ClipInputs, opened: AudioInput = _own_input, effects: bool = True
) -> Stream:
    """The clip's sound: music levelled to a bed and ducked under the narration, which plays on top, then
    the theme's ticks or sting (unless `effects` is False: the programme then ducks them with its bed)."""
    music = None
    if inputs.audio is not None:
        seek = {"ss": f"{inputs.audio_start:.6f}"} if inputs.audio_start > 0 else {}
        music = (
            opened(str(inputs.audio), **seek)
            .filter("volume", f"{inputs.music_gain_db:.2f}dB")
            .filter("aresample", AUDIO_RATE)
            .filter("aformat", sample_fmts="s16", channel_layouts="stereo")
        )
    voice = opened(str(inputs.narration)) if inputs.narration is not None else None
    if music is None or voice is None:
        audio = music or voice or opened(f"anullsrc=r={AUDIO_RATE}:cl=stereo", f="lavfi")
    else:
        voice = voice.filter("aresample", AUDIO_RATE).filter("aformat", sample_fmts="s16", channel_layouts="stereo")
        split = voice.filter_multi_output("asplit")
        speech, key = split[0], split[1]
        ducked = ffmpeg.filter([music, key.filter("apad")], "sidechaincompress", **DUCKING)
        audio = ffmpeg.filter([ducked, speech], "amix", inputs=2, duration="longest", dropout_transition=0, normalize=0)
    return _exact(with_effects(audio, inputs.effects if effects else (), opened), profile, frames)


def _exact(audio: Stream, profile: Profile, frames: int) -> Stream:
    """`audio` as exactly the clip's samples, ending in a short fade."""
    return (
        audio.filter("aresample", AUDIO_RATE)
        .filter("aformat", sample_fmts="s16", channel_layouts="stereo")
        .filter("apad")
        .filter("atrim", end_sample=samples_for(frames, profile.fps))
        .filter("asetpts", "PTS-STARTPTS")
        # Whatever still sounds at the clip's end fades out instead of stopping dead (a click).
        .filter("afade", t="out", st=f"{max(0.0, frames / profile.fps - FADE_OUT_SECONDS):.6f}", d=FADE_OUT_SECONDS)
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


def _plain_video(
    spec: ClipSpec, profile: Profile, frames: int, inputs: ClipInputs, fonts: Fonts, text_dir: Path
) -> tuple[Stream, ClipCommands]:
    """The look of plans made before themes: text on the clip's colour or image, the countdown, a white bar."""
    video = _video_source(spec, profile, frames, inputs)
    renderer = renderer_for(spec.kind)
    still = renderer.still
    if still:
        # Background, highlight and text make one picture: drawn and converted once, then repeated.
        video = video.trim(end_frame=1)
    video, text = _text_overlays(video, spec, profile, fonts, text_dir)
    video = video.filter("scale", out_color_matrix=colour_matrix(profile), out_range="tv").filter("format", "yuv420p")
    if still:
        video = video.filter("loop", loop=-1, size=1, start=0).filter("setpts", f"N/{profile.fps}/TB")
    # White on black from here on: the same in either matrix, so these are overlaid in YUV.
    video = _countdown(video, spec, profile, fonts, text_dir, text)
    if renderer.countdown:
        bar_height = max(4, profile.height // 40)
        bar = ffmpeg.input(f"color=c=white:s={profile.width}x{bar_height}:r={profile.fps}", f="lavfi")
        video = ffmpeg.overlay(video, bar, x=f"-w*t/{spec.duration:g}", y=profile.height - bar_height, shortest=1)
    return video, text


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
    audio_out: Path | None,
    look: Look | None = None,
) -> ClipCommands:
    """The clip's video as numbered segments from `segments.start` on, and its whole audio track.

    Trimming happens after every layer is drawn, so `t` in the countdown and the
    recipes is clip time and a resumed segment is the same picture as the original.
    """
    if look is not None and renderer_for(spec.kind).themed:
        text = ClipCommands([], [])
        video = themed_video(
            spec, profile, fonts, look, text_dir, colour_matrix(profile), text.images, text.text_files, countdown_list,
            first_frame=inputs.first_frame, frames=frames,
        )  # fmt: skip
        video = with_transition(video, look.theme, profile, frames, colour_matrix(profile), text_dir, text.images)
    else:
        video, text = _plain_video(spec, profile, frames, inputs, fonts, text_dir)
    first = segments.start * segments.frames
    video = video.trim(start_frame=first, end_frame=frames).setpts("PTS-STARTPTS")
    segment_options: dict[str, Value] = {
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
    # None: the video's sound is built once, beside the clips.
    audio_cmd = clip_audio_command(profile, frames, inputs, audio_out) if audio_out is not None else []
    return ClipCommands(
        video=[video_cmd[0], *progress_args(), *video_cmd[1:-1], *video_args, video_cmd[-1]],
        audio=audio_cmd,
        text_files=text.text_files,
        images=text.images,
    )


def join_clip_command(segment_list: Path, audio: Path | None, output: Path) -> list[str]:
    """Segments joined by stream copy, with the clip's exact-length PCM track beside them (if it has one)."""
    if audio is None:
        return [
            "ffmpeg", *progress_args(), "-f", "concat", "-safe", "0", "-i", str(segment_list),
            "-map", "0:v:0", "-c:v", "copy", "-f", "mov", str(output),
        ]  # fmt: skip
    return [
        "ffmpeg", *progress_args(), "-f", "concat", "-safe", "0", "-i", str(segment_list), "-i", str(audio),
        "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "pcm_s16le", "-f", "mov", str(output),
    ]  # fmt: skip


def _quoted(path: Path) -> str:
    return "'" + str(path).replace("'", "'\\''") + "'"


def concat_list(paths: list[Path], frames: list[int] | None = None, fps: int = 0) -> str:
    """A concat-demuxer list; single quotes in paths are escaped the ffconcat way.

    With `frames`, each entry gets a `duration` line so that every part lasts exactly
    its frames: containers round their own durations up to whole milliseconds, and the
    demuxer would otherwise place each part after that rounded end (a late finish,
    uneven frames and silence at every join). Durations are microseconds, the
    demuxer's unit, taken as differences of the rounded running total, so no
    rounding error accumulates at any number of parts.
    """
    if frames is not None and (len(frames) != len(paths) or fps <= 0):
        raise ValueError("concat_list: one frame count per path and a frame rate are needed")
    lines = ["ffconcat version 1.0\n"]
    total = 0
    for n, path in enumerate(paths):
        lines.append(f"file {_quoted(path)}\n")
        if frames is not None:
            start = round(total * 1_000_000 / fps)
            total += frames[n]
            lines.append(f"duration {round(total * 1_000_000 / fps) - start}us\n")
    return "".join(lines)


def final_mp4_args(output: Path) -> list[str]:
    """How every finished video is written: AAC once, the index up front for streaming."""
    return ["-c:a", "aac", "-b:a", "160k", "-movflags", "+faststart", "-f", "mp4", str(output)]


def concat_command(
    list_file: Path, output: Path, video_args: list[str] | None, audio_filter: str | None = None
) -> list[str]:
    """Join clips: video by stream copy (or re-encoded when `video_args` is given), AAC once.

    The list's `duration` lines place every clip exactly, so audio needs no resampling
    to close gaps: there are none. `audio_filter` is the loudness stage, when there is one.
    """
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
        *(["-af", audio_filter] if audio_filter else []),
        *final_mp4_args(output),
    ]


def clip_audio_command(profile: Profile, frames: int, inputs: ClipInputs, output: Path) -> list[str]:
    """One clip's sound as exact-length PCM: music levelled and ducked under narration, ending in a fade."""
    compiled: list[str] = ffmpeg.output(
        _audio_source(profile, frames, inputs), str(output), f="wav", acodec="pcm_s16le"
    ).compile()
    return [compiled[0], *progress_args(), *compiled[1:]]


def _effects_source(profile: Profile, frames: int, inputs: ClipInputs, opened: AudioInput) -> Stream:
    """The clip's ticks or sting alone (silence when it has none), exactly its samples long."""
    silence = opened(f"anullsrc=r={AUDIO_RATE}:cl=stereo", f="lavfi")
    return _exact(with_effects(silence, inputs.effects, opened), profile, frames)


def programme_audio_command(
    profile: Profile,
    clips: list[tuple[int, ClipInputs]],
    output: Path,
    script: Path,
    effects_output: Path | None = None,
) -> tuple[list[str], str]:
    """Several clips' sound (as `clip_audio_command` makes each, from `(frames, inputs)`) end to end, in one run;
    with `effects_output`, the clips' ticks and stings go there instead, for the programme to duck with its bed.

    One process for many clips instead of one per clip. Each clip's part is exactly its
    frames' samples, so the join is sample-exact; a file several clips use is opened once
    and split, and the graph goes in `script` (returned as text, to be written there), so
    neither the command line nor the input count grows with the clips. ffmpeg's cost per
    clip grows with the graph's size, so long programmes are mixed in groups (`MIX_GROUP`).
    """
    if not clips:
        raise ValueError("programme_audio_command: no clips")
    shared = _SharedInputs()
    apart = effects_output is not None

    def joined(source: Callable[[int, ClipInputs], Stream]) -> Stream:
        parts = [source(frames, inputs) for frames, inputs in clips]
        return ffmpeg.concat(*parts, v=0, a=1) if len(parts) > 1 else parts[0]

    def mixes(frames: int, inputs: ClipInputs) -> Stream:
        return _audio_source(profile, frames, inputs, shared, effects=not apart)

    def effects(frames: int, inputs: ClipInputs) -> Stream:
        return _effects_source(profile, frames, inputs, shared)

    for counting in (True, False):
        shared.counting = counting
        outputs = [ffmpeg.output(joined(mixes), str(output), f="wav", acodec="pcm_s16le")]
        if effects_output is not None:
            outputs.append(ffmpeg.output(joined(effects), str(effects_output), f="wav", acodec="pcm_s16le"))
    compiled: list[str] = (ffmpeg.merge_outputs(*outputs) if len(outputs) > 1 else outputs[0]).compile()
    at = compiled.index("-filter_complex")
    command = [compiled[0], *progress_args(), *compiled[1:at], "-filter_complex_script", str(script)]
    return [*command, *compiled[at + 2 :]], compiled[at + 1]


def audio_encode_command(source: list[str], audio_filter: str | None, output: Path) -> list[str]:
    """The programme's PCM (ffmpeg inputs: a timed concat list of parts, or one file) through the loudness
    stage (when given) to AAC."""
    return [
        "ffmpeg", *progress_args(), *source, "-map", "0:a:0",
        *(["-af", audio_filter] if audio_filter else []), *final_mp4_args(output),
    ]  # fmt: skip


def mux_command(list_file: Path, audio: Path, output: Path, video_args: list[str] | None) -> list[str]:
    """Join the clips' video (stream copy unless `video_args`) and lay the finished AAC track beside it."""
    return [
        "ffmpeg", *progress_args(), "-f", "concat", "-safe", "0", "-i", str(list_file), "-i", str(audio),
        "-map", "0:v:0", "-map", "1:a:0", *(video_args or ["-c:v", "copy"]), "-c:a", "copy",
        "-movflags", "+faststart", "-f", "mp4", str(output),
    ]  # fmt: skip
