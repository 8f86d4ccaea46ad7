"""Clip kinds as plug-ins: a kind is a module in this package that registers its `KindContract`.

A kind's contract is everything about it the service decides without the engine: the job file's model
(the pydantic class the `clips` union picks by `kind`), how a validated clip becomes `ClipSpec`s, its label
in progress and the Web UI, its asset fields (for the pre-flight checks), its render cost for the budget and
its frame count. The kind's renderer is the same-named module of `engine.kinds`; tests/test_kinds.py checks
that both registries list the same kinds. Every kind lives here, the first five (card, question, recipe,
video, image) as much as the later ones: `contracts.job_models`, `contracts.plan` and `contracts.budget` ask
this registry and name no kind.

The registry is keyed by a spec's `kind`. A clip kind may plan specs of a kind job files cannot write: a
question clip plans a `question` spec, then a `reveal` one. Such a spec kind has its own contract (its label,
frame count, theme numbering), registered by the module of the kind that makes it, with no `model` or `specs`.

This package sits above `contracts.rules` and `contracts.fields` and below `contracts.job_models`: it imports
neither the engine nor temporalio, and workflows read it through `contracts.job`.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

from pydantic import BaseModel

from contracts.languages import clip_voice
from contracts.rules import ClipSpec, Profile
from contracts.themes import Theme


def whole_frames(seconds: float, fps: int) -> int:
    """The service's rule (`contracts.plan.frames_for`): a duration rounded to whole frames, at least one."""
    return max(1, round(seconds * fps))


@dataclass(frozen=True)
class JobDefaults:
    """What a clip's specs take from the job around it."""

    language: str | None
    """The job's `language`; None: its voice's."""
    voice: str
    """The job's voice: `tts_voice`, else its language's tag, else English."""
    question_seconds: float = 10.0
    reveal_seconds: float = 4.0


class Spoken(TypedDict):
    language: str
    voice: str


def spoken(clip: Any, job: JobDefaults) -> Spoken:
    """A spoken clip's `language` and `voice` as its spec holds them: '' where the job's apply."""
    language = clip.language or job.language or ""
    return {"language": language, "voice": clip_voice(clip.voice, language, job.voice)}


@dataclass(frozen=True)
class KindContract:
    """One clip kind (or a spec kind another kind plans) as the contract knows it."""

    kind: str
    """The `kind` a job file gives the clip; also `ClipSpec.kind` of the specs it becomes."""
    label: Callable[[ClipSpec], str]
    """What progress and the Web UI show after `clip 3/10 · `: the kind and what tells the clip apart."""
    model: Any = None
    """The clip as the job file holds it: a pydantic model whose `kind` field is a `Literal` of `kind`, or a
    union of such models tagged by `variant_tag`. None: a spec kind only another kind plans (a reveal)."""
    specs: Callable[[Any, JobDefaults], list[ClipSpec]] | None = None
    """The validated clip (an instance of `model`) and the job's defaults as the clip's specs: kinds hold their
    values in ClipSpec's existing fields, so records and keys keep their shape."""
    assets: Mapping[str, str] = field(default_factory=dict)
    """The model's asset fields and what each holds (image, audio or video), for the pre-flight checks."""
    frame_seconds: Callable[[ClipSpec, Profile], float] | None = None
    """Seconds one frame may take at the slowest expected rate; None: the budget's plain rate."""
    frames: Callable[[float, int], int] = whole_frames
    """The clip's frames from its duration and the frame rate."""
    order: int = 100
    """Where the kind stands in the job schema's `clips` union and in the list an unknown kind's error gives:
    the first kinds keep the places they always had, a new kind follows them by name."""
    variant_tag: str = ""
    """The field that picks one of `variants` (a recipe clip's `recipe`); '' for a plain model."""
    variants: Mapping[str, type[BaseModel]] = field(default_factory=dict)
    """The models `model`'s union holds, by their `variant_tag` value, so an error names their fields."""
    counted: bool = False
    """A question of the quiz: it takes the next number a theme shows (`question 3/10`) and is counted."""
    numbered: bool = False
    """Under a theme it shows the number of the question it belongs to (a question and its reveal)."""
    themed: Callable[[ClipSpec, Theme, str], ClipSpec] | None = None
    """The spec as a theme words it (a reveal's narration), from the theme and the job's voice; the theme's
    default words leave the spec, and its key, unchanged."""


KINDS: dict[str, KindContract] = {}
"""Every registered kind (spec kinds included) by name, filled by `load()`."""


def register(contract: KindContract) -> KindContract:
    """Called by a kind's module as it loads; a kind registered twice is a programming error."""
    if contract.kind in KINDS and KINDS[contract.kind] is not contract:
        raise ValueError(f"clip kind {contract.kind!r} is registered twice")
    KINDS[contract.kind] = contract
    return contract


def load() -> dict[str, KindContract]:
    """Import every kind module of this package (each registers itself) and return the registry."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    return KINDS


def contract_for(kind: str) -> KindContract | None:
    return KINDS.get(kind)


def clip_kinds() -> list[KindContract]:
    """The kinds a job file can write, in their `order`."""
    return sorted((c for c in KINDS.values() if c.model is not None), key=lambda c: (c.order, c.kind))


BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""Characters that reorder the text around them: in a label an operator reads (CLI, Web UI), a
tenant's U+202E could make 'exe.png' read as 'gnp.exe'."""


def shown(text: str) -> str:
    """`text` with bidi controls written as escapes (\\u202e), so it reads in the order it is stored."""
    return BIDI_CONTROLS.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def shorten(text: str, limit: int = 40) -> str:
    """`text` for a label: shown, its whitespace collapsed, cut to `limit` characters."""
    flat = " ".join(shown(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def file_label(kind: str, uri: str | None, duration: float) -> str:
    """A media clip's label: its kind, its file's name (not the whole URI) and its length."""
    return f'{kind} "{shorten((uri or "").rsplit("/", 1)[-1])}" · {duration:g} s'


load()
