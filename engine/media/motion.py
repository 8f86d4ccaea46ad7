"""Entrances and exits: the question, its answers (one after another) and a reveal's highlight enter as the
theme says, and the question's or reveal's parts leave the same way, backwards, in the clip's last frames.

An entrance is the clip's first few frames, each drawn by Pillow from the parts of the still picture
moved by where frame n is in it, and nothing else: frame n's picture follows from n alone, so a render
resumed at any frame draws what an uninterrupted one draws. Only the box the parts can reach (`reach`) is
drawn: outside it every frame is the still picture, which the clip's graph shows beneath. An exit is the same
for the last few frames, mirrored: frame n of a clip of N frames shows each leaving part as an entrance would
show it at frame N - 1 - n, so the last frame is the picture without them. Between the two the clip is the still
picture, repeated, exactly as without motion.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property

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
POP_PEAK = 1.06
"""At least the most `_back_out` reaches (1.053): how far past its size a pop's overshoot can draw."""


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

    @cached_property
    def premultiplied(self) -> Image.Image:
        """The part's picture premultiplied by its alpha (RGBa), as Pillow scales RGBA: made once for all the
        frames of a pop."""
        return self.layer.image.convert("RGBa")


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


def _fade(part: Part, p: float, width: int) -> Layer:
    layer = part.layer
    return Layer(_faded(layer.image, _ease_out(p)), layer.x, layer.y)


def _slide(part: Part, p: float, width: int) -> Layer:
    layer = part.layer
    e = _ease_out(p)
    return Layer(_faded(layer.image, min(1.0, 2 * p)), layer.x - round((1 - e) * SLIDE * width), layer.y)


def _wipe(part: Part, p: float, width: int) -> Layer:
    layer = part.layer
    w, h = layer.image.size
    return Layer(layer.image.crop((0, 0, max(1, round(w * _ease_out(p))), h)), layer.x, layer.y)


def _pop(part: Part, p: float, width: int) -> Layer:
    layer = part.layer
    scale = POP_FROM + (1 - POP_FROM) * _back_out(p)
    w, h = layer.image.size
    sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
    # Scaled premultiplied, as Pillow scales RGBA, from the part premultiplied once for all its frames.
    image = part.premultiplied.resize((sw, sh), Image.Resampling.BILINEAR).convert("RGBA")
    return Layer(_faded(image, min(1.0, 2.5 * p)), layer.x + (w - sw) // 2, layer.y + (h - sh) // 2)


MOTIONS: dict[str, Callable[[Part, float, int], Layer]] = {"fade": _fade, "slide": _slide, "pop": _pop}


def _mirrored(move: Callable[[Part, float, int], Layer]) -> Callable[[Part, float, int], Layer]:
    """`move` as a mirror shows it: the part flipped across the frame, moved, and flipped back."""

    def moved(part: Part, p: float, width: int) -> Layer:
        layer = part.layer
        flipped = Layer(ImageOps.mirror(layer.image), width - layer.x - layer.image.width, layer.y)
        done = move(replace(part, layer=flipped), p, width)
        return Layer(ImageOps.mirror(done.image), width - done.x - done.image.width, done.y)

    return moved


Box = tuple[int, int, int, int]
"""(left, top, right, bottom) of a frame, right and bottom excluded."""


def reach(parts: list[Part], motion: str, width: int, height: int) -> Box:
    """The box every frame of the parts' motion draws in, whatever the frame: each part's place, a slide's start
    beside it (left; right when mirrored) and a pop's overshoot, with a margin; on even pixels (so its YUV 4:2:0
    conversion lines up with the whole frame's) and inside the frame. Outside it every moving frame is the still
    picture."""
    boxes = []
    for part in parts:
        image, x, y = part.layer.image, part.layer.x, part.layer.y
        w, h = image.size
        grow = 2
        if motion == "pop":
            grow += math.ceil(max(w, h) * (POP_FROM + (1 - POP_FROM) * POP_PEAK - 1) / 2)
        slide = round(SLIDE * width) if motion == "slide" and not part.highlight else 0
        left, right = (x - grow, x + w + grow + slide) if part.mirrored else (x - grow - slide, x + w + grow)
        boxes.append((left, y - grow, right, y + h + grow))
    if not boxes:
        return 0, 0, width, height
    left, top = max(0, min(b[0] for b in boxes)), max(0, min(b[1] for b in boxes))
    right, bottom = min(width, max(b[2] for b in boxes)), min(height, max(b[3] for b in boxes))
    return left - left % 2, top - top % 2, min(width, right + right % 2), min(height, bottom + bottom % 2)


@dataclass(frozen=True)
class Stage:
    """What the frames of a clip's motion are drawn on: the still picture inside `box`, once. Over a background
    (RGB) a part is blended in with its alpha as the mask, the picture kept in RGB; over transparency (RGBA) it is
    composited."""

    base: Image.Image
    box: Box
    width: int
    """The whole frame's: a slide's distance is a share of it."""
    settled: dict[tuple[bool, ...], Image.Image] = field(default_factory=dict, compare=False)
    """The base with the parts in place before the first that moves, by which of them are there: the frames of
    an answer's entrance or exit share them."""


def stage(still: Image.Image, box: Box | None = None) -> Stage:
    """`still` (every part that does not move), to draw frames on; inside `box` only (None: the whole frame)."""
    box = box or (0, 0, still.width, still.height)
    return Stage(still.crop(box), box, still.width)


def _draw(frame: Image.Image, layer: Layer, box: Box) -> None:
    # Pillow places nothing left of or above the box: a part starting there is cut where it leaves.
    x, y = layer.x - box[0], layer.y - box[1]
    left, top = max(0, -x), max(0, -y)
    if frame.mode == "RGBA":
        frame.alpha_composite(layer.image, (x + left, y + top), (left, top))
        return
    image = layer.image.crop((left, top, *layer.image.size)) if left or top else layer.image
    frame.paste(image, (x + left, y + top), image)


def picture(on: Stage, parts: list[Part], motion: str, fps: int, n: int, frames: int = 0) -> Image.Image:
    """Frame n of a clip of `frames` frames inside the stage's box: the still picture with each part where its
    motion has it at that frame. In the mode of the still (RGB over a background, RGBA without)."""
    moved = MOTIONS[motion]
    progress = [part.progress(n, fps, frames) for part in parts]
    # The parts before the first moving one are either in place or not there: drawn once for every frame alike.
    still = next((i for i, p in enumerate(progress) if 0 < p < 1), len(parts))
    key = tuple(p >= 1 for p in progress[:still])
    if key not in on.settled:
        base = on.base.copy()
        for part, there in zip(parts, key, strict=False):
            if there:
                _draw(base, part.layer, on.box)
        on.settled[key] = base
    frame = on.settled[key].copy()
    for part, p in zip(parts[still:], progress[still:], strict=True):
        if p <= 0:
            continue
        how = _wipe if part.highlight and motion == "slide" else moved
        if part.mirrored and motion == "slide":  # fading and popping look the same in a mirror
            how = _mirrored(how)
        _draw(frame, part.layer if p >= 1 else how(part, p, on.width), on.box)
    return frame


def moving_frames(begins: dict[str, float], ends: dict[str, float], fps: int, frames: int) -> tuple[int, int]:
    """(the entrance's last frame + 1, the exit's first frame) of a clip of `frames` frames: the frames between
    are the still picture. The exit starts after the entrance even where the two would overlap."""
    entered = min(frames, entrance_frames(list(begins.values()), fps))
    return entered, max(entered, frames - entrance_frames(list(ends.values()), fps))
