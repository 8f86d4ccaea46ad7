"""Every worker's HTTP side: /healthz, /readyz, /status and /metrics.

/metrics is ours (prometheus_client) followed by the Temporal SDK's own runtime
metrics, which the SDK serves on a loopback port that this server relays.
"""

from __future__ import annotations

import errno
import json
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from engine import metrics
from workers.gpus import Gpu, sample_gpus
from workers.http import MAX_CONNECTIONS, TIMEOUT_SECONDS, BoundedHTTPServer, Reply, Routes, serve_routes


@dataclass
class WorkerState:
    mode: str
    task_queues: list[str]
    render_slots: int
    encoder: str
    gpus: list[Gpu] = field(default_factory=list)
    ready: bool = False
    """Connected and polling; false again once draining."""
    sdk_metrics_url: str | None = None
    status_detail: str = "full"
    """`counts`: /status says how many clips are in flight, not which videos they belong to."""
    version: str = ""
    """The Worker Deployment Version this worker joined, `deployment:build id`: which pods still serve a build."""
    paused: str | None = None
    """Why the worker takes no work now (a disk low on space: workers.disk), or None."""
    quarantined: str | None = None
    """Why this worker took itself out of the farm (workers/quarantine.py); None while it is in service."""

    def status(self) -> dict[str, Any]:
        in_flight = [asdict(c) for c in list(metrics.IN_FLIGHT.values())]
        return {
            "mode": self.mode,
            "version": self.version,
            "ready": self.ready and not self.paused,
            "paused": self.paused,
            "quarantined": self.quarantined,
            "task_queues": self.task_queues,
            "render_slots": {"total": self.render_slots, "used": len(in_flight)},
            "clips_in_flight": in_flight if self.status_detail == "full" else len(in_flight),
            "encoder": self.encoder,
            "gpus": sample_gpus() if self.gpus else [],
        }

    def metrics_text(self) -> bytes:
        for sample in sample_gpus() if self.gpus else []:
            metrics.GPU_UTILIZATION.labels(str(sample["index"])).set(sample["utilization"] / 100)
        ours = generate_latest()
        if not self.sdk_metrics_url:
            return ours
        try:
            with urllib.request.urlopen(self.sdk_metrics_url, timeout=2) as response:
                sdk: bytes = response.read()
        except OSError:
            return ours
        return ours + sdk


class HealthServer:
    def __init__(
        self,
        state: WorkerState,
        address: str,
        port: int,
        *,
        max_connections: int = MAX_CONNECTIONS,
        timeout_seconds: float = TIMEOUT_SECONDS,
    ) -> None:
        self.state, self.address, self.port = state, address, port
        self.max_connections, self.timeout_seconds = max_connections, timeout_seconds
        self.httpd: BoundedHTTPServer | None = None

    def routes(self) -> Routes:
        state = self.state

        def ready() -> Reply:
            if state.paused:
                return 503, f"paused: {state.paused}\n".encode(), "text/plain"
            return (200, b"ready\n", "text/plain") if state.ready else (503, b"not ready\n", "text/plain")

        return {
            "/healthz": lambda: (200, b"ok\n", "text/plain"),
            "/readyz": ready,
            "/status": lambda: (200, json.dumps(state.status(), indent=2).encode(), "application/json"),
            "/metrics": lambda: (200, state.metrics_text(), CONTENT_TYPE_LATEST),
        }

    def __enter__(self) -> HealthServer:
        try:
            self.httpd = serve_routes(
                self.routes(), self.address, self.port, "health",
                max_connections=self.max_connections, timeout_seconds=self.timeout_seconds,
            )  # fmt: skip
        except OSError as err:
            raise health_port_error(err, self.address, self.port) from None
        self.port = int(self.httpd.server_address[1])
        return self

    def __exit__(self, *_: object) -> None:
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()


def health_port_error(err: OSError, address: str, port: int) -> Exception:
    """A health port the worker cannot listen on, as the one-line configuration error the entry point prints
    (a second worker on one host takes the same default port): naming RENDER_HEALTH_PORT and what to set."""
    from workers.main import WorkerConfigError  # the entry point's own error; it imports this module

    if err.errno == errno.EADDRINUSE:
        why = f"port {port} on {address} is in use (another worker on this host?)"
    elif err.errno == errno.EACCES:
        why = f"port {port} on {address} needs privileges this worker does not have"
    elif err.errno == errno.EADDRNOTAVAIL:
        return WorkerConfigError(f"RENDER_HEALTH_ADDRESS: {address} is not an address of this host")
    else:
        why = f"cannot listen on {address}:{port}: {err.strerror or err}"
    return WorkerConfigError(f"RENDER_HEALTH_PORT: {why}; set RENDER_HEALTH_PORT to a free port, or 0 for none")
