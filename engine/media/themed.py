"""Themed clips: layout regions per frame shape, the fit of the text in them, and the still picture.

The frame's shape picks the layout: 16:9 puts the answers in a 2x2 grid; 9:16 (Shorts,
Reels, TikTok) and 1:1 stack them, and 9:16 keeps everything between 10 % and 80 % of
the height, clear of a phone player's controls. The same regions decide at validation
whether the text fits, and are drawn here with Pillow into the one picture a still clip repeats.
"""

from __future__ import annotations

import math
import subprocess
import unicodedata
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageOps

from contracts.job import ClipSpec, Profile
from contracts.pictures import question_picture
from contracts.themes import Background, Theme
from engine.media.fonts import grapheme_script
from engine.media.images import upright
from engine.media.layers import ANSWER_LETTERS, DoesNotFit, Fonts, _draw_line, with_shadow
from engine.media.text import Block, block, direction, largest_fit, min_size, scales
from engine.media.zones import zones

TEXT_DEPTH = 1.25
"""A line's ink below its top, in font sizes: the ascent, plus room for descenders."""


@dataclass(frozen=True)
class Rect:
    x: int
    y: int
    w: int
    h: int

    @property
    def right(self) -> int:
        return self.x + self.w

    @property
    def bottom(self) -> int:
        return self.y + self.h

    def inside(self, other: Rect) -> bool:
        return other.x <= self.x and other.y <= self.y and self.right <= other.right and self.bottom <= other.bottom


@dataclass(frozen=True)
class Regions:
    """Where each part of a themed clip goes, in pixels."""

    shape: str
    """'16:9', '9:16', '4:5' or '1:1'."""
    safe: Rect
    """Title-safe area: every drawn part stays inside it."""
    number: Rect
    ring: Rect
    question: Rect
    answers: tuple[Rect, ...]
    bar: Rect
    card: Rect
    logo: Rect | None
    question_size: int
    answer_size: int
    picture: Rect | None = None
    """A question's picture slot (`engine.media.picture`); None: the question has no picture."""


def frame_shape(profile: Profile) -> str:
    ratio = profile.width / profile.height
    return "16:9" if ratio >= 1.3 else "9:16" if ratio <= 0.7 else "4:5" if ratio <= 0.9 else "1:1"


# Fractions of the frame: safe (x, y, right, bottom), header top and height, question band,
# answer band, bar top and height, question and answer text sizes (of the frame height).
_SHAPES: dict[str, dict[str, tuple[float, ...]]] = {
    "16:9": {"safe": (0.05, 0.05, 0.95, 0.95), "header": (0.07, 0.13), "question": (0.225, 0.48),
             "answers": (0.51, 0.845), "bar": (0.885, 0.012), "text": (0.06, 0.045)},
    "9:16": {"safe": (0.06, 0.105, 0.94, 0.775), "header": (0.11, 0.065), "question": (0.19, 0.37),
             "answers": (0.385, 0.745), "bar": (0.757, 0.008), "text": (0.044, 0.04)},
    "4:5": {"safe": (0.06, 0.05, 0.94, 0.89), "header": (0.055, 0.10), "question": (0.175, 0.385),
            "answers": (0.405, 0.845), "bar": (0.865, 0.01), "text": (0.05, 0.042)},
    "1:1": {"safe": (0.06, 0.06, 0.94, 0.94), "header": (0.065, 0.11), "question": (0.195, 0.40),
            "answers": (0.425, 0.865), "bar": (0.895, 0.012), "text": (0.056, 0.045)},
}  # fmt: skip


