"""The programme's layers: the clips' own sound on top, the theme's bed and effects under it, ducked by it.

Each clip's own sound (its music or video sound, its narration) is mixed per clip and fades at the
clip's end. The theme's music bed is not: it is laid under the whole programme once, playing wherever
a run of clips has no sound of its own, so nothing in it dips or restarts at a join. The theme's ticks
and stings join the bed, and the two are ducked together under the clips' sound by one compressor that
runs across the whole programme: it hears the voice a little early (`DUCK_LOOKAHEAD_SECONDS`) and moves
slowly, so the bed glides under a voice and back instead of jumping.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from contracts.job import AUDIO_RATE
from engine.media import ffgraph as ffmpeg
from engine.media.ffgraph import Stream, Value

BED_GATE_SECONDS = 0.25
"""The bed fades in and out over this where a run of clips with their own sound starts or ends."""
DUCK_LOOKAHEAD_SECONDS = 0.5
"""The compressor hears the clips' sound this much early, so the bed is already down when a word starts."""
PROGRAMME_DUCKING = {"threshold": 0.02, "ratio": 10, "attack": 1000, "release": 1000, "knee": 8, "makeup": 1}
"""About 9 dB under a voice (a clip's own music: graphs.DUCKING), moving under a decibel in any 10 ms:
faster attacks (150 ms) duck deeper but step 1.3 dB at a voice's first word (ffmpeg's times are four
times its envelope's time constants)."""


@dataclass(frozen=True)
class BedPlay:
    """A levelled bed file as long as the programme, and the sample spans of the clips that play it."""

    path: Path
    spans: tuple[tuple[int, int], ...]


def merged_spans(spans: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Adjacent spans as one: the bed runs on across joins instead of fading at each."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and merged[-1][1] >= start:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return tuple(merged)


def _pcm(stream: Stream) -> Stream:
    return stream.filter("aresample", AUDIO_RATE).filter("aformat", sample_fmts="fltp", channel_layouts="stereo")


def _bed_runs(bed: BedPlay) -> list[Stream]:
    """The bed's runs, each cut from the bed at its own place in the programme, faded at its edges and placed."""
    source = ffmpeg.input(str(bed.path)).audio
    split = source.filter_multi_output("asplit", len(bed.spans)) if len(bed.spans) > 1 else None
    streams = []
    for n, (start, end) in enumerate(bed.spans):
        run = (split[n] if split is not None else source).filter("atrim", start_sample=start, end_sample=end)
        run = run.filter("asetpts", "PTS-STARTPTS")
        fade = min(BED_GATE_SECONDS, (end - start) / AUDIO_RATE / 2)
        if start > 0:
            run = run.filter("afade", t="in", d=f"{fade:.6f}")
        run = run.filter("afade", t="out", st=f"{(end - start) / AUDIO_RATE - fade:.6f}", d=f"{fade:.6f}")
        streams.append(_pcm(run).filter("adelay", delays=f"{start}S", all=1))
    return streams


def layered_programme_command(
    clips: Path, effects: Path | None, beds: list[BedPlay], total: int, output: Path
) -> list[str]:
    """The clips' sound (`clips`, a timed concat list) over the bed and effects ducked under it, as PCM.

    `total` is the programme's length in samples; the output is exactly that long.
    """
    listing: dict[str, Value] = {"f": "concat", "safe": 0}
    own = _pcm(ffmpeg.input(str(clips), **listing).audio)
    own_split = own.filter_multi_output("asplit", 2)
    under = [run for bed in beds for run in _bed_runs(bed)]
    if effects is not None:
        under.append(_pcm(ffmpeg.input(str(effects), **listing).audio))
    if not under:
        raise ValueError("layered_programme_command: nothing to lay under the clips")
    layer = under[0] if len(under) == 1 else ffmpeg.filter(under, "amix", inputs=len(under), normalize=0)
    layer = layer.filter("apad").filter("atrim", end_sample=total)
    key = (
        own_split[1]
        .filter("atrim", start_sample=round(DUCK_LOOKAHEAD_SECONDS * AUDIO_RATE))
        .filter("asetpts", "PTS-STARTPTS")
        .filter("apad")
    )
    ducked = ffmpeg.filter([layer, key], "sidechaincompress", **PROGRAMME_DUCKING)
    mixed = ffmpeg.filter([ducked, own_split[0]], "amix", inputs=2, duration="first", dropout_transition=0, normalize=0)
    mixed = mixed.filter("aformat", sample_fmts="s16", channel_layouts="stereo").filter("atrim", end_sample=total)
    compiled: list[str] = ffmpeg.output(mixed, str(output), f="wav", acodec="pcm_s16le").compile()
    return [compiled[0], "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *compiled[1:]]
