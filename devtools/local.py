"""A local cluster: a dev server and worker processes sharing one data directory.

Used to exercise real preemption (signals to real processes) in tests and benchmarks.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from devtools import devserver
from runtime.process import free_port
from runtime.versioning import source_build_id

__all__ = ["LocalCluster", "free_port"]

REPO = Path(__file__).resolve().parent.parent


@dataclass
class LocalCluster:
    data: Path
    env: dict[str, str] = field(default_factory=dict)
    """Extra RENDER_* settings for every worker."""
    port: int = field(default_factory=free_port)
    ui_port: int = field(default_factory=free_port)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    health_ports: list[int] = field(default_factory=list)
    """Each worker's /healthz, /status and /metrics port, in start order."""
    build_id: str = field(default_factory=source_build_id)
    """Every worker's RENDER_BUILD_ID unless `env` says otherwise: this checkout's build when created."""

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start_server(self) -> None:
        for sub in ("work", "output", "assets", "scratch"):
            (self.data / sub).mkdir(parents=True, exist_ok=True)
        devserver.start(self.data, self.port, self.ui_port)

    def stop_server(self) -> None:
        devserver.stop(self.data)

    def start_worker(
        self,
        mode: str,
        *,
        wrapper: Sequence[str] = (),
        wait_ready: float = 60.0,
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
    ) -> subprocess.Popen[bytes]:
        """Start a worker process and wait (up to `wait_ready` s; 0: not at all) until it polls.

        `wrapper` runs it under another command (say, in its own mount namespace); `env` adds settings
        for this worker alone (say, RENDER_BUILD_ID for a second build), `args` options after --mode.
        """
        env = {
            # A local cluster signs its webhooks with a throwaway key and may call receivers on loopback.
            "RENDER_WEBHOOK_SECRET": secrets.token_hex(16),
            "RENDER_WEBHOOK_ALLOW_LOOPBACK": "true",
            **os.environ,
            "PYTHONPATH": str(REPO),
            "TEMPORAL_ADDRESS": self.address,
            "RENDER_DATA_DIR": str(self.data),
            "RENDER_LOG_FORMAT": "json",
            "RENDER_HEALTH_PORT": str(free_port()),
            "RENDER_HEALTH_ADDRESS": "127.0.0.1",
            # One build for the cluster's life: a source file edited while it runs would otherwise make
            # the next worker another build, and pinned videos would wait for workers of the first.
            "RENDER_BUILD_ID": self.build_id,
            **self.env,
            **(env or {}),
        }
        self.health_ports.append(int(env["RENDER_HEALTH_PORT"]))
        with open(self.data / f"worker-{mode}-{len(self.workers)}.log", "ab") as log:
            command = [*wrapper, sys.executable, "-m", "workers", "--mode", mode, *args]
            proc = subprocess.Popen(command, env=env, stdout=log, stderr=log)
        self.workers.append(proc)
        if wait_ready:
            self._wait_ready(proc, int(env["RENDER_HEALTH_PORT"]), wait_ready)
        return proc

    @staticmethod
    def _wait_ready(proc: subprocess.Popen[bytes], port: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer,
            ):
                if answer.status == 200:
                    return
            time.sleep(0.2)

    def segments(self, video_id: str) -> list[Path]:
        """Checkpointed segments of the video's clips in the work store: those whose integrity record is written."""
        records = (self.data / "work" / video_id / "segments").glob("*/*.json")
        return sorted(r.with_suffix(".mov") for r in records)

    def stop(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        devserver.stop(self.data)
