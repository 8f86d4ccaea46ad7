"""Each default of the job contract is declared once: an input model's field and the recorded dataclass field
it becomes agree, so a default changed in one place cannot leave the job file and its record apart."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from contracts.fields import default_of
from contracts.job_models import JobIn, PosterIn, ProfileIn, SeedQuestion
from contracts.kinds import KINDS, JobDefaults, clip_kinds
from contracts.rules import MEDIA_DEFAULTS, MEDIA_FIELDS, ClipSpec, Job, Poster, Profile

RENAMES: dict[str, dict[str, str]] = {
    "video": {"source": "video", "start": "trim_in", "audio": "audio_mode"},
    "image": {"source": "image"},
    "color": {"color": "background"},
}
"""A clip kind's fields that its `specs` records under another ClipSpec name."""

DIFFERENT_ON_PURPOSE: dict[tuple[str, str], str] = {
    ("*", "language"): "None on the clip is the job's language; the spec records '' for it",
    ("*", "voice"): "None on the clip is the job's voice; the spec records '' for it",
    ("image", "zoom"): "an image clip's zoom; the spec's () marks a clip of another kind (and keeps old keys)",
    ("recipe", "params"): "a recipe's own parameter defaults (contracts.recipes); the spec's () means none given",
}
"""Fields whose input default and record default mean different things, each with why."""


def _plain(value: Any) -> Any:
    """A default as a comparable value: models and dataclasses as dicts, lists as tuples."""
    if isinstance(value, BaseModel):
        value = value.model_dump()
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return tuple(_plain(item) for item in value)
    return value


def _model_defaults(model: type[BaseModel]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if info.default is not PydanticUndefined:
            found[name] = info.default
        elif info.default_factory is not None:
            found[name] = info.default_factory()  # type: ignore[call-arg]
    return found


def _record_defaults(record: type[Any]) -> dict[str, Any]:
    return {
        spec_field.name: default_of(record, spec_field.name)
        for spec_field in dataclasses.fields(record)
        if spec_field.default is not dataclasses.MISSING or spec_field.default_factory is not dataclasses.MISSING
    }


def _clip_models() -> list[tuple[str, type[BaseModel]]]:
    """Every model a job file's clip can be, with its kind: a kind's one model, or each of its variants."""
    found: list[tuple[str, type[BaseModel]]] = [("question", SeedQuestion)]
    for contract in clip_kinds():
        if contract.variants:
            found += [(contract.kind, variant) for variant in contract.variants.values()]
        else:
            found.append((contract.kind, contract.model))
    return found


PAIRS: list[tuple[str, type[BaseModel], type[Any]]] = [
    ("job", JobIn, Job),
    ("job", JobIn, JobDefaults),
    ("profile", ProfileIn, Profile),
    ("poster", PosterIn, Poster),
    *[(kind, model, ClipSpec) for kind, model in _clip_models()],
]


@pytest.mark.parametrize(("kind", "model", "record"), PAIRS, ids=[f"{m.__name__}-{r.__name__}" for _, m, r in PAIRS])
def test_an_input_default_agrees_with_its_record(kind: str, model: type[BaseModel], record: type[Any]) -> None:
    renames = RENAMES.get(kind, {})
    recorded = _record_defaults(record)
    compared = 0
    for name, default in _model_defaults(model).items():
        target = renames.get(name, name)
        if target not in recorded or (kind, name) in DIFFERENT_ON_PURPOSE or ("*", name) in DIFFERENT_ON_PURPOSE:
            continue
        assert _plain(default) == _plain(recorded[target]), (
            f"{model.__name__}.{name} defaults to {default!r}, {record.__name__}.{target} to {recorded[target]!r}: "
            f"declare it once, on {record.__name__}, and take it with default_of()"
        )
        compared += 1
    assert compared or model.__name__.endswith("Clip"), f"{model.__name__} shares no default with {record.__name__}"


def test_renames_and_exceptions_name_real_fields() -> None:
    """A rename or an exception left behind by a renamed field would silently skip a comparison."""
    spec_fields = {spec_field.name for spec_field in dataclasses.fields(ClipSpec)}
    for kind, renames in RENAMES.items():
        models = [model for clip_kind, model in _clip_models() if clip_kind == kind]
        assert models, kind
        for name, target in renames.items():
            assert target in spec_fields, (kind, target)
            assert all(name in model.model_fields for model in models), (kind, name)
    for kind, name in DIFFERENT_ON_PURPOSE:
        assert kind == "*" or kind in KINDS, kind
        assert name in spec_fields, name


def test_media_defaults_are_clipspec_defaults() -> None:
    assert tuple(MEDIA_DEFAULTS) == MEDIA_FIELDS
    assert {name: default_of(ClipSpec, name) for name in MEDIA_FIELDS} == MEDIA_DEFAULTS


def test_default_of_refuses_a_field_without_a_default() -> None:
    with pytest.raises(KeyError):
        default_of(ClipSpec, "kind")
    with pytest.raises(KeyError):
        default_of(ClipSpec, "no_such_field")
    assert default_of(Job, "profile") == Profile()
