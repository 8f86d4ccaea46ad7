"""Headers that lie about their frames: a sample count the tables that place and time the samples do not
back is refused, as ffprobe (which goes by those tables) would count otherwise."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest

from activities.render import RenderActivities
from engine import clip_cache
from engine.errors import MediaMismatch
from engine.media.mp4 import read_movie, video_samples
from engine.media.probe import ProbeError, counted
from tests.test_mp4 import assert_agrees

FRAMES = 10


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    """Ten H.264 frames and PCM sound in a MOV, as a render's clip."""
    path = tmp_path / "clip.mov"
    subprocess.run(
        [
            "ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc=size=64x64:rate=10:duration={FRAMES / 10}",
            "-f", "lavfi", "-i", "sine=sample_rate=48000:duration=1", "-c:v", "libx264", "-pix_fmt", "yuv420p",
            "-c:a", "pcm_s16le", str(path),
        ],
        check=True,
    )  # fmt: skip
    return path


def field(name: bytes, at: int, value: int) -> Callable[[bytearray], None]:
    """Overwrite the 32-bit field `at` bytes after the first `name` box's type (in the video track)."""

    def change(data: bytearray) -> None:
        box = data.find(name)
        data[box + at : box + at + 4] = value.to_bytes(4, "big")

    return change


LIES = {
    "stsz count past its table": (field(b"stsz", 12, 3 * FRAMES), 3 * FRAMES),
    "stts times fewer samples": (field(b"stts", 12, 4), FRAMES),
    "stsc places fewer samples": (field(b"stsc", 16, 1), FRAMES),
}
"""Each change, and the frames the sample size table then claims."""


def fixed_size(data: bytearray) -> None:
    """Every video sample declared 1 MB, with no table: the header needs only three fields."""
    box = data.find(b"stsz")
    data[box + 8 : box + 12] = (1 << 20).to_bytes(4, "big")


LIES["stsz fixed size past the file"] = (fixed_size, FRAMES)


async def test_the_clip_as_made_is_read_as_ffprobe_reads_it(clip: Path) -> None:
    assert_agrees(clip)
    info = await counted(clip)
    assert info.video is not None and info.video.packets == FRAMES and info.audio is not None


@pytest.mark.parametrize("lie", sorted(LIES))
async def test_a_frame_count_the_tables_do_not_back_is_refused(lie: str, clip: Path, tmp_path: Path) -> None:
    data = bytearray(clip.read_bytes())
    change, claimed = LIES[lie]
    change(data)
    bad = tmp_path / "bad.mov"
    bad.write_bytes(bytes(data))
    ffprobe = subprocess.run(
        ["ffprobe", "-v", "quiet", "-count_packets", "-select_streams", "v:0", "-show_entries",
         "stream=nb_frames,nb_read_packets", "-of", "csv=p=0", str(bad)],
        capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    assert ffprobe != f"{claimed},{claimed}"  # ffprobe does not see the frames the header claims
    with pytest.raises(ProbeError, match="samples"):
        await counted(bad)
    assert video_samples(bad) is None
    with pytest.raises(Exception, match="samples"):
        read_movie(bad)


@pytest.fixture
def cut(tmp_path: Path) -> Path:
    """Thirty frames in the sample tables, an edit list that shows the last 24: a stream copy from 0.55 s."""
    whole, path = tmp_path / "whole.mov", tmp_path / "cut.mov"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x64:rate=10:duration=3",
         "-c:v", "libx264", "-g", "10", "-bf", "0", "-pix_fmt", "yuv420p", str(whole)],
        check=True,
    )  # fmt: skip
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-ss", "0.55", "-i", str(whole), "-c", "copy", str(path)], check=True
    )
    return path


async def test_a_clip_whose_edit_list_hides_frames_is_refused(cut: Path, tmp_path: Path) -> None:
    decoded = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0",
         str(cut)],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    info = await counted(cut)
    assert info.video is not None and info.video.packets == 30 and decoded == "24"  # players show 24
    with pytest.raises(MediaMismatch, match=r"shows 2\.450 s of video, the plan has 30 frames"):
        await RenderActivities._check_clip(cast(RenderActivities, None), cut, 30, 10, with_audio=False)
    assert not await clip_cache._whole(cut, 30, 10, with_audio=False)
    whole = tmp_path / "whole.mov"
    await RenderActivities._check_clip(cast(RenderActivities, None), whole, 30, 10, with_audio=False)
    assert await clip_cache._whole(whole, 30, 10, with_audio=False)
