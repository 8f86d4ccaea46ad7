"""A clip's text as transparent images: laid out once per clip, overlaid by ffmpeg on every frame.

ffmpeg's drawtext cannot shape (no HarfBuzz in 5.1) nor fall back between fonts,
so text is drawn here with Pillow (libraqm) and reaches ffmpeg only as PNG files.
The same layout decides at validation whether the text fits, so a job that renders
is one whose every character is drawn.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw

from contracts.job import ClipSpec, Profile
from engine.media.fonts import EMOJI_SIZE, FontChain, cjk_language
from engine.media.text import Block, Line, block, largest_fit, scales

ANSWER_LETTERS = "ABCD"
CORRECT_FILL = "#1E8449"
DIMMED = "#A0A0A0"
SHADOW_ALPHA = 0.6


@dataclass(frozen=True)
class Fonts:
    """The primary faces (RENDER_FONT, RENDER_FONT_BOLD); the chain adds every installed Noto face."""

    regular: Path
    bold: Path
    language: str | None = None
    """How Han characters are drawn ('ja', 'ko', 'zh'): the whole job's, so every clip of a video agrees;
    None: guessed from the text at hand."""
    hyphenation: str = ""
    """The pyphen dictionary long words are hyphenated with (`hyphenation_language` of the job's voice)."""

    def chain(self, bold: bool, text: str) -> FontChain:
        language = self.language or cjk_language(text)
        primary = self.bold if bold else self.regular
        return FontChain.installed(primary, bold=bold, language=language, hyphenation=self.hyphenation)


@dataclass(frozen=True)
class ClipLayout:
    blocks: tuple[Block, ...]
    highlights: tuple[tuple[int, int], ...] = ()
    """(top, height) bands behind the correct answer."""


class DoesNotFit(ValueError):
    """The text needs more room than its region has, even at the minimum size."""

    def __init__(self, part: str, *more: str) -> None:
        super().__init__(part)
        self.part = part
        """Which text overflowed most: 'question', 'answers[N]' or 'lines'."""
        self.parts = (part, *more)
        """Every text that does not fit, `part` first."""


def countdown_top(height: int) -> int:
    return int(height * 0.82)


def countdown_size(height: int) -> int:
    return max(12, height // 9)


def clip_texts(spec: ClipSpec) -> list[str]:
    """Every piece of user text the clip draws."""
    if spec.kind in ("question", "reveal"):
        return [spec.question or "", *spec.answers]
    return list(spec.lines) if spec.kind == "card" else []


def layout_clip(spec: ClipSpec, profile: Profile, fonts: Fonts) -> ClipLayout:
    """Where every text of the clip goes, at the largest size that fits; DoesNotFit when none does."""
    if spec.kind in ("question", "reveal"):
        return _question(spec, profile, fonts)
    if spec.kind == "card":
        return _card(spec, profile, fonts)
    return ClipLayout(())


def _question(spec: ClipSpec, profile: Profile, fonts: Fonts) -> ClipLayout:
    """Question and reveal share one layout, so the reveal only recolours the answers (the fit check covers both)."""
    w, h = profile.width, profile.height
    texts = " ".join(clip_texts(spec))
    bold, regular = fonts.chain(True, texts), fonts.chain(False, texts)
    limit = countdown_top(h) - h // 60  # questions show a countdown there; reveals keep the same layout
    answer_base = max(10, h // 18)

    def attempt(scale: float) -> tuple[bool, ClipLayout]:
        q_size, a_size = max(8, round(max(12, h // 14) * scale)), max(8, round(answer_base * scale))
        question = block(spec.question or "", bold, size=q_size, top=h // 12, width=w, bold=True)
        blocks, highlights = [question], []
        y = question.bottom + round(h // 24 * scale)
        for i, answer in enumerate(spec.answers):
            correct = spec.kind == "reveal" and i == spec.correct
            colour = "white" if spec.kind == "question" or correct else DIMMED
            chain = bold if correct else regular
            # Broken where the bold (correct) answer breaks: the reveal only changes weight and colour.
            laid = block(
                f"{ANSWER_LETTERS[i]}. {answer}", chain, size=a_size, top=y, width=w, colour=colour, measure=bold
            )
            laid = replace(laid, bold=correct)
            if correct:
                highlights.append((y - a_size // 4, laid.bottom - y + a_size // 4))
            blocks.append(laid)
            y = laid.bottom + a_size // 3
        return blocks[-1].bottom <= limit and not _too_wide(blocks, w), ClipLayout(tuple(blocks), tuple(highlights))

    fits, layout = largest_fit(scales(answer_base, h), attempt)
    if fits:
        return layout
    raise DoesNotFit(_worst(layout.blocks, ["question", *(f"answers[{i}]" for i in range(len(spec.answers)))], w))


def _card(spec: ClipSpec, profile: Profile, fonts: Fonts) -> ClipLayout:
    w, h = profile.width, profile.height
    chain = fonts.chain(False, " ".join(spec.lines))
    base = max(12, h // 12)
    margin = h // 24

    def attempt(scale: float) -> tuple[bool, list[Block]]:
        size = max(8, round(base * scale))
        blocks = [block(text, chain, size=size, top=0, width=w) for text in spec.lines]
        return sum(b.bottom for b in blocks) <= h - 2 * margin and not _too_wide(blocks, w), blocks

    fits, blocks = largest_fit(scales(base, h), attempt)
    if not fits:
        raise DoesNotFit("lines")
    y, placed = max(margin, (h - sum(b.bottom for b in blocks)) // 2), []
    for laid in blocks:
        placed.append(replace(laid, top=y, bold=False))
        y = placed[-1].bottom
    return ClipLayout(tuple(placed))


def _too_wide(blocks: Sequence[Block], width: int) -> list[int]:
    """Indexes of blocks with a line wider than the frame: one grapheme (a long unligated ZWJ sequence) can be."""
    return [i for i, b in enumerate(blocks) if b.widest > width]


def _worst(blocks: Sequence[Block], names: list[str], width: int) -> str:
    """The part to name when nothing fits: one too wide for the frame, else the one with the most lines."""
    if wide := _too_wide(blocks, width):
        return names[wide[0]]
    counts = [len(b.lines) for b in blocks]
    return names[counts.index(max(counts))] if counts else names[0]


def _colour(name: str) -> tuple[int, int, int, int]:
    colour = "#FFFFFF" if name == "white" else name
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16), 255


def _draw_line(canvas: Image.Image, line: Line, left: float, baseline: int, size: int, colour: str) -> None:
    """Runs side by side on one baseline; colour emoji are drawn at their bitmap size and scaled."""
    draw = ImageDraw.Draw(canvas)
    x = left
    for run in line.runs:
        font = run.face.font(size)
        direction = "rtl" if run.rtl else "ltr"
        if run.face.emoji:
            ascent, descent = font.getmetrics()
            wide = max(1, math.ceil(font.getlength(run.text, direction=direction)))
            strip = Image.new("RGBA", (wide, ascent + descent), (0, 0, 0, 0))
            ImageDraw.Draw(strip).text((0, ascent), run.text, font=font, anchor="ls", embedded_color=True)
            scale = size / EMOJI_SIZE
            strip = strip.resize(
                (max(1, round(wide * scale)), max(1, round((ascent + descent) * scale))), Image.Resampling.LANCZOS
            )
            canvas.alpha_composite(strip, (round(x), baseline - round(ascent * scale)))
        else:
            draw.text((x, baseline), run.text, font=font, fill=_colour(colour), anchor="ls", direction=direction)
        x += run.width


def shadow_offset(frame_height: int) -> int:
    return max(1, frame_height // 360)


def draw_blocks(blocks: tuple[Block, ...], width: int, height: int, shadow: int) -> Image.Image:
    """The blocks on a transparent frame-sized image, centred, with the soft shadow drawtext used to give."""
    glyphs = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    for laid in blocks:
        ascent = round(laid.size * 1.0)
        for i, line in enumerate(laid.lines):
            baseline = laid.top + i * laid.spacing + ascent
            _draw_line(glyphs, line, (width - line.width) / 2, baseline, laid.size, laid.colour)
    return with_shadow(glyphs, shadow)


def with_shadow(glyphs: Image.Image, offset: int) -> Image.Image:
    alpha = glyphs.getchannel("A").point(lambda a: round(a * SHADOW_ALPHA))
    shadow = Image.new("RGBA", glyphs.size, (0, 0, 0, 0))
    shadow.putalpha(ImageChops.offset(alpha, offset, offset))
    return Image.alpha_composite(shadow, glyphs)


@dataclass(frozen=True)
class Layer:
    """An image to overlay at (x, y), cropped to what it draws."""

    image: Image.Image
    x: int
    y: int


def cropped(image: Image.Image) -> Layer | None:
    box = image.getbbox()
    if box is None:
        return None
    return Layer(image.crop(box), box[0], box[1])


def countdown_frames(seconds: float, profile: Profile, fonts: Fonts) -> list[tuple[float, Image.Image]]:
    """(start time, image) of each number a question counts down, from ceil(seconds) to 1; all the same size.

    Number n shows while ceil(seconds - t) == n, i.e. from t = seconds - n.
    """
    w, h = profile.width, profile.height
    size = countdown_size(h)
    chain = fonts.chain(True, "0")
    band = round(size * 1.4)
    frames = []
    for n in range(math.ceil(seconds), 0, -1):
        laid = block(str(n), chain, size=size, top=0, width=w, bold=True)
        frames.append((max(0.0, seconds - n), draw_blocks((laid,), w, band, shadow_offset(h))))
    return frames
