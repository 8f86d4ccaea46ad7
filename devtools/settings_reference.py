"""docs/configuration.md's reference: every variable the settings models read (`runtime.settings.ENV_MODELS`,
RenderEnv's through the sections of `engine.settings.Settings`), with its type, default and description (the
field's docstring), so the page cannot drift from the models:
tests/test_docs.py fails while the committed page is stale.

The page's prose above MARKER is written by hand and kept; everything below it is generated.
Regenerate with `.venv/bin/python -m devtools.settings_reference`.
"""

from __future__ import annotations

import sys
import typing
from pathlib import Path
from typing import Any, Literal

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from devtools.job_reference import cell
from runtime.settings import ENV_MODELS, EnvModel, Variable, expectation

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "configuration.md"
MARKER = "<!-- generated below by devtools.settings_reference from runtime/settings.py: edit the models -->"


def kind(field: FieldInfo) -> str:
    """A variable's type in words: 'a whole number ≥ 0', 'one of `auto`, `libx264`', 'text'."""
    annotation = field.annotation
    choices = [a for a in (annotation, *typing.get_args(annotation)) if typing.get_origin(a) is Literal]
    if choices:
        return "one of " + ", ".join(f"`{value}`" for value in typing.get_args(choices[0]))
    return expectation(field) or "text"


def written(value: Any) -> str:
    """A value as its variable spells it: `true`, `10` for 10.0, `*=10` for {'*': 10.0}, `a,b` for a tuple."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict):
        return ",".join(f"{key}={written(item)}" for key, item in value.items())
    if isinstance(value, tuple):
        return ",".join(written(item) for item in value)
    return str(value)


def default(field: FieldInfo) -> str:
    value: Any = field.get_default(call_default_factory=True) if field.default_factory else field.default
    if value is None or value is PydanticUndefined:
        return "unset"
    text = written(value)
    return f"`{text}`" if text else "empty"


def description(model: type[EnvModel], variable: Variable) -> str:
    name = variable.path[-1]
    if variable.field.description:
        return variable.field.description
    if name in getattr(model, "KNOB_FIELDS", ()):
        return f"The autoscaler's `{name}`, over its file's; see [Scaling on Kubernetes](kubernetes.md)."
    raise ValueError(f"{variable.owner.__name__}.{name} ({variable.name}) has no docstring to describe it")


def section(model: type[EnvModel]) -> list[str]:
    summary = " ".join((model.__doc__ or "").split("\n\n", 1)[0].split())
    lines = [
        f"### {model.__name__}",
        "",
        summary,
        "",
        "| variable | type | default | description |",
        "|---|---|---|---|",
    ]
    for variable in model.variables():
        field = variable.field
        row = (f"`{variable.name}`", kind(field), default(field), description(model, variable))
        lines.append("| " + " | ".join(cell(part) for part in row) + " |")
    return [*lines, ""]


def reference() -> str:
    """The whole page: the hand-written part as committed, then the generated reference."""
    written = PAGE.read_text(encoding="utf-8").split(MARKER, 1)[0].rstrip("\n")
    lines = [
        written,
        "",
        MARKER,
        "",
        "## Every variable",
        "",
        "Generated from the settings models in `runtime/settings.py` (each field's docstring is its description)",
        "by `.venv/bin/python -m devtools.settings_reference`; a test fails while this part is stale.",
        "",
    ]
    for model in ENV_MODELS:
        lines += section(model)
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    text = reference()
    out = Path((argv or sys.argv[1:] or [str(PAGE)])[0])
    out.write_text(text, encoding="utf-8")
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
