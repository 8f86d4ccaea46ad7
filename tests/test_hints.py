"""Every hint runs as printed: each failure is one line saying what to do, and the command it quotes is run here,
as pasted into a shell from the same place with the same environment (no .venv/bin on PATH, as after a clone).
"""

from __future__ import annotations

import contextlib
import http.server
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.local import free_port

BIN = Path(sys.executable).parent


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A shell of its own: a Temporal port nothing listens on yet, its own UI port and data directory."""
    return {
        **os.environ,
        "PATH": "/usr/bin:/bin",
        "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "TEMPORAL_UI_URL": f"http://localhost:{free_port()}",
        "RENDER_DATA_DIR": str(tmp_path / "var"),
        "RENDER_LOG_LEVEL": "WARNING",
    }


def run(program: str, *args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / program), *args], env=env, capture_output=True, text=True, timeout=timeout)


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    return lines[0]


def quoted(line: str) -> str:
    """The last command a line quotes in backticks."""
    found = re.findall(r"`([^`]+)`", line)
    assert found, line
    return str(found[-1])


def shell(command: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`command` as a user pastes it: through the shell, from this working directory."""
    return subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, timeout=timeout)


@contextlib.contextmanager
def not_temporal() -> Iterator[int]:
    """A port where something answers, but not Temporal: a plain HTTP server."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def dev_server(env: dict[str, str]) -> Iterator[None]:
    """A dev server started and stopped with the commands render-dev prints."""
    started = run("render-dev", "dev-server", "start", env=env)
    assert started.returncode == 0, started.stderr
    try:
        yield
    finally:
        stopped = shell(quoted(started.stdout), env)
        assert (stopped.returncode, stopped.stdout) == (0, "stopped\n"), stopped


def test_a_closed_temporal_port_says_to_start_the_dev_server_and_that_command_starts_it(env: dict[str, str]) -> None:
    refused = run("render", "status", "x", env=env)
    line = one_line(refused)
    assert refused.returncode == 3 and "connection refused: nothing listens there" in line
    assert "Status {" not in line and "tonic" not in line  # no Rust transport text
    start = quoted(line)
    assert start == ".venv/bin/render-dev dev-server start" or start.endswith("/render-dev dev-server start")
    started = shell(start, env)
    assert started.returncode == 0, started.stderr
    try:
        listed = run("render", "list", env=env)
        assert listed.returncode == 0, listed.stderr
    finally:
        stopped = shell(quoted(started.stdout), env)  # "stop it with `… dev-server stop`"
        assert stopped.stdout == "stopped\n", stopped


def test_a_port_that_is_not_temporal_is_one_line_and_its_hint_starts_a_dev_server(env: dict[str, str]) -> None:
    with not_temporal() as port:
        other = {**env, "TEMPORAL_ADDRESS": f"127.0.0.1:{port}"}
        line = one_line(run("render", "status", "x", env=other))
        assert "something answers there, but not Temporal" in line, line
        demo = run("render-dev", "demo", env=other)
        assert demo.returncode == 3 and one_line(demo).startswith(
            f"render-dev: cannot reach Temporal at 127.0.0.1:{port}"
        )
    command = quoted(line)  # TEMPORAL_ADDRESS=localhost:N …/render-dev dev-server start
    address = re.match(r"TEMPORAL_ADDRESS=(\S+) ", command)
    assert address, command
    started = shell(command, env)
    assert started.returncode == 0, started.stderr
    shell(quoted(started.stdout), {**env, "TEMPORAL_ADDRESS": address.group(1)})


def test_dev_server_start_with_the_ui_port_taken_says_so_and_its_hint_starts_it(env: dict[str, str]) -> None:
    with not_temporal() as taken:
        env = {**env, "TEMPORAL_UI_URL": f"http://localhost:{taken}"}
        refused = run("render-dev", "dev-server", "start", env=env)
        line = one_line(refused)
        assert refused.returncode == 6 and f"the Web UI's port {taken} is in use" in line
        started = shell(quoted(line), env)
        assert started.returncode == 0, started.stderr
        assert f"Web UI http://localhost:{taken}" not in started.stdout, started.stdout
        stopped = shell(quoted(started.stdout), env)
        assert stopped.stdout == "stopped\n", stopped


def test_the_worker_command_printed_starts_a_worker_and_a_second_on_its_health_port_is_one_line(
    env: dict[str, str],
) -> None:
    env = {**env, "RENDER_HEALTH_PORT": str(free_port())}
    env.pop("RENDER_WEBHOOK_SECRET", None)
    env.pop("RENDER_WEBHOOKS", None)
    with dev_server(env):
        listed = run("render", "workers", env=env)
        hint = listed.stdout.strip()
        assert hint.startswith("no worker polls any render queue; start one with `RENDER_WEBHOOKS=false "), hint
        worker = subprocess.Popen(["bash", "-c", quoted(hint)], env=env, start_new_session=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
        try:
            deadline = time.monotonic() + 90
            while "worker(s)" not in run("render", "workers", env=env).stdout:
                assert worker.poll() is None and time.monotonic() < deadline, worker.communicate()[0]
                time.sleep(0.5)
            second = shell(quoted(hint), env, timeout=90)
            assert second.returncode == 2, second
            said = second.stdout + second.stderr
            assert "Traceback" not in said and "OSError" not in said, said
            (named,) = [line for line in said.splitlines() if "RENDER_HEALTH_PORT" in line]
            assert "is in use (another worker on this host?)" in named and "0 for none" in named
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.pid, signal.SIGTERM)  # the shell and the worker it started
            worker.wait(timeout=60)
