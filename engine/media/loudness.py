"""EBU R128 loudness: measure a programme, bring it to a target, limit its true peak.

The mix is measured once, raised or lowered by one gain to the target's integrated
loudness, then limited on a 4x oversampled signal (where inter-sample peaks show)
so the true peak stays under the target's ceiling. One static gain keeps the
balance between narration, music and silence exactly as rendered.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from contracts.job import AUDIO_RATE, LoudnessTarget
from engine.media.process import FfmpegError, run_tool

OVERSAMPLE = 4
CODEC_MARGIN_DB = 0.5
"""Headroom kept under the true-peak ceiling for the AAC encoder's overshoot."""
SILENT_LUFS = -70.0
"""At or below this the gate leaves nothing to measure: the programme is silent and left alone."""

_SUMMARY = re.compile(
    r"Integrated loudness:\s*I:\s*(?P<i>-?[\d.]+|-inf) LUFS.*?"
    r"Loudness range:\s*LRA:\s*(?P<lra>-?[\d.]+) LU.*?"
    r"True peak:\s*Peak:\s*(?P<tp>-?[\d.]+|-inf) dBFS",
    re.S,
)


class LoudnessError(Exception):
    pass


@dataclass(frozen=True)
class Measurement:
    integrated_lufs: float
    true_peak_dbtp: float
    range_lu: float


def _number(text: str) -> float:
    return -math.inf if text == "-inf" else float(text)


async def measure(source: list[str]) -> Measurement:
    """Integrated loudness, true peak and loudness range of the first audio stream of `source` (ffmpeg inputs)."""
    code, _, err = await run_tool(
        "ffmpeg", "-hide_banner", "-nostdin", "-nostats", *source,
        "-map", "0:a:0", "-af", "ebur128=peak=true:framelog=verbose", "-f", "null", "-",
    )  # fmt: skip
    text = err.decode(errors="replace")
    if code != 0:
        # The reason is among the error lines, not the meter's log: classified like any ffmpeg failure.
        raise FfmpegError(code, "\n".join(line for line in text.splitlines() if not line.startswith("[Parsed_ebur128")))
    found = _SUMMARY.search(text[text.rfind("Summary:") :]) if "Summary:" in text else None
    if found is None:
        raise LoudnessError(f"could not measure loudness: {text.strip()[-300:]}")
    return Measurement(_number(found["i"]), _number(found["tp"]), _number(found["lra"]))


def measure_file(path: Path, seconds: float | None = None) -> list[str]:
    """ffmpeg inputs that read `path`, only its first `seconds` if given."""
    return ["-t", f"{seconds:g}", "-i", str(path)] if seconds else ["-i", str(path)]


def normalize_filter(measured: Measurement, target: LoudnessTarget) -> str:
    """One gain to the target loudness, then a true-peak limiter: an ffmpeg audio filter chain."""
    if measured.integrated_lufs <= SILENT_LUFS:
        return "anull"
    gain = target.integrated_lufs - measured.integrated_lufs
    ceiling = 10 ** ((target.true_peak_dbtp - CODEC_MARGIN_DB) / 20)
    return ",".join(
        [
            f"volume={gain:.2f}dB",
            f"aresample={AUDIO_RATE * OVERSAMPLE}",
            f"alimiter=limit={ceiling:.5f}:level=false:attack=1:release=50:latency=true",
            f"aresample={AUDIO_RATE}",
        ]
    )


MAX_BED_GAIN_DB = 20.0
"""A near-silent music file is raised no further than this."""
BED_MEASURE_SECONDS = 600.0
"""A music file's level is taken from its first ten minutes, where every clip that uses it starts playing it:
the meter's work stays bounded whatever the file's length (an hour-long file took as long to measure)."""


async def bed_gain_db(path: Path, bed_lufs: float) -> float:
    """The gain that brings music to the bed level; none for audio too short or quiet to measure.

    Audio the meter cannot read gets no gain: the render then fails on it with ffmpeg's own reason.
    """
    try:
        measured = await measure(measure_file(path, BED_MEASURE_SECONDS))
    except (FfmpegError, LoudnessError):
        return 0.0
    if measured.integrated_lufs <= SILENT_LUFS:
        return 0.0
    return min(MAX_BED_GAIN_DB, bed_lufs - measured.integrated_lufs)
