"""Scenario results printed with the test run (and kept as junit properties), so a run shows what it measured."""

from __future__ import annotations

import pytest


def report(request: pytest.FixtureRequest, scenario: str, **facts: object) -> None:
    request.node.user_properties.extend(facts.items())
    line = f"\n[{scenario}] " + ", ".join(f"{key}={value}" for key, value in facts.items())
    capture = request.config.pluginmanager.getplugin("capturemanager")
    reporter = request.config.pluginmanager.getplugin("terminalreporter")
    if capture is None or reporter is None:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(line)
