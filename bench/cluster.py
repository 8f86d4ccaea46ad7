"""A private Temporal dev server and worker subprocesses for one benchmark run.

Workers run as their own processes (`python -m workers --mode control|gpu`, as
deployed), so their memory and CPU can be read from /proc one by one, and a
worker crash cannot take the benchmark's measurements with it. Every process
started here is stopped before the run ends, and dies with the benchmark if the
benchmark itself is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from bench.procstat import children, command_name
from contracts import search
from devtools.devserver import temporal_binary
from engine.settings import Settings
from runtime.settings import render_settings

REPO = Path(__file__).resolve().parent.parent
DIE_WITH_BENCH = ("setpriv", "--pdeathsig", "TERM", "--")
"""Workers get SIGTERM if the benchmark dies: set by util-linux's setpriv as it execs them (never by
Python code between fork and exec, which can deadlock in a process with threads)."""


@contextmanager
def data_dir() -> Iterator[Path]:
    """A fresh RENDER_DATA_DIR outside the repository, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="render-bench-") as path:
        root = Path(path)
        for sub in ("work", "output", "assets", "scratch", "baseline", "logs"):
            (root / sub).mkdir()
        yield root


def settings_for(data: Path) -> Settings:
    """The settings a worker started with RENDER_DATA_DIR=`data` and default variables reads."""
    return render_settings({"RENDER_DATA_DIR": str(data)})


@asynccontextmanager
async def dev_server(extra_args: list[str] | None = None) -> AsyncIterator[tuple[Client, int]]:
    """A dev server on a free port, from the installed `temporal` binary; (client, server pid)."""
    before = set(children(os.getpid()))
    with _stdout_to_stderr():
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_binary(),
            search_attributes=search.ALL,
            dev_server_extra_args=extra_args or [],
        )
    async with env:
        started = [pid for pid in children(os.getpid()) if pid not in before and command_name(pid) == "temporal"]
        yield env.client, started[0] if started else 0


@contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """The server inherits our stdout and prints a banner; stdout is kept for the figures."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def address_of(client: Client) -> str:
    return client.service_client.config.target_host


@dataclass
class WorkerProcess:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    queues: list[tuple[str, int]] = field(default_factory=list)
    """(task queue, TaskQueueType) pairs this worker polls, to know when it is ready."""

    @property
    def pid(self) -> int:
        return self.proc.pid


class Workers:
    """Starts worker subprocesses against one server and stops them all on exit."""

    def __init__(self, client: Client, data: Path) -> None:
        self.client = client
        self.data = data
        self.running: list[WorkerProcess] = []

    def env(self, extra: Mapping[str, str]) -> dict[str, str]:
        path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
        return {
            **os.environ,
            "PYTHONPATH": path,
            "TEMPORAL_ADDRESS": address_of(self.client),
            "TEMPORAL_NAMESPACE": self.client.namespace,
            "RENDER_DATA_DIR": str(self.data),
            "RENDER_HEALTH_PORT": "0",  # several workers on one machine: no shared port
            "RENDER_DRAIN_SECONDS": "5",
            "RENDER_WEBHOOKS": "false",  # benchmark jobs name no webhook, and a control worker needs a secret otherwise
            # Benchmarks render the same jobs again and again: every clip is rendered unless one asks for the cache.
            "RENDER_CLIP_CACHE_GB": "0",
            **extra,
        }

    async def start(
        self, name: str, module_args: list[str], queues: list[tuple[str, int]], env: Mapping[str, str] | None = None
    ) -> WorkerProcess:
        """`python -m MODULE ARGS…` in the data directory; returns once it polls every queue in `queues`."""
        log = self.data / "logs" / f"{name}.log"
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [*DIE_WITH_BENCH, sys.executable, "-m", *module_args],
                cwd=self.data,
                env=self.env(env or {}),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        worker = WorkerProcess(name, proc, log, queues)
        self.running.append(worker)
        await self.wait_polling(worker)
        return worker

    async def wait_polling(self, worker: WorkerProcess, timeout: float = 60.0) -> None:
        identity = f"{worker.pid}@{socket.gethostname()}"
        deadline = time.monotonic() + timeout
        pending = list(worker.queues)
        while pending:
            if worker.proc.poll() is not None:
                raise RuntimeError(f"worker {worker.name} exited with {worker.proc.returncode}; see {worker.log}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"worker {worker.name} did not poll {pending} within {timeout:g} s")
            queue, kind = pending[0]
            response = await self.client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=self.client.namespace,
                    task_queue=TaskQueue(name=queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
                    task_queue_type=TaskQueueType.ValueType(kind),
                )
            )
            if any(p.identity == identity for p in response.pollers):
                pending.pop(0)
            else:
                await asyncio.sleep(0.2)

    async def stop(self, worker: WorkerProcess, timeout: float = 30.0) -> int:
        """SIGTERM (the worker drains), then SIGKILL if it does not leave in time."""
        if worker.proc.poll() is None:
            worker.proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while worker.proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            if worker.proc.poll() is None:
                worker.proc.kill()
        code = await asyncio.to_thread(worker.proc.wait)
        with contextlib.suppress(ValueError):
            self.running.remove(worker)
        return code

    async def stop_all(self) -> None:
        for worker in list(self.running):
            await self.stop(worker)


@asynccontextmanager
async def workers(client: Client, data: Path) -> AsyncIterator[Workers]:
    group = Workers(client, data)
    try:
        yield group
    finally:
        await group.stop_all()


def service_worker_args(mode: str) -> list[str]:
    return ["workers", "--mode", mode]


WORKFLOW_QUEUE = int(TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW)
ACTIVITY_QUEUE = int(TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)
