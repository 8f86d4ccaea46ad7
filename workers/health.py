"""Every worker's HTTP side: /healthz, /readyz, /status and /metrics.

/metrics is ours (prometheus_client) followed by the Temporal SDK's own runtime
metrics, which the SDK serves on a loopback port that this server relays.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from activities import metrics
from workers.gpus import Gpu, sample_gpus


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

    def status(self) -> dict[str, Any]:
        in_flight = [asdict(c) for c in list(metrics.IN_FLIGHT.values())]
        return {
            "mode": self.mode,
            "ready": self.ready,
            "task_queues": self.task_queues,
            "render_slots": {"total": self.render_slots, "used": len(in_flight)},
            "clips_in_flight": in_flight,
            "encoder": self.encoder,
            "gpus": sample_gpus() if self.gpus else [],
        }

    def metrics_text(self) -> bytes:
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
    def __init__(self, state: WorkerState, address: str, port: int) -> None:
        self.state = state
        handler = _handler(state)
        self.httpd = ThreadingHTTPServer((address, port), handler)
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="health", daemon=True)

    def __enter__(self) -> HealthServer:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _handler(state: WorkerState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/healthz":
                self._send(200, b"ok\n", "text/plain")
            elif self.path == "/readyz":
                self._send(200 if state.ready else 503, b"ready\n" if state.ready else b"not ready\n", "text/plain")
            elif self.path == "/status":
                self._send(200, json.dumps(state.status(), indent=2).encode(), "application/json")
            elif self.path == "/metrics":
                self._send(200, state.metrics_text(), CONTENT_TYPE_LATEST)
            else:
                self._send(404, b"not found\n", "text/plain")

        def _send(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass  # probes every few seconds would drown the real logs

    return Handler
