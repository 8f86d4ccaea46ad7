"""Which package may import which, checked on the source (imports inside functions too).

The service (contracts, workflows, activities, workers, starter, runtime) never imports devtools,
tests or bench; workers and starter never import each other; runtime is shared by both. The starter reaches
the activities through one module only, `activities.preflight`: `render check` is the workers' own checks."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "contracts": {"workflows", "activities", "workers", "starter", "runtime", "devtools", "tests", "bench"},
    "workflows": {"activities", "workers", "starter", "runtime", "devtools", "tests", "bench"},
    "runtime": {"workflows", "activities", "workers", "starter", "devtools", "tests", "bench"},
    "activities": {"workers", "starter", "devtools", "tests", "bench"},
    "workers": {"starter", "devtools", "tests", "bench"},
    "starter": {"workers", "activities", "devtools", "tests", "bench"},
    "devtools": {"tests", "bench"},
}
ALLOWED = {"starter": {"activities.preflight"}}
"""Exceptions by module: the starter checks a job with the workers' own pre-flight (`render check`), not a copy."""


def imported_modules(source: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def imported_packages(source: Path) -> set[str]:
    return {module.split(".")[0] for module in imported_modules(source)}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_imports_only_what_it_may(package: str) -> None:
    allowed = ALLOWED.get(package, set())
    wrong = {
        str(source.relative_to(ROOT)): sorted(
            {module.split(".")[0] for module in imported_modules(source) - allowed} & FORBIDDEN[package]
        )
        for source in (ROOT / package).rglob("*.py")
    }
    assert not {path: names for path, names in wrong.items() if names}


def test_benchmarks_share_with_tests_through_one_module() -> None:
    for source in (ROOT / "bench").rglob("*.py"):
        assert "tests" not in imported_packages(source), source
