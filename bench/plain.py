"""The baselines: what a user without the service would run.

`render_plain` runs the service's own commands in a plain script: the narration
synthesized and levelled, every clip's video back to back while the video's sound
is mixed, levelled and encoded beside them (the recipe `build_audio` runs), then
the one mux; so any difference against the service is orchestration, storage and
bookkeeping, never the media work.
`render_monolithic` merges the same per-clip graphs into one ffmpeg process that
writes the finished MP4 directly: one encoder start, no intermediates, no join.
"""

from __future__ import annotations

import asyncio
import math
import re
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from activities.narration import level_command
from contracts.job import LOUDNESS_TARGETS, LoudnessTarget, parse_job
from contracts.plan import VideoPlan, plan_video
from engine.media.graphs import (
    ClipInputs,
    Fonts,
    Segments,
    build_clip_commands,
    concat_list,
    final_mp4_args,
    join_clip_command,
    mux_command,
    progress_args,
)
from engine.media.images import write_picture
from engine.media.loudness import measure, measure_file
from engine.media.programme import encode_programme, mix_clips
from engine.segments import segment_frames
from engine.tts import TtsEngine

SEGMENT_SECONDS = 2.0
"""The render workers' default checkpoint size."""
INPUT_REF = re.compile(r"\[(\d+)(:[av])?\]")
LABEL_REF = re.compile(r"\[(s\d+)\]")


@dataclass(frozen=True)
class Toolkit:
    """What the render worker would use: fonts, TTS engine and encoder arguments."""

    fonts: Fonts
    tts: TtsEngine
    video_args: list[str]


@dataclass(frozen=True)
class BaselineResult:
    seconds: float
    tts_seconds: float
    ffmpeg_seconds: float
    """Time inside ffmpeg: every clip render and the join, or the one monolithic render."""
    join_seconds: float
    """The join alone (0 for the monolithic render, which has none)."""
    output: Path
    clips: list[Path]
    """The rendered clips (none for the monolithic render)."""
    track: Path | None = None
    """The video's finished sound, muxed beside the clips (none for the monolithic render)."""


async def run(args: Sequence[str]) -> None:
    """Run one ffmpeg command to completion; its progress output is not needed here."""
    await asyncio.to_thread(subprocess.run, list(args), check=True, stdout=subprocess.DEVNULL)


@dataclass
class ClipRun:
    """One clip as the service runs it: its segmented video and their join (video only), and its sound's
    description for the programme mix; `audio` is its own PCM command, for the monolithic render."""

    frames: int
    sound: ClipInputs
    audio: list[str]
    video: list[str]
    join: list[str]
    segment_list: Path
    segments: list[Path]
    output: Path


async def clip_commands(plan: VideoPlan, voice: str, speed: float, kit: Toolkit, work: Path) -> list[ClipRun]:
    """Narration and text files for every clip, then each clip's commands exactly as the activities build them."""
    runs = []
    for clip in plan.clips:
        folder = work / f"clip-{clip.index:04d}"
        (folder / "text").mkdir(parents=True)
        (folder / "segments").mkdir()
        narration = folder / "narration.wav"
        spoken = bool(clip.spec.narration) and await kit.tts.synthesize(
            clip.spec.narration or "", voice, speed, narration
        )
        levelled = folder / "narration-levelled.wav"
        if spoken:  # as the narrate activity stores every narration
            await run(level_command(narration, levelled, await measure(measure_file(narration))))
        segments = Segments(folder / "segments", frames=segment_frames(plan.profile, SEGMENT_SECONDS))
        commands = build_clip_commands(
            clip.spec,
            plan.profile,
            clip.frames,
            inputs=ClipInputs(narration=narration if spoken else None),
            fonts=kit.fonts,
            video_args=kit.video_args,
            text_dir=folder / "text",
            segments=segments,
            audio_out=folder / "audio.wav",
        )
        for path, text in commands.text_files.items():
            path.write_text(text, encoding="utf-8")
        for path, image in commands.images.items():
            write_picture(path, image)
        count = math.ceil(clip.frames / segments.frames)
        segment_list = folder / "segments.ffconcat"
        output = folder / "clip.mov"
        runs.append(
            ClipRun(
                frames=clip.frames,
                sound=ClipInputs(narration=levelled if spoken else None),
                audio=commands.audio,
                video=commands.video,
                join=join_clip_command(segment_list, None, output),
                segment_list=segment_list,
                segments=[segments.path(n) for n in range(count)],
                output=output,
            )
        )
    return runs


