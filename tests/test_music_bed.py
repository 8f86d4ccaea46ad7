"""A music file's bed level is measured from a bounded start of the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.media import loudness
from engine.media.graphs import MUSIC_BED_LUFS
from engine.media.loudness import bed_gain_db
from engine.media.process import run_ffmpeg


async def test_a_music_file_is_levelled_from_its_first_minutes_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loud tail past the measured start changes nothing: the meter never reads a whole long file."""
    quiet_then_loud = tmp_path / "bed.wav"
    await run_ffmpeg(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-f", "lavfi",
         "-i", "sine=frequency=440:duration=2", "-filter_complex",
         "[0]volume=-30dB[a];[1]volume=0dB[b];[a][b]concat=n=2:v=0:a=1", str(quiet_then_loud)]
    )  # fmt: skip
    whole = await bed_gain_db(quiet_then_loud, MUSIC_BED_LUFS)
    monkeypatch.setattr(loudness, "BED_MEASURE_SECONDS", 2.0)
    start_only = await bed_gain_db(quiet_then_loud, MUSIC_BED_LUFS)
    assert start_only > whole + 10  # the quiet start alone needs far more gain than the whole file
