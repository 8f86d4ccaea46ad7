"""Entrances and exits: the question, its answers (one after another) and a reveal's highlight enter as the
theme says, and the question's or reveal's parts leave the same way, backwards, in the clip's last frames.

An entrance is the clip's first few frames, each drawn whole by Pillow from the parts of the still picture
moved by where frame n is in it, and nothing else: frame n's picture follows from n alone, so a render
resumed at any frame draws what an uninterrupted one draws. An exit is the same for the last few frames,
mirrored: frame n of a clip of N frames shows each leaving part as an entrance would show it at frame
N - 1 - n, so the last frame is the picture without them. Between the two the clip is the still
picture, repeated, exactly as without motion.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image, ImageOps

from engine.media.layers import Layer

ENTER = 0.4
"""Seconds one part takes to enter."""
ANSWERS_FROM = 0.15
STAGGER = 0.08
"""A question's answers start entering 0.15 s in, each 0.08 s after the one before it."""
SLIDE = 0.06
"""How far left of its place a sliding part starts, as a fraction of the frame width: sideways, so the last
answer never crosses the progress bar just below it. A highlight slides in as a wipe from the left instead
(moved, its translucent text would double the answer's). A right-to-left question's parts come from the right."""
POP_FROM = 0.8
"""The size a popping part starts at; it overshoots a little before it settles."""


@dataclass(frozen=True)
class Part:
    """A moving part of the picture, drawn once, and when it starts entering (seconds into the clip; -inf:
    there from the first frame) and leaving (`leave`: seconds before the clip's end it has left by, mirrored
    like `start`; None: it stays)."""

    layer: Layer
    start: float
    highlight: bool = False
    leave: float | None = None
    mirrored: bool = False
    """A right-to-left question's part: it slides in from the right, and a highlight wipes in from the right,
    the side its badge is on and reading starts."""

    def progress(self, n: int, fps: int, frames: int) -> float:
        """How far in frame n has the part: 0 or less, not there; 1 or more, in its place."""
        p = (n / fps - self.start) / ENTER
        if self.leave is not None:
            p = min(p, ((frames - 1 - n) / fps - self.leave) / ENTER)
        return p


def starts(kind: str, answers: int) -> dict[str, float]:
    """When each moving part of a question or reveal starts entering; a card has none."""
    if kind == "question":
        return {"question": 0.0, **{f"answer{i}": round(ANSWERS_FROM + i * STAGGER, 6) for i in range(answers)}}
    if kind == "reveal":
        return {"highlight": 0.0}
    return {}


def leaves(kind: str, answers: int, correct: int = -1) -> dict[str, float]:
    """When each part of a question or reveal has left, mirrored like `starts`: the question last, after its
    answers from the last to the first; a reveal's correct answer leaves with its highlight. A card has none."""
    if kind not in ("question", "reveal"):
        return {}
    times = starts("question", answers)
    if kind == "reveal" and 0 <= correct < answers:
        times["highlight"] = times[f"answer{correct}"]
    return times


def entrance_frames(begins: list[float], fps: int) -> int:
    """How many frames the entrance lasts: until the last part is in place."""
    return math.ceil(round((max(begins) + ENTER) * fps, 6)) if begins else 0


def _ease_out(p: float) -> float:
    return 1 - (1 - p) ** 3


def _back_out(p: float) -> float:
    """Past 1 and back: a pop's size overshoots by about 5 %."""
    c = 1.2
    return 1 + (c + 1) * (p - 1) ** 3 + c * (p - 1) ** 2


def _faded(image: Image.Image, alpha: float) -> Image.Image:
    if alpha >= 1:
        return image
    faded = image.copy()
    faded.putalpha(image.getchannel("A").point(lambda a: round(a * alpha)))
    return faded


def _fade(layer: Layer, p: float, width: int) -> Layer:
    return Layer(_faded(layer.image, _ease_out(p)), layer.x, layer.y)


def _slide(layer: Layer, p: float, width: int) -> Layer:
    e = _ease_out(p)
    return Layer(_faded(layer.image, min(1.0, 2 * p)), layer.x - round((1 - e) * SLIDE * width), layer.y)


def _wipe(layer: Layer, p: float, width: int) -> Layer:
    w, h = layer.image.size
    return Layer(layer.image.crop((0, 0, max(1, round(w * _ease_out(p))), h)), layer.x, layer.y)


def _pop(layer: Layer, p: float, width: int) -> Layer:
    scale = POP_FROM + (1 - POP_FROM) * _back_out(p)
    w, h = layer.image.size
    sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
    image = layer.image.resize((sw, sh), Image.Resampling.BICUBIC)
    return Layer(_faded(image, min(1.0, 2.5 * p)), layer.x + (w - sw) // 2, layer.y + (h - sh) // 2)


MOTIONS: dict[str, Callable[[Layer, float, int], Layer]] = {"fade": _fade, "slide": _slide, "pop": _pop}


def _mirrored(move: Callable[[Layer, float, int], Layer]) -> Callable[[Layer, float, int], Layer]:
    """`move` as a mirror shows it: the layer flipped across the frame, moved, and flipped back."""

    def moved(layer: Layer, p: float, width: int) -> Layer:
        flipped = move(Layer(ImageOps.mirror(layer.image), width - layer.x - layer.image.width, layer.y), p, width)
        return Layer(ImageOps.mirror(flipped.image), width - flipped.x - flipped.image.width, flipped.y)

    return moved


def picture(still: Image.Image, parts: list[Part], motion: str, fps: int, n: int, frames: int = 0) -> Image.Image:
    """Frame n of a clip of `frames` frames: `still` (every part that does not move) with each part where its
    motion has it at that frame. In the mode of `still` (RGB over a background, RGBA without)."""
    moved = MOTIONS[motion]
    frame = still.convert("RGBA")
    for part in parts:
        p = part.progress(n, fps, frames)
        if p <= 0:
            continue
        how = _wipe if part.highlight and motion == "slide" else moved
        if part.mirrored and motion == "slide":  # fading and popping look the same in a mirror
            how = _mirrored(how)
        layer = part.layer if p >= 1 else how(part.layer, p, still.width)
        # Pillow places nothing left of or above the frame: a part starting there is cut where it leaves.
        left, top = max(0, -layer.x), max(0, -layer.y)
        frame.alpha_composite(layer.image, (layer.x + left, layer.y + top), (left, top))
    return frame.convert(still.mode)


def entrance(still: Image.Image, parts: list[Part], motion: str, fps: int, first: int = 0) -> list[Image.Image]:
    """Frames `first`.. of the entrance (of parts that never leave)."""
    return [picture(still, parts, motion, fps, n) for n in range(first, entrance_frames([p.start for p in parts], fps))]


def moving_frames(begins: dict[str, float], ends: dict[str, float], fps: int, frames: int) -> tuple[int, int]:
    """(the entrance's last frame + 1, the exit's first frame) of a clip of `frames` frames: the frames between
    are the still picture. The exit starts after the entrance even where the two would overlap."""
    entered = min(frames, entrance_frames(list(begins.values()), fps))
    return entered, max(entered, frames - entrance_frames(list(ends.values()), fps))
