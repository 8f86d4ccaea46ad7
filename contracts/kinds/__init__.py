"""Clip kinds as plug-ins: a kind is a module in this package that registers one `KindContract`.

A kind's contract is everything about it the service decides without the engine: the job file's model
(the pydantic class the `clips` union picks by `kind`), how a validated clip becomes `ClipSpec`s, its label
in progress and the Web UI, its asset fields (for the pre-flight checks), its render cost for the budget and
its frame count. The kind's renderer is the same-named module of `engine.kinds`; tests/test_kinds.py checks
that both registries list the same kinds.

This package is imported by workflows (through `contracts.job`): it imports neither the engine nor temporalio.
The kinds the service had before this package (card, question, recipe, video, image) keep their own code in
`contracts.job_models`, `contracts.plan` and `engine.media.graphs`; a kind added here needs no edit there.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel

    from contracts.job import ClipSpec, Profile


def whole_frames(seconds: float, fps: int) -> int:
    """The service's rule (`contracts.plan.frames_for`): a duration rounded to whole frames, at least one."""
    return max(1, round(seconds * fps))


@dataclass(frozen=True)
class KindContract:
    """One clip kind as the contract knows it."""

    kind: str
    """The `kind` a job file gives the clip; also `ClipSpec.kind` of the specs it becomes."""
    model: type[BaseModel]
    """The clip as the job file holds it: its `kind` field a `Literal` of `kind`."""
    specs: Callable[[Any, Mapping[str, str]], list[ClipSpec]]
    """The validated clip (an instance of `model`) and its spoken fields (`language`, `voice`) as the clip's
    specs: new kinds hold their values in ClipSpec's existing fields, so records and keys keep their shape."""
    label: Callable[[ClipSpec], str]
    """What progress and the Web UI show after `clip 3/10 · `: the kind and what tells the clip apart."""
    assets: Mapping[str, str] = field(default_factory=dict)
    """The model's asset fields and what each holds (image, audio or video), for the pre-flight checks."""
    frame_seconds: Callable[[ClipSpec, Profile], float] | None = None
    """Seconds one frame may take at the slowest expected rate; None: the budget's plain rate."""
    frames: Callable[[float, int], int] = whole_frames
    """The clip's frames from its duration and the frame rate."""


KINDS: dict[str, KindContract] = {}
"""Every registered kind by name, filled by `load()`."""


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


# A kind module builds its model from the job's field types, and the job's clip union is built from this
# registry: loading the job models here (last) lets either module be imported first.
import contracts.job_models  # noqa: E402, F401
