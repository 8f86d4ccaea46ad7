"""docs/job-reference.md: every field of a job file, generated from the job's JSON Schema (`render schema`), so
the reference cannot drift from the contract: tests/test_docs.py fails while the file is stale.

Regenerate with `.venv/bin/python -m devtools.job_reference`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from contracts.job_models import job_schema

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "job-reference.md"
SCALARS = {"string": "text", "number": "number", "integer": "whole number", "boolean": "true or false",
           "null": "null", "object": "object"}  # fmt: skip


def cell(text: str) -> str:
    """Text a table cell can hold: its pipes escaped, on one line."""
    return " ".join(text.replace("|", "\\|").split())


def kind(prop: dict[str, Any]) -> str:
    """A field's type in words, models linked to their section."""
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    if "const" in prop:
        return f"`{json.dumps(prop['const'])}`"
    if "enum" in prop:
        return "one of " + ", ".join(f"`{json.dumps(value)}`" for value in prop["enum"])
    for union in ("anyOf", "oneOf"):
        if union in prop:
            return " or ".join(dict.fromkeys(kind(part) for part in prop[union]))
    types = prop.get("type")
    if isinstance(types, list):
        return " or ".join(SCALARS.get(str(t), str(t)) for t in types)
    if types == "array":
        return f"list of {kind(prop.get('items', {}))}"
    if types == "object" and isinstance(prop.get("additionalProperties"), dict):
        return f"object of {kind(prop['additionalProperties'])}"
    return SCALARS.get(str(types), str(types or "any"))


def limits(prop: dict[str, Any]) -> list[str]:
    """A field's ranges, lengths and patterns, its variants' too."""
    found = []
    if "minimum" in prop and "maximum" in prop:
        found.append(f"{prop['minimum']} to {prop['maximum']}")
    elif "minimum" in prop:
        found.append(f"at least {prop['minimum']}")
    elif "maximum" in prop:
        found.append(f"at most {prop['maximum']}")
    if "maxLength" in prop:
        found.append(f"at most {prop['maxLength']} characters")
    if "minItems" in prop or "maxItems" in prop:
        found.append(f"{prop.get('minItems', 0)} to {prop.get('maxItems', '…')} items")
    if "pattern" in prop:
        found.append("a pattern, below")
    for union in ("anyOf", "oneOf"):
        for part in prop.get(union, []):
            found += limits(part)
    if prop.get("type") == "array":
        found += [f"each: {limit}" for limit in limits(prop.get("items", {}))]
    return found


def patterns(prop: dict[str, Any]) -> list[str]:
    """A field's patterns, its variants' too: listed under the table, where a pattern's `|` is safe."""
    found = [prop["pattern"]] if "pattern" in prop else []
    for part in (*prop.get("anyOf", []), *prop.get("oneOf", []), *([prop["items"]] if "items" in prop else [])):
        found += patterns(part)
    return found


def section(title: str, schema: dict[str, Any]) -> list[str]:
    lines = [f"## {title}", ""]
    if schema.get("description"):
        lines += [schema["description"], ""]
    required = set(schema.get("required", []))
    lines += ["| field | type | default | limits and meaning |", "|---|---|---|---|"]
    for name, prop in schema.get("properties", {}).items():
        default = "required" if name in required else f"`{json.dumps(prop['default'])}`" if "default" in prop else ""
        notes = [*limits(prop), *([prop["description"]] if prop.get("description") else [])]
        lines.append(f"| `{name}` | {cell(kind(prop))} | {cell(default)} | {cell('; '.join(notes))} |")
    listed = [(name, pattern) for name, prop in schema.get("properties", {}).items() for pattern in patterns(prop)]
    if listed:
        lines += ["", "Patterns (regular expressions the value must match):", ""]
        lines += [f"- `{name}`: `{pattern}`" for name, pattern in listed]
    return [*lines, ""]


def reference() -> str:
    schema = job_schema()
    lines = [
        "# Job file reference",
        "",
        "Every field of a job file, generated from its JSON Schema (`schema/job.schema.json`, printed by",
        "`render schema`) by `.venv/bin/python -m devtools.job_reference`; a test fails while this page is stale.",
        "What the fields do, with examples, is in [The job format](job-format.md); the rules that relate",
        "fields (a question's `correct` among its `answers`, budgets, text fit) are checked by `render check`.",
        "",
        *section("Job", schema),
    ]
    for name, part in sorted(schema["$defs"].items()):
        lines += section(name, part)
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    out = Path((argv or sys.argv[1:] or [str(PAGE)])[0])
    out.write_text(reference(), encoding="utf-8")
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
