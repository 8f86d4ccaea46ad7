"""The `image` clip: a still image filling the frame with a slow zoom and pan (`engine.kinds.image`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from contracts.fields import URI, Choice, Duration, Number, Text, _items, _Model, _Spoken, default_of
from contracts.kinds import JobDefaults, KindContract, file_label, register, spoken
from contracts.rules import ClipSpec

MAX_ZOOM = 3.0


class ImageClip(_Model, _Spoken):
    """A still image filling the frame, with a slow zoom and pan (Ken Burns)."""

    kind: Literal["image"]
    source: URI = Field(description="the image file: file:// or s3:// inside an asset root")
    duration: Duration
    zoom: Annotated[
        list[Number(1.0, MAX_ZOOM)],  # type: ignore[valid-type]
        BeforeValidator(_items(2, 2)),
        Field(min_length=2, max_length=2, description="zoom at the first and the last frame"),
    ] = [1.0, 1.15]  # noqa: RUF012
    pan: Choice("center", "left", "right", "up", "down") = Field(  # type: ignore[valid-type]
        default=default_of(ClipSpec, "pan"), description="where the view drifts as it zooms"
    )
    audio: URI | None = None
    narration: Text() | None = None  # type: ignore[valid-type]


def specs(clip: Any, job: JobDefaults) -> list[ClipSpec]:
    return [
        ClipSpec(
            kind="image",
            duration=clip.duration,
            image=clip.source,
            zoom=tuple(clip.zoom),
            pan=clip.pan,
            audio=clip.audio,
            narration=clip.narration,
            **spoken(clip, job),
        )
    ]


def label(spec: ClipSpec) -> str:
    return file_label("image", spec.image, spec.duration)


CONTRACT = register(
    KindContract(
        kind="image",
        model=ImageClip,
        specs=specs,
        label=label,
        assets={"audio": "audio", "source": "image"},
        order=4,
    )
)
