"""The baselines: what a user without the service would run.

`render_plain` runs the service's own per-clip ffmpeg commands back to back and
joins them with the service's own concat command, so any difference against the
service is orchestration, storage and bookkeeping, never the media work.
`render_monolithic` merges the same per-clip graphs into one ffmpeg process that
writes the finished MP4 directly: one encoder start, no intermediates, no join.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from activities.media.graphs import ClipInputs, Fonts, build_clip_command, concat_command, concat_list, progress_args
from activities.tts import TtsEngine
from contracts.job import parse_job
from contracts.plan import VideoPlan, plan_video

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


async def run(args: Sequence[str]) -> None:
    """Run one ffmpeg command to completion; its progress output is not needed here."""
    await asyncio.to_thread(subprocess.run, list(args), check=True, stdout=subprocess.DEVNULL)


async def clip_commands(plan: VideoPlan, voice: str, speed: float, kit: Toolkit, work: Path) -> list[list[str]]:
    """Narration and text files for every clip, then each clip's command exactly as the activity builds it."""
    commands = []
    for clip in plan.clips:
        folder = work / f"clip-{clip.index:04d}"
        (folder / "text").mkdir(parents=True)
        narration = folder / "narration.wav"
        spoken = bool(clip.spec.narration) and await kit.tts.synthesize(
            clip.spec.narration or "", voice, speed, narration
        )
        command = build_clip_command(
            clip.spec,
            plan.profile,
            clip.frames,
            inputs=ClipInputs(narration=narration if spoken else None),
            fonts=kit.fonts,
            video_args=kit.video_args,
            text_dir=folder / "text",
            output=folder / "clip.mov",
        )
        for path, text in command.text_files.items():
            path.write_text(text, encoding="utf-8")
        commands.append(command.args)
    return commands


async def render_plain(job: dict[str, Any], kit: Toolkit, work: Path, output: Path) -> BaselineResult:
    """Every clip rendered back to back, then joined: the service's commands without the service."""
    started = time.monotonic()
    parsed = parse_job(job)
    commands = await clip_commands(plan_video(parsed), parsed.tts_voice, parsed.tts_speed, kit, work)
    rendering = time.monotonic()
    for args in commands:
        await run(args)
    joining = time.monotonic()
    list_file = work / "clips.ffconcat"
    list_file.write_text(concat_list([Path(args[-1]) for args in commands]), encoding="utf-8")
    await run(concat_command(list_file, output, None))
    done = time.monotonic()
    clips = [Path(args[-1]) for args in commands]
    return BaselineResult(done - started, rendering - started, done - rendering, done - joining, output, clips)


async def render_monolithic(job: dict[str, Any], kit: Toolkit, work: Path, output: Path) -> BaselineResult:
    """The same clip graphs merged into one ffmpeg process that writes the finished MP4."""
    started = time.monotonic()
    parsed = parse_job(job)
    commands = await clip_commands(plan_video(parsed), parsed.tts_voice, parsed.tts_speed, kit, work)
    rendering = time.monotonic()
    await run(merge_clip_commands(commands, output, kit.video_args))
    done = time.monotonic()
    return BaselineResult(done - started, rendering - started, done - rendering, 0.0, output, [])


def merge_clip_commands(commands: Sequence[Sequence[str]], output: Path, video_args: Sequence[str]) -> list[str]:
    """One ffmpeg command from many clip commands: inputs renumbered, graphs relabelled, a concat filter at the end.

    Only the shape ffmpeg-python compiles is understood: input options ending in
    `-i SRC`, one `-filter_complex`, then `-map [video] -map [audio]`.
    """
    head = ["ffmpeg", *progress_args()]
    inputs: list[str] = []
    graphs: list[str] = []
    joins = ""
    offset = 0
    for n, args in enumerate(commands):
        if list(args[: len(head)]) != head or "-filter_complex" not in args:
            raise ValueError(f"clip command {n} is not in the expected shape")
        at = args.index("-filter_complex")
        clip_inputs = list(args[len(head) : at])
        count = sum(1 for token in clip_inputs if token == "-i")
        maps = args[at + 2 : at + 6]
        if count == 0 or maps[0::2] != ["-map", "-map"]:
            raise ValueError(f"clip command {n} is not in the expected shape")

        def relabel(text: str, n: int = n, offset: int = offset) -> str:
            text = INPUT_REF.sub(lambda m: f"[{int(m.group(1)) + offset}{m.group(2) or ''}]", text)
            return LABEL_REF.sub(lambda m: f"[c{n}{m.group(1)}]", text)

        inputs += clip_inputs
        graphs.append(relabel(args[at + 1]))
        joins += relabel(maps[1]) + relabel(maps[3])
        offset += count
    graph = ";".join([*graphs, f"{joins}concat=n={len(commands)}:v=1:a=1[outv][outa]"])
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
        "-c:a",
        "aac",
        "-b:a",
        "160k",
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
        str(output),
    ]
