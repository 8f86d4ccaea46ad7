"""Every still image the engine draws is upright as its EXIF orientation says: a phone's portrait photo is
stored on its side with orientation 6 (turn 90 degrees clockwise to view). Each is checked against the same
photo stored upright without the tag, by pixels, as an `image` clip, as a card's image, as a theme's
background and as its logo. (Question pictures: tests/test_question_pictures.py.)"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from contracts.job import parse_job
from contracts.plan import ENGINE_VERSION
from contracts.themes import BUILTIN_THEMES, Logo
from engine.deps import Deps
from engine.media.layers import Fonts
from engine.media.themed import still_frame, theme_fonts
from engine.settings import file_uri
from engine.storage import file_path
from tests.test_media_clips import render, rgb_frames

GREEN, MAGENTA = (0, 200, 0), (220, 0, 220)
ORIENTATION = 0x0112


def photos(folder: Path) -> tuple[Path, Path]:
    """(a 200x400 portrait photo stored on its side, 400x200 with orientation 6; the same photo stored
    upright): green at its top, magenta at its bottom, once upright."""
    stored = Image.new("RGB", (400, 200), MAGENTA)
    ImageDraw.Draw(stored).rectangle((0, 0, 199, 199), fill=GREEN)  # its left half: the top, once upright
    exif = stored.getexif()
    exif[ORIENTATION] = 6
    sideways, upright = folder / "phone.jpg", folder / "upright.jpg"
    stored.save(sideways, exif=exif, quality=95)
    stored.transpose(Image.Transpose.ROTATE_270).save(upright, quality=95)
    return sideways, upright


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal but for JPEG's and the encoder's small differences; a photo on its side differs by far more."""
    return bool(np.abs(a.astype(int) - b.astype(int)).mean() < 4)


def top_and_bottom(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The centre column's pixels a quarter from the top and a quarter from the bottom."""
    h, w = frame.shape[:2]
    return frame[h // 4, w // 2], frame[h - h // 4, w // 2]


def near(pixel: np.ndarray, colour: tuple[int, int, int]) -> bool:
    return bool(np.abs(pixel.astype(int) - np.array(colour)).max() < 40)


@pytest.mark.parametrize("kind", ["image", "card"])
async def test_a_photo_stored_on_its_side_renders_upright_as_a_clips_image(deps: Deps, kind: str) -> None:
    """An `image` clip (decoded by ffmpeg, which turns it by the photo's display matrix) and a card's image
    (fitted to the frame by Pillow) both show the photo as its upright copy does."""
    sideways, upright = photos(file_path(deps.settings.storage.asset_roots[0]))
    frames = []
    for photo in (sideways, upright):
        if kind == "image":
            clip = {"kind": "image", "source": file_uri(photo), "duration": 1}
        else:
            clip = {"kind": "card", "duration": 1, "image": file_uri(photo), "lines": []}
        frames.append(rgb_frames(await render(deps, f"upright-{kind}-{photo.stem}", clip))[0])
    assert same(*frames)
    top, bottom = top_and_bottom(frames[0])
    assert near(top, GREEN) and near(bottom, MAGENTA)


@pytest.mark.parametrize("part", ["background", "logo"])
def test_a_photo_stored_on_its_side_is_drawn_upright_as_a_themes_background_or_logo(
    deps: Deps, tmp_path: Path, part: str
) -> None:
    sideways, upright = photos(tmp_path)
    theme = BUILTIN_THEMES["midnight"]
    if part == "logo":
        theme = replace(theme, logo=Logo("file:///logo.jpg", "top-left", 0.2))
    job = parse_job({"video_id": "v", "profile": {"width": 640, "height": 360},
                     "clips": [{"kind": "card", "duration": 1, "lines": ["Upright"]}]})  # fmt: skip
    fonts = theme_fonts(theme, Fonts(deps.settings.render.font, deps.settings.render.font_bold))
    drawn = [
        np.asarray(
            still_frame(
                job.clips[0],
                job.profile,
                fonts,
                theme,
                image=None if part == "logo" else p,
                logo=p if part == "logo" else None,
            )
        )
        for p in (sideways, upright)
    ]
    assert same(*drawn)
    if part == "background":
        top, bottom = top_and_bottom(drawn[0])
        assert near(top, GREEN) and near(bottom, MAGENTA)
    else:  # the logo keeps its shape inside its box: upright, it is twice as tall as wide, green at its top
        coloured = [np.abs(drawn[0].astype(int) - colour).max(axis=2) < 40 for colour in (GREEN, MAGENTA)]
        rows, columns = np.nonzero(coloured[0] | coloured[1])
        height, width = rows.max() - rows.min() + 1, columns.max() - columns.min() + 1
        assert abs(height - 2 * width) <= 4, (width, height)
        assert coloured[0][rows.min() + height // 4, columns.min() + width // 2]
        assert coloured[1][rows.max() - height // 4, columns.min() + width // 2]


def test_the_engine_version_names_images_drawn_upright() -> None:
    """The same image asset draws other pixels than before (upright, where it was drawn on its side): the
    engine version, part of every clip's key and cache key, says so, and no clip drawn before is reused."""
    assert ENGINE_VERSION == "3"
