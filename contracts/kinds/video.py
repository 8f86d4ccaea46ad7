"""The `video` clip: a video asset trimmed to `in`..`out` seconds, fitted to the profile (`engine.kinds.video`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from contracts.fields import URI, Choice, Colour, Number, Text, _fail, _Model, _Spoken, default_of
from contracts.kinds import JobDefaults, KindContract, file_label, register, spoken
from contracts.rules import MAX_CLIP_SECONDS, MIN_CLIP_SECONDS, ClipSpec

MAX_ASSET_SECONDS = 86_400.0
"""How far into a video asset `in` and `out` may reach."""


class VideoClip(_Model, _Spoken):
    """A video asset, trimmed to `in`..`out` seconds, scaled to the profile, then padded or cropped."""

    kind: Literal["video"]
    source: URI = Field(description="the video file: file:// or s3:// inside an asset root")
    start: Number(0.0, MAX_ASSET_SECONDS) = Field(  # type: ignore[valid-type]
        default=default_of(ClipSpec, "trim_in"), alias="in", description="seconds into the asset where the clip starts"
    )
    out: Number(MIN_CLIP_SECONDS, MAX_ASSET_SECONDS) = Field(  # type: ignore[valid-type]
        description="seconds into the asset where the clip ends; the clip lasts out - in"
    )
    fit: Choice("pad", "crop") = Field(  # type: ignore[valid-type]
        default=default_of(ClipSpec, "fit"),
        description="pad: the whole picture, bars in `background`; crop: fill the frame",
    )
    audio: Choice("keep", "duck", "drop") = Field(  # type: ignore[valid-type]
        default=default_of(ClipSpec, "audio_mode"),
        description="the asset's sound: as is, lowered by 12 dB under narration, or none",
    )
    background: Colour = default_of(ClipSpec, "background")
    narration: Text() | None = None  # type: ignore[valid-type]

    @field_validator("out")
    @classmethod
    def _after_in(cls, out: float, info: ValidationInfo) -> float:
        start = info.data.get("start", 0.0)
        if out - start < MIN_CLIP_SECONDS:
            _fail(f"must be at least {MIN_CLIP_SECONDS:g} s after in ({start:g}), got {out:g}")
        if out - start > MAX_CLIP_SECONDS:
            _fail(f"makes a clip of {out - start:g} s from in ({start:g}); the limit is {MAX_CLIP_SECONDS:g} s")
        return out


def specs(clip: Any, job: JobDefaults) -> list[ClipSpec]:
    return [
        ClipSpec(
            kind="video",
            duration=clip.out - clip.start,
            video=clip.source,
            trim_in=clip.start,
            fit=clip.fit,
            audio_mode=clip.audio,
            background=clip.background,
            narration=clip.narration,
            **spoken(clip, job),
        )
    ]


def label(spec: ClipSpec) -> str:
    return file_label("video", spec.video, spec.duration)


CONTRACT = register(
    KindContract(
        kind="video",
        model=VideoClip,
        specs=specs,
        label=label,
        assets={"source": "video"},  # its `audio` is a mode (keep, duck, drop), not a file
        order=3,
    )
)
