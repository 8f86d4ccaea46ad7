"""A video's whole sound from its clips' mixes: the recipe `build_audio` runs and the benchmarks replay.

Every clip's sound (as `clip_audio_command` makes it) is mixed end to end in groups of
`MIX_GROUP` clips per ffmpeg run, the groups joined by a timed concat list; a theme's bed
and effects are laid under it once, across the whole programme (`mix_programme`); the
programme is measured once and brought to its loudness target on its way to AAC.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from contracts.job import LoudnessTarget, Profile
from contracts.plan import samples_for
from engine.media.bed import BedPlay, layered_programme_command
from engine.media.graphs import (
    MIX_GROUP,
    ClipInputs,
    audio_encode_command,
    concat_list,
    programme_audio_command,
)
from engine.media.loudness import measure, normalize_filter
from engine.media.process import FfmpegError, run_ffmpeg

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
    listing, _, cpu = await _mixed(profile, clips, tmp, stage, effects_apart=False)
    return listing, cpu


async def _mixed(
    profile: Profile, clips: list[tuple[int, ClipInputs]], tmp: Path, stage: Stage, effects_apart: bool
) -> tuple[Path, Path | None, float]:
    """The clips' mixes in groups: the timed list of their parts, of their effects' parts if apart, the CPU."""
    cpu, parts, effects = 0.0, [], []
    for first in range(0, len(clips), MIX_GROUP):
        group = clips[first : first + MIX_GROUP]
        stage(f"mixing the sound of clips {first + 1}-{first + len(group)} of {len(clips)}")
        parts.append(tmp / f"clips-{first:05d}.wav")
        effects.append(tmp / f"effects-{first:05d}.wav")
        script = tmp / f"clips-{first:05d}.graph"
        command, graph = programme_audio_command(
            profile, group, parts[-1], script, effects[-1] if effects_apart else None
        )
        script.write_text(graph, encoding="utf-8")
        try:
            cpu += await run_ffmpeg(command)
        except FfmpegError as err:
            raise GroupFailed(first, err) from err
    frames = [sum(f for f, _ in clips[n : n + MIX_GROUP]) for n in range(0, len(clips), MIX_GROUP)]
    listing, effects_listing = tmp / "clips.ffconcat", tmp / "effects.ffconcat"
    listing.write_text(concat_list(parts, frames, profile.fps), encoding="utf-8")
    if not effects_apart:
        return listing, None, cpu
    effects_listing.write_text(concat_list(effects, frames, profile.fps), encoding="utf-8")
    return listing, effects_listing, cpu


async def mix_programme(
    profile: Profile, clips: list[tuple[int, ClipInputs]], beds: list[BedPlay], tmp: Path, stage: Stage = _quiet
) -> tuple[list[str], float]:
    """The whole programme's sound before levelling, as ffmpeg inputs, and the CPU seconds spent.

    Without a bed or an effect, the clips' mixes joined (as `mix_clips`); else the clips' own sound over
    the bed and the effects, ducked under it across the whole programme (`engine.media.bed`).
    """
    layered = bool(beds) or any(inputs.effects for _, inputs in clips)
    listing, effects, cpu = await _mixed(profile, clips, tmp, stage, effects_apart=layered)
    if not layered:
        return ["-f", "concat", "-safe", "0", "-i", str(listing)], cpu
    stage("laying the music bed under the programme")
    total = sum(samples_for(frames, profile.fps) for frames, _ in clips)
    out = tmp / "programme.wav"
    cpu += await run_ffmpeg(layered_programme_command(listing, effects, beds, total, out))
    return ["-i", str(out)], cpu


async def encode_programme(
    listing: Path | list[str], target: LoudnessTarget, out: Path, stage: Stage = _quiet
) -> float:
    """The programme (a timed list of parts, or ffmpeg inputs) measured (EBU R128), levelled to `target` with
    a true-peak limiter, encoded AAC into `out`; the CPU seconds of the encode."""
    source = ["-f", "concat", "-safe", "0", "-i", str(listing)] if isinstance(listing, Path) else listing
    stage("measuring the programme's loudness")
    measured = await measure(source)
    stage("levelling and encoding AAC")
    return await run_ffmpeg(audio_encode_command(source, normalize_filter(measured, target), out))
