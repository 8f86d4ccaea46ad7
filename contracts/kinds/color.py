"""The `color` clip: a solid colour for `duration` seconds, with an optional sound file.

It is a still picture, so it costs the budget's plain rate per frame and renders as one frame repeated
(`engine.kinds.color`). Its spec holds the colour in `ClipSpec.background`; a theme does not restyle it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from contracts.fields import URI, Colour, Duration, _Model
from contracts.kinds import JobDefaults, KindContract, register
from contracts.rules import ClipSpec


class ColorClip(_Model):
    """A solid colour filling the frame, with an optional sound file (no narration, no text)."""

    kind: Literal["color"]
    color: Colour = Field(description="the colour filling the frame")
    duration: Duration
    audio: URI | None = None


def specs(clip: Any, job: JobDefaults) -> list[ClipSpec]:
    return [ClipSpec(kind="color", duration=clip.duration, background=clip.color, audio=clip.audio)]


def label(spec: ClipSpec) -> str:
    return f"color {spec.background} · {spec.duration:g} s"


CONTRACT = register(KindContract(kind="color", model=ColorClip, specs=specs, label=label, assets={"audio": "audio"}))
