"""A tiny GET-only HTTP server for probes, status and metrics, on a daemon thread.

Bounded, so that clients that connect and send nothing (or trickle bytes) cannot take
it over: each connection has a read timeout and an overall deadline, and at most
`max_connections` are served at once. When all are taken, a new connection pushes
out the longest-idle one that has not yet sent its request, so a probe still gets
through; if every connection is busy answering, the newcomer is closed at once.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = tuple[int, bytes, str]
"""Status code, body, content type."""
Routes = dict[str, Callable[[], Reply]]

MAX_CONNECTIONS = 32
TIMEOUT_SECONDS = 5.0
"""A read that waits longer than this closes the connection; a whole exchange gets three times as long."""


@dataclass
class _Connection:
    accepted: float
    busy: bool = False
    """Its request has arrived: it is being answered, not idle."""
    evicted: bool = False


class BoundedHTTPServer(ThreadingHTTPServer):
    """A thread per connection, at most `max_connections` of them, none held by an idle client."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 max_connections: int, timeout_seconds: float) -> None:  # fmt: skip
        self.max_connections, self.timeout_seconds = max_connections, timeout_seconds
        self.connections: dict[Any, _Connection] = {}
        self.lock = threading.Lock()
        self.closing = threading.Event()
        self.refused = 0
        """Connections closed at once because every slot was busy."""
        self.evicted = 0
        """Idle connections pushed out to make room."""
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.lock:
            live = [(sock, c) for sock, c in self.connections.items() if not c.evicted]
            if len(live) >= self.max_connections:
                idle = [(sock, c) for sock, c in live if not c.busy]
                if not idle:
                    self.refused += 1
                    self.shutdown_request(request)
                    return
                sock, oldest = min(idle, key=lambda item: item[1].accepted)
                oldest.evicted = True
                self.evicted += 1
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            self.connections[request] = _Connection(time.monotonic())
        super().process_request(request, client_address)

    def mark_busy(self, request: Any) -> None:
        with self.lock:
            if request in self.connections:
                self.connections[request].busy = True

    def shutdown_request(self, request: Any) -> None:
        with self.lock:
            self.connections.pop(request, None)
        super().shutdown_request(request)

    def open_connections(self) -> int:
        with self.lock:
            return len(self.connections)

    def cut_overdue(self) -> None:
        """End connections older than three read timeouts: a client trickling a byte at a time
        never trips the read timeout. One watchdog thread for all of them."""
        while not self.closing.wait(min(1.0, self.timeout_seconds / 2)):
            limit = time.monotonic() - 3 * self.timeout_seconds
            with self.lock:
                overdue = [sock for sock, c in self.connections.items() if c.accepted < limit and not c.evicted]
                for sock in overdue:
                    self.connections[sock].evicted = True
            for sock in overdue:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def server_close(self) -> None:
        self.closing.set()
        super().server_close()


def serve_routes(
    routes: Routes,
    host: str,
    port: int,
    name: str,
    *,
    max_connections: int = MAX_CONNECTIONS,
    timeout_seconds: float = TIMEOUT_SECONDS,
) -> BoundedHTTPServer:
    """Serve `routes` by exact path; `server.server_address` has the port when `port` is 0."""

    class Handler(BaseHTTPRequestHandler):
        timeout = timeout_seconds
        server: BoundedHTTPServer

        def finish(self) -> None:
            with contextlib.suppress(OSError):  # the client, or the deadline, may have cut it already
                super().finish()

        def parse_request(self) -> bool:
            ok = super().parse_request()
            if ok:
                self.server.mark_busy(self.request)
            return ok

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

    server = BoundedHTTPServer((host, port), Handler, max_connections, timeout_seconds)
    threading.Thread(target=server.serve_forever, name=name, daemon=True).start()
    threading.Thread(target=server.cut_overdue, name=f"{name}-deadlines", daemon=True).start()
    return server
