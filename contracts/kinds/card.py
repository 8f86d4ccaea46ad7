"""The `card` clip: a still card of lines of text on a colour or an image, with optional narration or audio.

Under a theme its text is laid out by the theme (`engine.media.themed`); without one, drawn on the card's
colour or image (`engine.kinds.card`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from contracts.fields import URI, Colour, Duration, Line, Text, _items, _Model, _Spoken, default_of
from contracts.kinds import JobDefaults, KindContract, register, shorten, spoken
from contracts.rules import MAX_LINES, ClipSpec


class CardClip(_Model, _Spoken):
    """A still card: background colour or image, lines of text, optional narration or audio."""

    kind: Literal["card"]
    duration: Duration
    background: Colour = default_of(ClipSpec, "background")
    image: URI | None = None
    audio: URI | None = None
    narration: Text() | None = None  # type: ignore[valid-type]
    lines: Annotated[list[Line], BeforeValidator(_items(0, MAX_LINES)), Field(max_length=MAX_LINES)] = []  # noqa: RUF012


def specs(clip: Any, job: JobDefaults) -> list[ClipSpec]:
    return [
        ClipSpec(
            kind="card",
            duration=clip.duration,
            background=clip.background,
            image=clip.image,
            audio=clip.audio,
            narration=clip.narration,
            lines=tuple(clip.lines),
            own_background="background" in clip.model_fields_set,
            **spoken(clip, job),
        )
    ]


def label(spec: ClipSpec) -> str:
    first = spec.lines[0] if spec.lines else ""
    return f'card "{shorten(first)}" · {spec.duration:g} s'


CONTRACT = register(
    KindContract(
        kind="card",
        model=CardClip,
        specs=specs,
        label=label,
        assets={"image": "image", "audio": "audio"},
        order=0,
    )
)
