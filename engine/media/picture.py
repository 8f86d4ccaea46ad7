"""A question's picture: its slot in the themed layout, per frame shape, and the picture drawn into it.

16:9 and 1:1 put the picture beside the question, in the question's band, where reading starts (the left;
the right for right-to-left text), and the question's text fits in the rest of the band. 9:16 and 4:5 put
it above the question: the picture, the question and the answers share, top to bottom, the room the
question and the answers had. Every slot is cut from parts already clear of the platform zones and kept
clear of them again (`themed._clear`), so the picture never reaches under a player's buttons or captions.

The picture covers its slot (scaled to fill it, cropped, centred: never stretched), with the answer boxes'
corner radius (`corner_radius`). A reveal shows its question's picture in the same slot.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageOps

from contracts.job import Profile
from contracts.themes import Theme
from engine.errors import BadAsset
from engine.media.images import upright
from engine.media.themed import Rect, Regions, _clear
from engine.media.zones import zones

BESIDE = {"16:9": 0.4, "1:1": 0.36}
"""Shapes whose picture sits beside the question, with the largest share of the band's width it takes."""
BESIDE_ASPECT = 4 / 3
"""A picture beside the question is as tall as the question's band and up to 4:3 wide."""
ABOVE = {"9:16": (0.17, 0.14), "4:5": (0.22, 0.17)}
"""Shapes whose picture sits above the question: the picture's and the question's shares of the height from
the question's top to the last answer's bottom; the answers take the rest."""
ABOVE_ASPECT = 16 / 9
"""A picture above the question is at most 16:9 wide, centred: not a banner across the frame."""


def picture_regions(reg: Regions, profile: Profile, theme: Theme, rtl: bool = False) -> Regions:
    """`reg` with a picture slot, and the question (and, above it, the answers) in the room left."""
    w, h = profile.width, profile.height
    gap = round(0.02 * w) if reg.shape == "16:9" else round(0.014 * h)  # as `regions` spaces its parts
    blocked = [box for _, box in zones(w, h, theme.platform)]
    q = reg.question
    if reg.shape in BESIDE:
        width = min(round(q.h * BESIDE_ASPECT), round(q.w * BESIDE[reg.shape]))
        slot = Rect(q.right - width if rtl else q.x, q.y, width, q.h)
        text = Rect(q.x if rtl else slot.right + gap, q.y, q.w - width - gap, q.h)
        return replace(reg, picture=slot, question=text)
    share, question_share = ABOVE[reg.shape]
    top, bottom = q.y, reg.answers[-1].bottom
    band = bottom - top
    room = _clear(Rect(q.x, top, q.w, round(band * share)), blocked, gap)
    width = min(room.w, round(room.h * ABOVE_ASPECT))
    slot = Rect(room.x + (room.w - width) // 2, room.y, width, room.h)
    text = _clear(Rect(q.x, slot.bottom + gap, q.w, round(band * question_share)), blocked, gap)
    answers_top = text.bottom + (reg.answers[0].y - q.bottom)
    answers = tuple(_clear(box, blocked, gap) for box in _spread(reg.answers, answers_top))
    return replace(reg, picture=slot, question=text, answers=answers)


def _spread(boxes: tuple[Rect, ...], top: int) -> tuple[Rect, ...]:
    """The boxes in their rows and gaps, from `top` down to where the last one ends."""
    rows = sorted({box.y for box in boxes})
    gap = rows[1] - rows[0] - boxes[0].h if len(rows) > 1 else 0
    height = (boxes[-1].bottom - top - gap * (len(rows) - 1)) // len(rows)
    return tuple(replace(box, y=top + rows.index(box.y) * (height + gap), h=height) for box in boxes)


def corner_radius(reg: Regions, theme: Theme) -> int:
    """The answer boxes' corner radius in pixels, at most a quarter of the slot's shorter side: a theme of
    pill-shaped boxes rounds the picture's corners, never turns it into a pill."""
    assert reg.picture is not None
    return min(round(theme.box.radius * reg.answers[0].h), min(reg.picture.w, reg.picture.h) // 4)


def draw_picture(layer: Image.Image, path: Path, slot: Rect, radius: int) -> None:
    """The picture at `path` covering `slot` of `layer` (RGBA), its corners rounded by `radius`; BadAsset when
    Pillow cannot decode it after all (the fetch checked its header, its pixel count and that ffmpeg reads it)."""
    if slot.w < 1 or slot.h < 1:  # a frame too small to give it room
        return
    try:
        with Image.open(path) as image:
            picture = upright(image).convert("RGBA")  # its size was checked when it was fetched
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise BadAsset(f"question picture could not be drawn: {str(err)[-300:]}") from None
    covered = ImageOps.fit(picture, (slot.w, slot.h), Image.Resampling.LANCZOS, centering=(0.5, 0.5))
    if radius > 0:
        mask = Image.new("L", covered.size, 0)
        ImageDraw.Draw(mask).rounded_rectangle((0, 0, slot.w - 1, slot.h - 1), radius=radius, fill=255)
        covered.putalpha(ImageChops.multiply(covered.getchannel("A"), mask))
    layer.alpha_composite(covered, (slot.x, slot.y))
