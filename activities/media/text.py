"""Text layout: wrap user text to the frame with the real font, then hand each line
to drawtext through a file with `expansion=none`, so any text renders literally.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import ImageFont


@lru_cache(maxsize=64)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def wrap(text: str, font: Path, size: int, max_width: float) -> list[str]:
    """Greedy word wrap measured with the font; words wider than a line are split."""
    face = _font(str(font), size)
    lines: list[str] = []
    for paragraph in text.split("\n"):
        current = ""
        for word in paragraph.split(" "):
            candidate = f"{current} {word}" if current else word
            if face.getlength(candidate) <= max_width:
                current = candidate
                continue
            if current:
                lines.append(current)
            current = ""
            for char in word:
                if face.getlength(current + char) > max_width and current:
                    lines.append(current)
                    current = ""
                current += char
        lines.append(current)
    return lines


@dataclass(frozen=True)
class TextLine:
    text: str
    y: int
    size: int
    colour: str = "white"
    bold: bool = False
    expand: bool = False
    """Only our own countdown text uses drawtext's %{...} expansion; user text never does."""


def block(
    text: str,
    *,
    font: Path,
    size: int,
    top: int,
    width: int,
    colour: str = "white",
    bold: bool = False,
    max_lines: int = 6,
) -> tuple[list[TextLine], int]:
    """Lay out `text` centred from `top`; returns the lines and the y below them."""
    spacing = int(size * 1.25)
    wrapped = wrap(text, font, size, width * 0.9)[:max_lines]
    lines = [TextLine(line, top + i * spacing, size, colour, bold) for i, line in enumerate(wrapped)]
    return lines, top + len(wrapped) * spacing