def regions(profile: Profile, theme: Theme) -> Regions:
    w, h = profile.width, profile.height
    shape = frame_shape(profile)
    f = _SHAPES[shape]
    sx, sy, sr, sb = f["safe"]
    safe = Rect(round(sx * w), round(sy * h), round((sr - sx) * w), round((sb - sy) * h))
    head_y, head_h = round(f["header"][0] * h), round(f["header"][1] * h)
    gap = round(0.02 * w) if shape == "16:9" else round(0.014 * h)
    blocked = [box for _, box in zones(w, h, theme.platform)]
    safe = _clear(safe, [b for b in blocked if b[0] == 0 and b[2] == w], gap)  # bands only: a column narrows parts
    low_right = min([safe.right, *(b[0] - gap for b in blocked if b[0] > w // 2)])
    """Right edge of what sits beside the button column: a bottom logo moves left of it."""
    left, right = safe.x, safe.right
    answers_bottom = round(f["answers"][1] * h)
    bar_left, bar_right = safe.x, safe.right
    logo = None
    if theme.logo is not None:
        size = round(theme.logo.size * h)
        width = round(size * 2.5)
        top = theme.logo.corner.startswith("top")
        at_left = theme.logo.corner.endswith("left")
        y = head_y + (head_h - size) // 2 if top else safe.bottom - size
        logo = Rect(safe.x if at_left else (safe.right if top else low_right) - width, y, width, size)
        if top and at_left:
            left = logo.right + gap
        elif top:
            right = logo.x - gap
        else:
            answers_bottom = min(answers_bottom, logo.y - gap - round(f["bar"][1] * h) - 2 * gap)
            bar_left, bar_right = (logo.right + gap, bar_right) if at_left else (bar_left, logo.x - gap)
    head_h -= head_h % 2  # the ring and the bar are overlaid on 4:2:0 frames: even places and sizes
    ring = Rect(_even(right - head_h), _even(head_y), head_h, head_h)
    pill_h = round(head_h * 0.6)
    number = Rect(left, head_y + (head_h - pill_h) // 2, min(round(0.3 * w), ring.x - gap - left), pill_h)
    q_top, q_bottom = round(f["question"][0] * h), round(f["question"][1] * h)
    question = Rect(safe.x, q_top, safe.w, q_bottom - q_top)
    a_top = round(f["answers"][0] * h)
    if shape == "16:9":
        box_w, box_h = (safe.w - gap) // 2, (answers_bottom - a_top - round(0.03 * h)) // 2
        row = box_h + round(0.03 * h)
        answers = tuple(Rect(safe.x + (i % 2) * (box_w + gap), a_top + (i // 2) * row, box_w, box_h) for i in range(4))
    else:
        box_h = (answers_bottom - a_top - 3 * gap) // 4
        answers = tuple(Rect(safe.x, a_top + i * (box_h + gap), safe.w, box_h) for i in range(4))
    bar_y = round(f["bar"][0] * h)
    if logo is not None and not logo.y < bar_y:
        bar_y = min(bar_y, safe.bottom - max(4, round(f["bar"][1] * h)))
    bar_left += bar_left % 2
    bar = _clear(
        Rect(bar_left, _even(bar_y), bar_right - bar_left, _even(max(4, round(f["bar"][1] * h)))), blocked, gap
    )
    bar = replace(bar, w=_even(bar.w))
    card = _clear(Rect(safe.x, q_top, safe.w, answers_bottom - q_top), blocked, gap)
    question = _clear(question, blocked, gap)
    answers = tuple(_clear(box, blocked, gap) for box in answers)
    q_size, a_size = (round(v * h) for v in f["text"])
    return Regions(shape, safe, number, ring, question, answers, bar, card, logo, q_size, a_size)


def _clear(rect: Rect, blocked: list[tuple[int, int, int, int]], gap: int) -> Rect:
    """`rect` kept `gap` clear of every zone it meets: narrowed beside a column at the right, shortened above
    a band below, lowered under a band above."""
    x, y, right, bottom = rect.x, rect.y, rect.right, rect.bottom
    for zx, zy, zr, zb in blocked:
        if zx < right and x < zr and zy < bottom and y < zb:
            if zx > (x + right) // 2:
                right = zx - gap
            elif zy > (y + bottom) // 2:
                bottom = zy - gap
            else:
                y = zb + gap
    return Rect(x, y, right - x, bottom - y)


def _even(value: int) -> int:
    return value - value % 2


def text_height(laid: Block) -> int:
    return (len(laid.lines) - 1) * laid.spacing + round(TEXT_DEPTH * laid.size) if laid.lines else 0


@dataclass(frozen=True)
class TextBox:
    """A block to draw centred in `area`, horizontally and vertically."""

    laid: Block
    area: Rect


@dataclass(frozen=True)
class ThemedLayout:
    regions: Regions
    texts: tuple[TextBox, ...]
    """Question (or card lines) first, then one per answer."""
    answers: tuple[Rect, ...] = ()
    """The answer boxes: the shape's own, or grown up into room the question left."""
    rtl: bool = False
    """A right-to-left question: boxes mirrored (the first answer at the top right), badges on the right."""
    letters: str = ANSWER_LETTERS
    """The badges' letters, in the question's script where it has its own (Arabic أبجد, Hebrew אבגד)."""


def answer_area(box: Rect, theme: Theme, size: int, rtl: bool = False) -> tuple[Rect, Rect]:
    """(badge, text area) inside an answer box: the letter's badge where reading starts (the left, or the
    right for right-to-left text), the text beside it.

    The text may come closer to the top and bottom edges than to the sides: a two-line answer
    still fits a box sized for one line at full size.
    """
    pad = max(2, round(theme.box.padding * box.h))
    badge = min(box.h - 2 * pad, round(size * 1.4))
    badge_rect = Rect(box.x + pad + pad // 2, box.y + (box.h - badge) // 2, badge, badge)
    text_x = badge_rect.right + pad
    inset = max(2, pad // 3)
    area = Rect(text_x, box.y + inset, box.right - pad - text_x, box.h - 2 * inset)
    if rtl:  # the same places, mirrored inside the box
        badge_rect = replace(badge_rect, x=box.x + box.right - badge_rect.right)
        area = replace(area, x=box.x + box.right - area.right)
    return badge_rect, area


RTL_LETTERS = {"Arabic": "أبجد", "Hebrew": "אבגד"}
"""Answer letters of right-to-left scripts, in their alphabet's own order (abjad, alef-bet)."""


def answer_letters(question: str) -> tuple[bool, str]:
    """(right to left, the badges' letters) for a question: its paragraph direction and its script's letters."""
    rtl = direction(question)
    if not rtl:
        return False, ANSWER_LETTERS
    script = next((grapheme_script(c) for c in question if unicodedata.bidirectional(c) in ("R", "AL")), "")
    return True, RTL_LETTERS.get(script, ANSWER_LETTERS)


def reading_header(reg: Regions, rtl: bool) -> Regions:
    """The header as the question reads: for right-to-left text the number's pill at the right and the ring at
    the left, mirrored across the band between them (clear of a top logo as before). The ring's arc still runs
    clockwise: a clock's hands turn the same way in every script."""
    if not rtl:
        return reg
    left, right = reg.number.x, reg.ring.right
    ring_x = left + right - reg.ring.right
    ring = replace(reg.ring, x=ring_x + ring_x % 2)  # even: overlaid on 4:2:0 frames
    return replace(reg, number=replace(reg.number, x=left + right - reg.number.right), ring=ring)


def mirrored(boxes: tuple[Rect, ...]) -> tuple[Rect, ...]:
    """The boxes mirrored across their own band (not the frame: a platform's safe zone need not be symmetric)."""
    left, right = min(b.x for b in boxes), max(b.right for b in boxes)
    return tuple(replace(b, x=left + right - b.right) for b in boxes)


def _fitted(text: str, fonts: Fonts, base: int, area: Rect, height: int, bold: bool) -> Block | None:
    chain = fonts.chain(bold, text)

    def attempt(scale: float) -> tuple[bool, Block]:
        size = max(min_size(height), round(base * scale))
        laid = block(text, chain, size=size, top=0, width=round(area.w / 0.9), bold=bold)
        return text_height(laid) <= area.h and laid.widest <= area.w, laid

    fits, laid = largest_fit(scales(base, height), attempt)
    return laid if fits else None


def layout_themed(spec: ClipSpec, profile: Profile, fonts: Fonts, theme: Theme) -> ThemedLayout:
    """Where every text of a themed clip goes, at the largest size that fits its region; DoesNotFit when none does.

    When the answers need more room than their boxes give, the boxes grow up into what the
    question leaves of its band.
    """
    reg = regions(profile, theme)
    h = profile.height
    if spec.kind == "card":
        return _card(spec, reg, fonts, h)
    rtl, letters = answer_letters(spec.question or "")
    reg = reading_header(reg, rtl)
    if question_picture(spec, theme):
        from engine.media.picture import picture_regions  # it lays out with this module's parts

        reg = picture_regions(reg, profile, theme, rtl)
    question = _fitted(spec.question or "", fonts, reg.question_size, reg.question, h, bold=True)
    boxes = mirrored(reg.answers) if rtl else reg.answers
    gap = round(0.025 * h)
    free_top = reg.question.y + (text_height(question) if question else reg.question.h) + gap
    if reg.picture is not None:  # answers never grow into a picture beside the question
        free_top = max(free_top, reg.picture.bottom + gap)
    choices = [boxes] + ([_boxes(boxes, free_top)] if free_top < boxes[0].y else [])
    laid: list[Block] = []
    areas: list[Rect] = []
    for choice in choices:
        areas = [answer_area(box, theme, reg.answer_size, rtl)[1] for box in choice]

        def attempt(scale: float, areas: list[Rect] = areas) -> tuple[bool, list[Block]]:
            # All answers at one size: the largest at which every one of them fits its box.
            size = max(min_size(h), round(reg.answer_size * scale))
            blocks = [
                block(a, fonts.chain(True, a), size=size, top=0, width=round(area.w / 0.9), bold=True)
                for a, area in zip(spec.answers, areas, strict=False)
            ]
            return all(_inside(b, box) for b, box in zip(blocks, areas, strict=False)), blocks

        fits, laid = largest_fit(scales(reg.answer_size, h), attempt)
        if fits and question is not None:
            band = Rect(reg.question.x, reg.question.y, reg.question.w, choice[0].y - gap - reg.question.y)
            texts = [_centred(question, band), *(_centred(b, area) for b, area in zip(laid, areas, strict=False))]
            return ThemedLayout(reg, tuple(texts), choice, rtl, letters)
        if fits:
            break
    # At the minimum size every answer fits its box or not on its own: each that does not is named.
    answers = [f"answers[{i}]" for i, (b, box) in enumerate(zip(laid, areas, strict=False)) if not _inside(b, box)]
    parts = (["question"] if question is None else []) + answers
    raise DoesNotFit(*(parts or ["answers[0]"]))


def _inside(laid: Block, area: Rect) -> bool:
    """Whether the block fits the area: a grapheme wider than it (an unligated ZWJ sequence) must shrink too."""
    return text_height(laid) <= area.h and laid.widest <= area.w


def _boxes(boxes: tuple[Rect, ...], top: int) -> tuple[Rect, ...]:
    """The same boxes, in the same rows and gaps, spread from `top` down to where the last one ends."""
    rows = sorted({box.y for box in boxes})
    gap = rows[1] - rows[0] - boxes[0].h if len(rows) > 1 else 0
    height = (boxes[-1].bottom - top - gap * (len(rows) - 1)) // len(rows)
    return tuple(Rect(box.x, top + rows.index(box.y) * (height + gap), box.w, height) for box in boxes)


def _centred(laid: Block, area: Rect) -> TextBox:
    top = area.y + (area.h - text_height(laid)) // 2
    return TextBox(replace(laid, top=top), area)


def _card(spec: ClipSpec, reg: Regions, fonts: Fonts, h: int) -> ThemedLayout:
    base = reg.question_size
    chain = fonts.chain(False, " ".join(spec.lines))

    def heights(laid: list[Block]) -> list[int]:
        """Each line's ink, with half a line's size of space above every one after the first."""
        return [text_height(b) + (b.size // 2 if i else 0) for i, b in enumerate(laid)]

    def attempt(scale: float) -> tuple[bool, list[Block]]:
        size = max(min_size(h), round(base * scale))
        laid = [block(t, chain, size=size, top=0, width=round(reg.card.w / 0.9)) for t in spec.lines]
        return sum(heights(laid)) <= reg.card.h and all(b.widest <= reg.card.w for b in laid), laid

    fits, laid = largest_fit(scales(base, h), attempt)
    if not fits:
        raise DoesNotFit("lines")
    y, placed = reg.card.y + (reg.card.h - sum(heights(laid))) // 2, []
    for i, b in enumerate(laid):
        y += b.size // 2 if i else 0
        placed.append(TextBox(replace(b, top=y), reg.card))
        y += text_height(b)
    return ThemedLayout(reg, tuple(placed))


# --- drawing ---


def rgba(colour: str, alpha: float = 1.0) -> tuple[int, int, int, int]:
    """#RRGGBB or #RRGGBBAA as RGBA, with its alpha scaled by `alpha`."""
    a = int(colour[7:9], 16) if len(colour) == 9 else 255
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16), round(a * alpha)


def luminance(colour: str) -> float:
    r, g, b, _ = rgba(colour)
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


def on(colour: str) -> str:
    """Text that reads on `colour`: near-black on light colours, white on dark ones."""
    return "#14172B" if luminance(colour) > 0.55 else "#FFFFFF"


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two colours, from 1 (the same) to 21 (black on white)."""
    light, dark = sorted((luminance_wcag(a), luminance_wcag(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def luminance_wcag(colour: str) -> float:
    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b, _ = rgba(colour)
    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)


def clip_theme(theme: Theme, spec: ClipSpec) -> Theme:
    """The theme as one clip is drawn with it: a card or question with its own `background` colour keeps
    that colour, and its text turns dark or light where the theme's text would not read on it (under 3:1)."""
    if not spec.own_background:
        return theme
    text = theme.text if contrast(theme.text, spec.background) >= 3 else on(spec.background)
    return replace(theme, background=Background(colour=spec.background), text=text)


def background(theme: Theme, width: int, height: int, image: Path | None = None) -> Image.Image:
    """The clip's own image or the theme's (fetched to `image`), covering the frame; else its gradient or colour."""
    if image is not None:
        with Image.open(image) as picture:
            return ImageOps.fit(upright(picture).convert("RGB"), (width, height), Image.Resampling.LANCZOS)
    bg = theme.background
    if len(bg.gradient) == 2:
        return gradient(bg.gradient[0], bg.gradient[1], bg.angle, width, height)
    return Image.new("RGB", (width, height), rgba(bg.colour or "#000000")[:3])


def gradient(start: str, end: str, angle: float, width: int, height: int) -> Image.Image:
    """A linear gradient from `start` to `end` along `angle` degrees (0: left to right, 90: top to bottom).

    Drawn once per worker and copied: a clip with motion or a transition draws its background up to three times,
    and the turn at 1080x1920 costs half a second."""
    return _gradient(start, end, angle, width, height).copy()


@lru_cache(maxsize=4)
def _gradient(start: str, end: str, angle: float, width: int, height: int) -> Image.Image:
    side = math.ceil(math.hypot(width, height))
    # linear_gradient runs top to bottom (90 degrees); turned by 90 - angle it runs along `angle`.
    ramp = Image.linear_gradient("L").resize((side, side), Image.Resampling.BICUBIC)
    ramp = ramp.rotate(90 - angle, resample=Image.Resampling.BICUBIC)
    left, top = (side - width) // 2, (side - height) // 2
    mask = ramp.crop((left, top, left + width, top + height))
    size = (width, height)
    return Image.composite(Image.new("RGB", size, rgba(end)[:3]), Image.new("RGB", size, rgba(start)[:3]), mask)


def _box(draw: ImageDraw.ImageDraw, rect: Rect, theme: Theme, fill: str, border: str | None, h: int) -> None:
    radius = round(theme.box.radius * rect.h)
    width = max(1, round(theme.box.border * h)) if border and theme.box.border > 0 else 0
    draw.rounded_rectangle(
        (rect.x, rect.y, rect.right - 1, rect.bottom - 1), radius=radius, fill=rgba(fill),
        outline=rgba(border) if border and width else None, width=width,
    )  # fmt: skip


def _text(layer: Image.Image, box: TextBox, colour: str) -> None:
    laid = box.laid
    for i, line in enumerate(laid.lines):
        baseline = laid.top + i * laid.spacing + laid.size
        _draw_line(layer, line, box.area.x + (box.area.w - line.width) / 2, baseline, laid.size, colour)


def _label(
    draw: ImageDraw.ImageDraw, fonts: Fonts, text: str, centre: tuple[float, float], size: int, colour: str
) -> None:
    chain = fonts.chain(True, text)
    font = (chain.face_for(text) or chain.faces[0]).font(size)  # an Arabic or Hebrew letter: its script's face
    draw.text(centre, text, font=font, fill=rgba(colour), anchor="mm")


def _check(draw: ImageDraw.ImageDraw, rect: Rect, colour: str) -> None:
    """A drawn check mark: no font needs to have one."""
    x, y, s = rect.x, rect.y, rect.w
    points = [(x + 0.27 * s, y + 0.52 * s), (x + 0.43 * s, y + 0.68 * s), (x + 0.74 * s, y + 0.34 * s)]
    draw.line(points, fill=rgba(colour), width=max(2, round(s * 0.11)), joint="curve")


Parts = frozenset[str]
STATIC, QUESTION, HIGHLIGHT = "static", "question", "highlight"
"""Parts of a themed picture: what never moves (number, tracks, logo), the question's text, and a reveal's
highlighted answer; each answer's box and text (a reveal's dimmed ones, and its correct one as the question
showed it) is `answer_part(i)`."""
ALL_PARTS: Parts = frozenset((STATIC, QUESTION, HIGHLIGHT, *(f"answer{i}" for i in range(4))))


def answer_part(index: int) -> str:
    return f"answer{index}"


def still_frame(
    spec: ClipSpec,
    profile: Profile,
    fonts: Fonts,
    theme: Theme,
    number: int = 0,
    total: int = 0,
    *,
    image: Path | None = None,
    logo: Path | None = None,
    backdrop: bool = True,
    parts: Parts = ALL_PARTS,
    picture: Path | None = None,
) -> Image.Image:
    """The whole picture of a card, a question (without its countdown) or a reveal, in RGB.

    Without `backdrop`, everything but the background, in RGBA over transparency: to overlay on a moving one.
    `parts` draws some of it only (`STATIC`, `QUESTION`, `answer_part(i)`, `HIGHLIGHT`): what an entrance or an
    exit moves.
    A reveal without its `HIGHLIGHT` draws the correct answer's box as the question showed it.
    `picture`, fetched, fills a question's picture slot, with its text (a reveal's, with what never moves).
    """
    w, h = profile.width, profile.height
    lay = layout_themed(spec, profile, fonts, theme)
    reg = lay.regions
    frame = background(theme, w, h, image).convert("RGBA") if backdrop else Image.new("RGBA", (w, h), (0, 0, 0, 0))
    shapes = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(shapes)
    glyphs = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    gdraw = ImageDraw.Draw(glyphs)
    plain = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    """Text on the highlight: no shadow there."""
    if spec.kind == "card":
        for box in lay.texts if STATIC in parts else ():
            _text(glyphs, box, theme.text)
    else:
        reveal = spec.kind == "reveal"
        if QUESTION in parts:
            _text(glyphs, lay.texts[0], theme.text)
            if picture is not None and reg.picture is not None:
                from engine.media.picture import corner_radius, draw_picture

                draw_picture(shapes, picture, reg.picture, corner_radius(reg, theme))
        if number and total and STATIC in parts:
            _number(draw, fonts, reg, theme, f"{number}/{total}", lay.rtl)
        for i, (rect, box) in enumerate(zip(lay.answers, lay.texts[1:], strict=False)):
            correct = reveal and i == spec.correct
            badge, _ = answer_area(rect, theme, reg.answer_size, lay.rtl)
            if correct and HIGHLIGHT in parts:
                _box(draw, rect, theme, theme.highlight, theme.highlight, h)
                draw.ellipse((badge.x, badge.y, badge.right, badge.bottom), fill=rgba(on(theme.highlight)))
                _check(draw, badge, theme.highlight)
                _text(plain, box, on(theme.highlight))
                continue
            if answer_part(i) not in parts:
                continue
            faded = 0.45 if reveal and not correct else 1.0
            _box(draw, rect, theme, _faded(theme.box_fill, faded), _faded(theme.box_border, faded), h)
            ring_w = max(2, round(badge.w * 0.07))
            accent = theme.dim if reveal and not correct else theme.accent
            draw.ellipse((badge.x, badge.y, badge.right, badge.bottom), outline=rgba(accent), width=ring_w)
            letter = lay.letters[i]
            _label(gdraw, fonts, letter, (badge.x + badge.w / 2, badge.y + badge.h / 2), round(badge.h * 0.5), accent)
            _text(glyphs, box, theme.dim if reveal and not correct else theme.text)
        if spec.kind == "question" and STATIC in parts:
            track = reg.bar
            draw.rounded_rectangle(
                (track.x, track.y, track.right - 1, track.bottom - 1), radius=track.h // 2,
                fill=rgba(theme.text, 0.18),
            )  # fmt: skip
            draw.ellipse(_ring_box(reg.ring, 0), outline=rgba(theme.text, 0.18), width=_ring_width(reg.ring))
    if luminance(theme.text) > 0.5:
        glyphs = with_shadow(glyphs, max(1, h // 360))
    frame = Image.alpha_composite(Image.alpha_composite(Image.alpha_composite(frame, shapes), glyphs), plain)
    if logo is not None and reg.logo is not None and STATIC in parts:
        _logo(frame, logo, reg.logo, theme)
    return frame.convert("RGB") if backdrop else frame


def _faded(colour: str, alpha: float) -> str:
    r, g, b, a = rgba(colour, alpha)
    return f"#{r:02X}{g:02X}{b:02X}{a:02X}"


def _number(draw: ImageDraw.ImageDraw, fonts: Fonts, reg: Regions, theme: Theme, text: str, rtl: bool) -> None:
    """The question's number, "3/10", in a pill of the accent colour, at the side its region's reading starts."""
    pill = reg.number
    size = round(pill.h * 0.55)
    font = fonts.chain(True, text).faces[0].font(size)
    width = min(pill.w, round(font.getlength(text) + pill.h))
    x = pill.right - 1 - width if rtl else pill.x
    draw.rounded_rectangle((x, pill.y, x + width, pill.bottom), radius=pill.h // 2, fill=rgba(theme.accent))
    draw.text((x + width / 2, pill.y + pill.h / 2), text, font=font, fill=rgba(on(theme.accent)), anchor="mm")


def _logo(frame: Image.Image, path: Path, rect: Rect, theme: Theme) -> None:
    with Image.open(path) as picture:
        mark = ImageOps.contain(upright(picture).convert("RGBA"), (rect.w, rect.h), Image.Resampling.LANCZOS)
    x = rect.x if theme.logo and theme.logo.corner.endswith("left") else rect.right - mark.width
    frame.alpha_composite(mark, (x, rect.y + (rect.h - mark.height) // 2))


def _ring_width(ring: Rect) -> int:
    return max(3, round(ring.w * 0.08))


def _ring_box(ring: Rect, origin: int) -> tuple[int, int, int, int]:
    inset = _ring_width(ring) // 2 + 1
    x, y = (0, 0) if origin == 1 else (ring.x, ring.y)
    return x + inset, y + inset, x + ring.w - inset - 1, y + ring.h - inset - 1


def countdown_rings(seconds: float, profile: Profile, fonts: Fonts, theme: Theme) -> list[tuple[float, Image.Image]]:
    """(start time, image) of each second a question counts down: the number in a ring that empties."""
    ring = regions(profile, theme).ring
    whole = math.ceil(seconds)
    frames = []
    for n in range(whole, 0, -1):
        image = Image.new("RGBA", (ring.w, ring.h), (0, 0, 0, 0))
        draw = ImageDraw.Draw(image)
        draw.arc(_ring_box(ring, 1), -90, -90 + 360 * n / whole, fill=rgba(theme.accent), width=_ring_width(ring))
        _label(draw, fonts, str(n), (ring.w / 2, ring.h / 2), round(ring.h * 0.42), theme.text)
        frames.append((max(0.0, seconds - n), image))
    return frames


@lru_cache(maxsize=64)
def installed_font(family: str, bold: bool) -> Path | None:
    """A family name's upright face of normal width (weight 80, regular, or 200, bold), as fontconfig knows it;
    None when no such family is installed. By weight, not style name: DejaVu calls its regular face "Book"."""
    weight = 200 if bold else 80
    try:
        found = subprocess.run(
            ["fc-list", "--format", "%{file}\\n", f":family={family}:weight={weight}:slant=0:width=100"],
            capture_output=True, text=True, timeout=10, check=False,
        ).stdout.split()  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    files = sorted(Path(f) for f in found if f.endswith((".ttf", ".otf")))
    return files[0] if files else None


def font_path(name: str | None, bold: bool) -> Path | None:
    if name is None:
        return None
    if name.startswith("/"):
        return Path(name) if Path(name).is_file() else None
    return installed_font(name, bold)


def theme_fonts(theme: Theme, worker: Fonts) -> Fonts:
    """The theme's faces where installed, else the worker's (RENDER_FONT, RENDER_FONT_BOLD)."""
    return replace(
        worker,
        regular=font_path(theme.font, False) or worker.regular,
        bold=font_path(theme.font_bold, True) or worker.bold,
    )
