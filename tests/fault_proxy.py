"""A fault-injecting HTTP proxy for the S3 endpoint: 500s, 503s, dropped and cut connections, on cue.

It sits on 127.0.0.1 in front of the moto server, one thread per connection, and
forwards every request byte for byte (the signature still checks out), unless a
rule says to fail it. Rules match on method and path/query and fire a set number
of times, so a test knows exactly how many faults the client had to ride out.

`throttle(bytes_per_second)` makes it a slow link: request bodies are read and
response bodies written at that rate in each direction, shared by all connections.
A request whose body stops short (the client gave up) is never forwarded, as S3
itself would refuse a body shorter than its Content-Length.
"""

from __future__ import annotations

import http.client
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

FAULTS = ("500", "503", "drop", "drop-after", "cut-body")
"""500/503: an S3 error answer. drop: close before forwarding. drop-after: forward, then close
without answering (the request took effect, the client never hears). cut-body: answer with
half the body, then close."""


@dataclass
class Rule:
    fault: str
    method: str = ".*"
    path: str = ".*"
    """Regex searched in path?query."""
    times: int = 1
    every: int = 1
    """Fire on every n-th matching request (1: each one) until `times` faults were injected."""
    seen: int = 0
    fired: int = 0

    def wants(self, method: str, target: str) -> bool:
        if self.fired >= self.times or not re.fullmatch(self.method, method) or not re.search(self.path, target):
            return False
        self.seen += 1
        if self.seen % self.every:
            return False
        self.fired += 1
        return True


PACE_CHUNK = 4096
"""Bytes moved at a time on a throttled link."""
WINDOW = 16384
"""Receive buffer of a throttled proxy's connections."""


class Pace:
    """One direction of a slow link: callers wait until their bytes would have gone through."""

    def __init__(self) -> None:
        self.rate: float | None = None
        self._free_at = 0.0
        self._lock = threading.Lock()

    def take(self, count: int) -> None:
        with self._lock:
            if not self.rate:
                return
            now = time.monotonic()
            self._free_at = max(self._free_at, now) + count / self.rate
            wait = self._free_at - now
        time.sleep(wait)


@dataclass
class Record:
    method: str
    target: str
    fault: str | None
    status: int | None


@dataclass
class FaultProxy:
    upstream: str
    rules: list[Rule] = field(default_factory=list)
    log: list[Record] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None
    upstream_pace: Pace = field(default_factory=Pace)
    """Request bodies, client → S3."""
    downstream_pace: Pace = field(default_factory=Pace)
    """Response bodies, S3 → client."""

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def add(self, *rules: Rule) -> None:
        with self.lock:
            self.rules.extend(rules)

    def throttle(self, bytes_per_second: float | None) -> None:
        """Limit both directions to this many bytes per second (None: full speed)."""
        self.upstream_pace.rate = bytes_per_second
        self.downstream_pace.rate = bytes_per_second

    def clear(self) -> None:
        with self.lock:
            self.rules.clear()
            self.log.clear()

    def injected(self) -> list[Record]:
        with self.lock:
            return [r for r in self.log if r.fault]

    def choose(self, method: str, target: str) -> str | None:
        with self.lock:
            for rule in self.rules:
                if rule.wants(method, target):
                    return rule.fault
        return None

    def record(self, entry: Record) -> None:
        with self.lock:
            self.log.append(entry)

    def start(self) -> None:
        upstream = urlsplit(self.upstream)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

            def handle_one_request(self) -> None:
                try:
                    super().handle_one_request()
                except (TimeoutError, ConnectionError):
                    self.close_connection = True

            def relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.receive(length)
                if len(body) < length:
                    proxy.record(Record(self.command, self.path, None, None))  # the client gave up mid-body
                    self.hang_up()
                    return
                fault = proxy.choose(self.command, self.path)
                if fault == "drop":
                    proxy.record(Record(self.command, self.path, fault, None))
                    self.hang_up()
                    return
                if fault in ("500", "503"):
                    proxy.record(Record(self.command, self.path, fault, int(fault)))
                    self.answer_error(int(fault))
                    return
                conn = http.client.HTTPConnection(upstream.hostname or "127.0.0.1", upstream.port, timeout=60)
                try:
                    # The client already had its "100 Continue" from this handler.
                    headers = {k: v for k, v in self.headers.items() if k.lower() != "expect"}
                    conn.request(self.command, self.path, body=body, headers=headers)
                    response = conn.getresponse()
                    data = response.read()
                finally:
                    conn.close()
                proxy.record(Record(self.command, self.path, fault, response.status))
                if fault == "drop-after":
                    self.hang_up()
                    return
                self.send_response_only(response.status, response.reason)
                for key, value in response.getheaders():
                    if key.lower() not in ("connection", "transfer-encoding", "content-length"):
                        self.send_header(key, value)
                declared = len(data) if self.command != "HEAD" else int(response.getheader("Content-Length") or 0)
                self.send_header("Content-Length", str(declared))
                self.end_headers()
                if self.command == "HEAD":
                    return
                if fault == "cut-body" and len(data) > 1:
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.hang_up()
                    return
                self.send(data)

            def receive(self, length: int) -> bytes:
                chunks, left = [], length
                while left > 0:
                    proxy.upstream_pace.take(min(left, PACE_CHUNK))
                    chunk = self.rfile.read(min(left, PACE_CHUNK) if proxy.upstream_pace.rate else left)
                    if not chunk:
                        break
                    chunks.append(chunk)
                    left -= len(chunk)
                return b"".join(chunks)

            def send(self, data: bytes) -> None:
                if not proxy.downstream_pace.rate:
                    self.wfile.write(data)
                    return
                for start in range(0, len(data), PACE_CHUNK):
                    proxy.downstream_pace.take(len(data[start : start + PACE_CHUNK]))
                    self.wfile.write(data[start : start + PACE_CHUNK])
                    self.wfile.flush()

            def answer_error(self, status: int) -> None:
                code = "InternalError" if status == 500 else "SlowDown"
                body = f"<Error><Code>{code}</Code><Message>injected</Message></Error>".encode()
                self.send_response_only(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body) if self.command != "HEAD" else 0))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def hang_up(self) -> None:
                self.close_connection = True
                with suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = relay

        class Server(ThreadingHTTPServer):
            def server_bind(self) -> None:
                # A slow link holds little in flight: a small receive window (inherited by
                # accepted connections) keeps the client from queueing megabytes in the kernel.
                if proxy.upstream_pace.rate:
                    self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, WINDOW)
                super().server_bind()

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, name="fault-proxy", daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@contextmanager
def fault_proxy(upstream: str, bytes_per_second: float | None = None) -> Iterator[FaultProxy]:
    proxy = FaultProxy(upstream)
    proxy.throttle(bytes_per_second)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
