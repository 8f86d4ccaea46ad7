"""A theme's sounds in a clip's mix: countdown ticks, a reveal sting, and the music bed under the whole video.

Ticks fall on the frames where the countdown ring shows its next number (the ring's
images start at `seconds - n`, n = ceil(seconds)…1, and the overlay shows each from the
first frame at or after its start), so the sound and the picture change together.
The bed is levelled once and laid under the whole programme; each clip reads its
own stretch of it, so the music runs on across clips instead of restarting.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from contracts.job import AUDIO_RATE
from contracts.plan import samples_for
from engine.media import ffgraph as ffmpeg
from engine.media.ffgraph import Stream

EFFECT_PEAK_DBTP = -12.0
"""A tick or sting is levelled to peak here: clearly heard, under speech (levelled to -18 LUFS) at its loudest."""


@dataclass(frozen=True)
class Effect:
    """A short sound played at sample offsets from the clip's start."""

    path: Path
    gain_db: float
    at: tuple[int, ...]


def countdown_starts(seconds: float) -> list[float]:
    """When each number of a question's countdown appears: the ring's and the plain countdown's start times."""
    return [max(0.0, seconds - n) for n in range(math.ceil(seconds), 0, -1)]


def tick_samples(seconds: float, fps: int) -> tuple[int, ...]:
    """Each countdown number's first frame, as a sample offset: where its tick starts."""
    # A hair under the start, so a start that float arithmetic put just past a frame stays on it.
    return tuple(samples_for(math.ceil(start * fps - 1e-6), fps) for start in countdown_starts(seconds))


def with_effects(audio: Stream, effects: tuple[Effect, ...], opened: Callable[..., Stream]) -> Stream:
    """`audio` with every effect added at its offsets, at the effect's level; nothing else is changed.

    `opened(name)` gives an input's audio stream (graphs.AudioInput): a programme's mix opens each file once."""
    played = [(effect, at) for effect in effects for at in effect.at]
    if not played:
        return audio
    streams = [audio]
    for effect in effects:
        if not effect.at:
            continue
        source = (
            opened(str(effect.path))
            .filter("volume", f"{effect.gain_db:.2f}dB")
            .filter("aresample", AUDIO_RATE)
            .filter("aformat", sample_fmts="s16", channel_layouts="stereo")
        )
        split = source.filter_multi_output("asplit", len(effect.at)) if len(effect.at) > 1 else None
        copies = [source] if split is None else [split[n] for n in range(len(effect.at))]
        for copy, at in zip(copies, effect.at, strict=True):
            streams.append(copy.filter("adelay", delays=f"{at}S", all=1))
    return ffmpeg.filter(streams, "amix", inputs=len(streams), duration="longest", dropout_transition=0, normalize=0)


def effect_gain_db(true_peak_dbtp: float) -> float:
    """The gain that brings a short sound's true peak to EFFECT_PEAK_DBTP; none for a silent one."""
    return 0.0 if not math.isfinite(true_peak_dbtp) else EFFECT_PEAK_DBTP - true_peak_dbtp


def bed_command(music: Path, gain_db: float, samples: int, output: Path) -> list[str]:
    """The theme's music looped and levelled into one PCM file as long as the programme."""
    return [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-progress", "pipe:1", "-nostats",
        "-stream_loop", "-1", "-i", str(music), "-map", "0:a:0",
        "-af", f"volume={gain_db:.2f}dB,aresample={AUDIO_RATE},aformat=sample_fmts=s16:channel_layouts=stereo,"
        f"atrim=end_sample={samples}",
        "-c:a", "pcm_s16le", "-f", "wav", str(output),
    ]  # fmt: skip
