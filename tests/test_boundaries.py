"""Which package may import which, checked on the source (imports inside functions too).

The service (contracts, workflows, engine, activities, workers, starter, runtime) never imports devtools,
tests or bench; workers and starter never import each other; runtime is shared by both. The starter reaches
the activities through one module only, `activities.preflight`: `render check` is the workers' own checks.

The engine knows nothing of Temporal: it imports none of the packages that do (workflows, activities,
workers, starter, runtime) nor Temporal's SDK, here or through anything it imports; the activities are
adapters over it, few and thin."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "contracts": {"workflows", "engine", "activities", "workers", "starter", "runtime", "devtools", "tests", "bench"},
    "workflows": {"engine", "activities", "workers", "starter", "runtime", "devtools", "tests", "bench"},
    "engine": {"workflows", "activities", "workers", "starter", "runtime", "devtools", "tests", "bench"},
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


def test_the_engine_never_names_temporal() -> None:
    """Not even inside a function: Temporal's SDK is no package of ours, so FORBIDDEN does not cover it."""
    wrong = {
        str(source.relative_to(ROOT)): sorted(m for m in imported_modules(source) if m.split(".")[0] == "temporalio")
        for source in (ROOT / "engine").rglob("*.py")
    }
    assert not {path: names for path, names in wrong.items() if names}


def engine_modules() -> list[str]:
    return sorted(
        ".".join(source.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for source in (ROOT / "engine").rglob("*.py")
    )


def test_every_engine_module_imports_without_temporal() -> None:
    """The transitive proof: in a fresh interpreter where `temporalio` cannot be imported, every engine module
    imports, and none of them brought in workflows, activities or any other package the engine may not use."""
    modules = engine_modules()
    assert len(modules) > 40
    forbidden = sorted(FORBIDDEN["engine"])
    script = f"""
import importlib, sys
sys.modules["temporalio"] = None  # any import of it, or of a submodule, now raises ImportError
for name in {modules!r}:
    importlib.import_module(name)
loaded = sorted({{m.split(".")[0] for m in sys.modules}} & set({forbidden!r}))
assert not loaded, f"the engine brought in {{loaded}}"
print("imported", len({modules!r}))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == f"imported {len(modules)}"


ACTIVITY_MODULES = 16
"""At most this many modules in activities/ (`__init__.py` included): adapters, the rest is the engine's."""


def test_activities_are_few_adapters() -> None:
    modules = sorted(str(source.relative_to(ROOT)) for source in (ROOT / "activities").rglob("*.py"))
    assert len(modules) <= ACTIVITY_MODULES, modules