async def render_plain(job: dict[str, Any], kit: Toolkit, work: Path, output: Path) -> BaselineResult:
    """The service's commands without the service: clips back to back beside the sound, then one mux."""
    started = time.monotonic()
    parsed = parse_job(job)
    plan = plan_video(parsed)
    runs = await clip_commands(plan, parsed.tts_voice, parsed.tts_speed, kit, work)
    rendering = time.monotonic()
    sound = asyncio.ensure_future(programme(plan, runs, LOUDNESS_TARGETS[parsed.loudness], work))
    for clip in runs:
        await run(clip.video)
        if len(clip.segments) == 1:  # a one-segment clip is stored as it is, as the render activity does
            clip.output = clip.segments[0]
            continue
        clip.segment_list.write_text(concat_list(clip.segments), encoding="utf-8")
        await run(clip.join)
    track = await sound
    joining = time.monotonic()
    list_file = work / "clips.ffconcat"
    list_file.write_text(
        concat_list([clip.output for clip in runs], [clip.frames for clip in runs], plan.profile.fps), encoding="utf-8"
    )
    await run(mux_command(list_file, track, output, None))
    done = time.monotonic()
    clips = [clip.output for clip in runs]
    return BaselineResult(done - started, rendering - started, done - rendering, done - joining, output, clips, track)


async def programme(plan: VideoPlan, runs: list[ClipRun], target: LoudnessTarget, work: Path) -> Path:
    """The video's sound as `build_audio` makes it, from every clip's levelled narration."""
    folder = work / "sound"
    folder.mkdir()
    listing, _ = await mix_clips(plan.profile, [(clip.frames, clip.sound) for clip in runs], folder)
    track = folder / "audio.m4a"
    await encode_programme(listing, target, track)
    return track


async def render_monolithic(job: dict[str, Any], kit: Toolkit, work: Path, output: Path) -> BaselineResult:
    """The same clip graphs merged into one ffmpeg process that writes the finished MP4."""
    started = time.monotonic()
    parsed = parse_job(job)
    runs = await clip_commands(plan_video(parsed), parsed.tts_voice, parsed.tts_speed, kit, work)
    rendering = time.monotonic()
    await run(merge_clip_commands([(clip.video, clip.audio) for clip in runs], output, kit.video_args))
    done = time.monotonic()
    return BaselineResult(done - started, rendering - started, done - rendering, 0.0, output, [])


def merge_clip_commands(
    clips: Sequence[tuple[Sequence[str], Sequence[str]]], output: Path, video_args: Sequence[str]
) -> list[str]:
    """One ffmpeg command from each clip's video and audio commands: inputs renumbered, graphs
    relabelled, a concat filter at the end.

    Only the shape ffmpeg-python compiles is understood: input options ending in
    `-i SRC`, one `-filter_complex`, then `-map [label]`.
    """
    head = ["ffmpeg", *progress_args()]
    inputs: list[str] = []
    graphs: list[str] = []
    joins = ""
    offset = 0
    for n, pair in enumerate(clips):
        for part, args in zip("va", pair, strict=True):
            if list(args[: len(head)]) != head or "-filter_complex" not in args:
                raise ValueError(f"clip {n} {part} command is not in the expected shape")
            at = args.index("-filter_complex")
            part_inputs = list(args[len(head) : at])
            count = part_inputs.count("-i")
            if count == 0 or args[at + 2] != "-map":
                raise ValueError(f"clip {n} {part} command is not in the expected shape")

            def relabel(text: str, prefix: str = f"c{n}{part}", offset: int = offset) -> str:
                text = INPUT_REF.sub(lambda m: f"[{int(m.group(1)) + offset}{m.group(2) or ''}]", text)
                return LABEL_REF.sub(lambda m: f"[{prefix}{m.group(1)}]", text)

            inputs += part_inputs
            graphs.append(relabel(args[at + 1]))
            joins += relabel(args[at + 3])
            offset += count
    graph = ";".join([*graphs, f"{joins}concat=n={len(clips)}:v=1:a=1[outv][outa]"])
    return [
        *head,
        *inputs,
        "-filter_complex",
        graph,
        "-map",
        "[outv]",
        "-map",
        "[outa]",
        *video_args,
        *final_mp4_args(output),
    ]
