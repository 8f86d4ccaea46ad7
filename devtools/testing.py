"""Helpers shared by the tests and the benchmarks (bench/ imports these, never tests/).

`FakeKube`: a stand-in for the slice of kube-apiserver the autoscaler uses: GET and PATCH of apps/v1
`deployments/{name}/scale`.

No kube-apiserver (nor kind, nor envtest's binaries) can be installed here, so the real `kubernetes` client
talks HTTP to this threaded server on 127.0.0.1. It answers like the apiserver for these two calls (an
autoscaling/v1 Scale, a Status with 404 for an unknown Deployment, 415 for a patch type the scale
subresource does not take) and records every request, so tests can hold RBAC to what was really called.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from activities.manifest import Manifest
from contracts.records import ClipResult, VideoResult
from devtools.scaling_probe import ProbeInput, ScaleProbe, render_like
from engine.storage import file_path

__all__ = ["FakeKube", "ProbeInput", "ScaleProbe", "clips_of", "render_like"]


def clips_of(result: VideoResult) -> list[ClipResult]:
    """Every clip's record, from the manifest published beside the video (the result is a bounded summary)."""
    return list(Manifest.decode(file_path(result.manifest_uri).read_bytes()).clips)


SCALE_PATH = "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"
PATCH_TYPES = ("application/merge-patch+json", "application/strategic-merge-patch+json")


@dataclass(frozen=True)
class Request:
    at: float
    method: str
    path: str
    namespace: str
    name: str
    content_type: str | None
    body: Any


class FakeKube:
    """Deployments as {(namespace, name): replicas}; `url` is the endpoint to give the client."""

    def __init__(self, deployments: dict[tuple[str, str], int]) -> None:
        self.replicas = dict(deployments)
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeKube:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()

    def patches(self, name: str | None = None) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.method == "PATCH" and name in (None, r.name)]

    def _scale(self, namespace: str, name: str) -> dict[str, Any]:
        replicas = self.replicas[(namespace, name)]
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": replicas},
            "status": {"replicas": replicas, "selector": f"app.kubernetes.io/name={name}"},
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._serve("GET")

            def do_PATCH(self) -> None:
                self._serve("PATCH")

            def _serve(self, method: str) -> None:
                parts = self.path.split("?")[0].strip("/").split("/")
                if not (len(parts) == 8 and parts[:4] == ["apis", "apps", "v1", "namespaces"]) or (
                    parts[5] != "deployments" or parts[7] != "scale"
                ):
                    return self._status(404, "NotFound", f"no route for {self.path}")
                namespace, name = parts[4], parts[6]
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                content_type = self.headers.get("Content-Type")
                with fake._lock:
                    fake.requests.append(
                        Request(time.monotonic(), method, self.path, namespace, name, content_type, body)
                    )
                    if (namespace, name) not in fake.replicas:
                        return self._status(404, "NotFound", f'deployments.apps "{name}" not found')
                    if method == "PATCH":
                        if content_type not in PATCH_TYPES:
                            return self._status(415, "UnsupportedMediaType", f"unsupported patch type {content_type}")
                        replicas = (body or {}).get("spec", {}).get("replicas")
                        if not isinstance(replicas, int) or replicas < 0:
                            return self._status(422, "Invalid", f"spec.replicas: invalid value {replicas!r}")
                        fake.replicas[(namespace, name)] = replicas
                    self._json(200, fake._scale(namespace, name))

            def _status(self, code: int, reason: str, message: str) -> None:
                body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message}
                self._json(code, {**body, "reason": reason, "code": code})

            def _json(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: the requests are recorded instead."""

        return Handler
