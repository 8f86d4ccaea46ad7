"""A video's whole sound from its clips' mixes: the recipe `build_audio` runs and the benchmarks replay.

Every clip's sound (as `clip_audio_command` makes it) is mixed end to end in groups of
`MIX_GROUP` clips per ffmpeg run, the groups joined by a timed concat list, and the
programme measured once and brought to its loudness target on its way to AAC.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from activities.media.graphs import (
    MIX_GROUP,
    ClipInputs,
    audio_encode_command,
    concat_list,
    programme_audio_command,
)
from activities.media.loudness import measure, normalize_filter
from activities.media.process import FfmpegError, run_ffmpeg
from contracts.job import LoudnessTarget, Profile

Stage = Callable[[str], None]


class GroupFailed(Exception):
    """A group's mix failed; `first` is its first clip, so the caller can look for the clip at fault."""

    def __init__(self, first: int, error: FfmpegError) -> None:
        super().__init__(str(error))
        self.first = first
        self.error = error


def _quiet(_: str) -> None:
    pass


async def mix_clips(
    profile: Profile, clips: list[tuple[int, ClipInputs]], tmp: Path, stage: Stage = _quiet
) -> tuple[Path, float]:
    """Every clip's sound, `(frames, inputs)` each, as PCM parts in `tmp`: the timed list that joins them,
    and the CPU seconds spent."""
    cpu, parts = 0.0, []
    for first in range(0, len(clips), MIX_GROUP):
        group = clips[first : first + MIX_GROUP]
        stage(f"mixing the sound of clips {first + 1}-{first + len(group)} of {len(clips)}")
        parts.append(tmp / f"clips-{first:05d}.wav")
        script = tmp / f"clips-{first:05d}.graph"
        command, graph = programme_audio_command(profile, group, parts[-1], script)
        script.write_text(graph, encoding="utf-8")
        try:
            cpu += await run_ffmpeg(command)
        except FfmpegError as err:
            raise GroupFailed(first, err) from err
    listing = tmp / "clips.ffconcat"
    frames = [sum(f for f, _ in clips[n : n + MIX_GROUP]) for n in range(0, len(clips), MIX_GROUP)]
    listing.write_text(concat_list(parts, frames, profile.fps), encoding="utf-8")
    return listing, cpu


async def encode_programme(listing: Path, target: LoudnessTarget, out: Path, stage: Stage = _quiet) -> float:
    """The joined parts measured (EBU R128), levelled to `target` with a true-peak limiter, encoded AAC into
    `out`; the CPU seconds of the encode."""
    stage("measuring the programme's loudness")
    measured = await measure(["-f", "concat", "-safe", "0", "-i", str(listing)])
    stage("levelling and encoding AAC")
    return await run_ffmpeg(audio_encode_command(listing, normalize_filter(measured, target), out))
