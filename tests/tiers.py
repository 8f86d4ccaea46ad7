"""The test tiers: `unit` (no Temporal server, no worker processes) runs first and in minutes.

A unit test may use real ffmpeg on tiny media, files, the S3 endpoint (moto, in this process) and
short-lived CLI processes; anything that starts a Temporal server or a worker belongs to the rest.
"""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from devtools import devserver
from devtools.local import LocalCluster

SERVER_FIXTURES = frozenset({"env", "client", "workers", "cluster", "renders", "time_skipping"})
"""Fixtures that start a Temporal server or workers (as does any `…cluster`): a test that asks for one is not a
unit test."""

NOT_UNIT_MARKS = ("server", "load", "newcomer")


def is_unit(item: pytest.Item) -> bool:
    if any(item.get_closest_marker(mark) is not None for mark in NOT_UNIT_MARKS):
        return False
    fixtures = set(getattr(item, "fixturenames", ()))
    return not (SERVER_FIXTURES & fixtures or any(name.endswith("cluster") for name in fixtures))


class ServerInUnitTest(AssertionError):
    """A unit test started a server or a worker: mark it `server`."""


def _refuse(what: str) -> Any:
    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise ServerInUnitTest(f"a unit test started {what}: mark the test `@pytest.mark.server`")

    return refuse


def guard_unit_tier(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make a unit test that starts a server or a worker fail, naming the mark it needs."""
    monkeypatch.setattr(WorkflowEnvironment, "start_local", _refuse("a Temporal dev server"))
    monkeypatch.setattr(WorkflowEnvironment, "start_time_skipping_v2", _refuse("a Temporal dev server"))
    monkeypatch.setattr(devserver, "start", _refuse("a Temporal dev server"))
    monkeypatch.setattr(LocalCluster, "start_server", _refuse("a Temporal dev server"))
    monkeypatch.setattr(LocalCluster, "start_worker", _refuse("a worker process"))
    popen_init = subprocess.Popen.__init__

    def checked_popen(self: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> None:
        argv = [str(a) for a in ([args] if isinstance(args, str | bytes) else args)]
        if " ".join(argv[:4]).find("-m workers") >= 0 or any(a.endswith("/render-worker") for a in argv[:1]):
            raise ServerInUnitTest("a unit test started a worker process: mark the test `@pytest.mark.server`")
        popen_init(self, args, *rest, **kwargs)

    monkeypatch.setattr(subprocess.Popen, "__init__", checked_popen)
