"""A tiny GET-only HTTP server for probes, status and metrics, on a daemon thread."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Reply = tuple[int, bytes, str]
"""Status code, body, content type."""
Routes = dict[str, Callable[[], Reply]]


def serve_routes(routes: Routes, host: str, port: int, name: str) -> ThreadingHTTPServer:
    """Serve `routes` by exact path; `server.server_address` has the port when `port` is 0."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            route = routes.get(self.path)
            status, body, content_type = route() if route else (404, b"not found\n", "text/plain")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Probes every few seconds would drown the real logs."""

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name=name, daemon=True).start()
    return server
