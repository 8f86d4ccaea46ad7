"""Slow clients against the health server: idle connections held, closed, and a probe's latency.

    PYTHONPATH=. python -m bench.slow_clients [--sockets 200] [--wait 20]

Opens `--sockets` connections that send nothing to a health server with the default limits,
then times a /healthz probe beside them (and the same probe with no idle connection, for the
ratio), counts the server's threads, and after `--wait` seconds how many of the idle
connections the server closed.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import threading
import time
import urllib.request

from workers.http import serve_routes


def probe(port: int) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
        response.read()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sockets", type=int, default=200)
    parser.add_argument("--wait", type=float, default=20.0)
    args = parser.parse_args()
    server = serve_routes({"/healthz": lambda: (200, b"ok\n", "text/plain")}, "127.0.0.1", 0, "bench")
    port = int(server.server_address[1])
    quiet = min(probe(port) for _ in range(5))
    base = threading.active_count()
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(args.sockets)]
    time.sleep(1)
    busy = min(probe(port) for _ in range(5))
    held = threading.active_count() - base
    time.sleep(args.wait)
    closed = 0
    for sock in idle:
        sock.setblocking(False)
        with contextlib.suppress(BlockingIOError):  # still open: nothing to read yet
            closed += sock.recv(1) == b""
        sock.close()
    print(f"idle sockets: {args.sockets}; server threads while they wait: {held}")
    print(f"closed by the server within {args.wait:g} s: {closed}/{args.sockets}")
    print(f"probe: {busy * 1000:.1f} ms beside them, {quiet * 1000:.1f} ms alone")
    print(f"headline: probe latency with {args.sockets} idle sockets ÷ alone = {busy / quiet:.2f}")
    server.shutdown()


if __name__ == "__main__":
    main()
