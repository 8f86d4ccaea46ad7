"""A theme's background video under the limits every other asset has: its file size, its picture size, and
how many frames are decoded and listed up front."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import numpy as np
import pytest

from contracts.job import Profile
from engine import media_assets
from engine.deps import Deps
from engine.errors import BadAsset
from engine.media import ffgraph as ffmpeg
from engine.media.backdrop import loop_stream
from engine.media.ffgraph import Stream
from engine.media_assets import fetch_loop_video
from engine.settings import Settings, file_uri
from engine.storage import file_path


def loop(tmp_path: Path, size: str = "320x180", frames: int = 40) -> str:
    """A real H.264 loop inside the asset roots."""
    path = tmp_path / "assets" / f"loop-{size}-{frames}.mp4"
    path.parent.mkdir(exist_ok=True)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=s={size}:r=25", "-frames:v", str(frames),
         "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )  # fmt: skip
    return file_uri(path)


def loop_deps(settings: Settings, tmp_path: Path, **budget: float) -> Deps:
    roots = (file_uri(tmp_path / "assets"),)
    return Deps.from_settings(settings.replace(storage={"asset_roots": roots}, limits=budget))


async def test_a_background_video_within_the_limits_is_listed_frame_by_frame(
    settings: Settings, tmp_path: Path
) -> None:
    uri = loop(tmp_path)
    video = await fetch_loop_video(loop_deps(settings, tmp_path), uri, tmp_path / "fetched")
    assert video.frames == 40


async def test_a_background_video_over_the_asset_size_limit_is_refused_before_it_is_fetched(
    settings: Settings, tmp_path: Path
) -> None:
    uri = loop(tmp_path)
    deps = loop_deps(settings, tmp_path, asset_megabytes=0.001)
    with pytest.raises(BadAsset, match=r"^theme.background.video: video asset .* MB; the limit is 0.001 MB"):
        await fetch_loop_video(deps, uri, tmp_path / "fetched")
    assert not list(tmp_path.glob("fetched*"))


async def test_a_background_video_of_more_pixels_than_an_image_may_have_is_refused(
    settings: Settings, tmp_path: Path
) -> None:
    uri = loop(tmp_path, size="640x360", frames=2)
    deps = loop_deps(settings, tmp_path, image_megapixels=0.2)
    with pytest.raises(BadAsset, match=r"^theme.background.video: .* is 640x360 \(0.2 MP\); the limit is 0.2 MP"):
        await fetch_loop_video(deps, uri, tmp_path / "fetched")


async def test_a_background_video_of_too_many_frames_is_refused_without_listing_them_all(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(media_assets, "MAX_LOOP_FRAMES", 30)
    uri = loop(tmp_path, frames=40)
    with pytest.raises(BadAsset, match="has more than 30 frames to loop"):
        await fetch_loop_video(loop_deps(settings, tmp_path), uri, tmp_path / "fetched")


def first_frame(stream: Stream, width: int, height: int) -> np.ndarray:
    command = stream.output("pipe:", vframes=1, format="rawvideo", pix_fmt="rgb24").compile()
    out = subprocess.run(command, check=True, capture_output=True).stdout
    return np.frombuffer(out, np.uint8).reshape(height, width, 3).astype(int)


@pytest.mark.parametrize("degrees", [90, 180, 270])
async def test_a_phone_video_loops_turned_as_players_show_it(settings: Settings, tmp_path: Path, degrees: int) -> None:
    """A phone stores a portrait picture sideways with a display rotation; the Matroska copy must not lose it."""
    upright = file_path(loop(tmp_path, size="160x90", frames=2))
    turned = tmp_path / "assets" / f"turned-{degrees}.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(upright), "-c", "copy", "-metadata:s:v:0", f"rotate={degrees}",
         str(turned)],
        check=True,
    )  # fmt: skip
    wide = degrees == 180
    w, h = (160, 90) if wide else (90, 160)
    shown = first_frame(ffmpeg.input(str(turned)).video, w, h)  # as ffmpeg (and players) show the original
    video = await fetch_loop_video(loop_deps(settings, tmp_path), file_uri(turned), tmp_path / "fetched")
    drawn = first_frame(loop_stream(video, Profile(width=w, height=h, fps=25), 0), w, h)
    lost = first_frame(loop_stream(dataclasses.replace(video, rotation=0), Profile(width=w, height=h, fps=25), 0), w, h)
    # Up to the loop's own colour conversion (through planar RGB), the same picture; unturned, another one.
    assert np.abs(drawn - shown).mean() < 8
    assert np.abs(lost - shown).mean() > 5 * np.abs(drawn - shown).mean()
