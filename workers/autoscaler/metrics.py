"""The autoscaler's own `/metrics` (Prometheus text) and `/healthz`, on one small threaded HTTP server."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from http.server import ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest

from workers.http import Reply, Routes, serve_routes

METRICS_PATH = "/metrics"
HEALTH_PATH = "/healthz"


class Metrics:
    """Gauges and counters in a registry of their own, so nothing else in the process leaks into them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        queue, pool = ["task_queue"], ["pool"]
        self.backlog = Gauge("render_autoscaler_backlog", "Approximate backlog count", queue, registry=self.registry)
        self.backlog_age = Gauge(
            "render_autoscaler_backlog_age_seconds", "Age of the oldest waiting task", queue, registry=self.registry
        )
        self.add_rate = Gauge(
            "render_autoscaler_tasks_add_rate", "Tasks added per second", queue, registry=self.registry
        )
        self.dispatch_rate = Gauge(
            "render_autoscaler_tasks_dispatch_rate", "Tasks dispatched per second", queue, registry=self.registry
        )
        self.backlog_target = Gauge(
            "render_autoscaler_backlog_target",
            "Backlog the queue's pools are sized for at their maximum (max replicas x target per replica)",
            queue,
            registry=self.registry,
        )
        by_version = ["task_queue", "version"]
        self.version_backlog = Gauge(
            "render_autoscaler_version_backlog",
            "Backlog of the tasks pinned to one Worker Deployment version (a pool that follows a build)",
            by_version,
            registry=self.registry,
        )
        self.version_backlog_age = Gauge(
            "render_autoscaler_version_backlog_age_seconds",
            "Age of the oldest task waiting for one Worker Deployment version",
            by_version,
            registry=self.registry,
        )
        self.pollers = Gauge(
            "render_autoscaler_pollers", "Workers the server saw polling lately", queue, registry=self.registry
        )
        self.running = Gauge("render_autoscaler_running", "Work in flight (running workflows)", registry=self.registry)
        self.current = Gauge("render_autoscaler_current_replicas", "Replicas read", pool, registry=self.registry)
        self.desired = Gauge("render_autoscaler_desired_replicas", "Replicas decided", pool, registry=self.registry)
        self.baseline = Gauge(
            "render_autoscaler_min_replicas", "The pool's configured floor (its baseline)", pool, registry=self.registry
        )
        self.patches = Counter(
            "render_autoscaler_patches", "Scale patches sent", ["pool", "direction"], registry=self.registry
        )
        self.draining = Gauge(
            "render_autoscaler_version_draining_seconds",
            "Seconds a Worker Deployment version has been draining (no new work, pinned workflows still open)",
            ["deployment", "build_id"],
            registry=self.registry,
        )
        self.errors = Counter("render_autoscaler_errors", "Failed reads or patches", ["stage"], registry=self.registry)
        self.last_tick = Gauge(
            "render_autoscaler_last_tick_timestamp_seconds", "Unix time of the last tick", registry=self.registry
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


class Health:
    """Alive while ticks keep completing (failed ones too: a restart would not bring Temporal back)."""

    def __init__(self, interval_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.stale_after = 3 * interval_seconds + 10
        self._clock = clock
        self._last = clock()
        self.last_error: str | None = None

    def ticked(self, error: str | None = None) -> None:
        self._last = self._clock()
        self.last_error = error

    def report(self) -> tuple[bool, dict[str, object]]:
        age = self._clock() - self._last
        ok = age <= self.stale_after
        return ok, {
            "status": "ok" if ok else "stale",
            "seconds_since_tick": round(age, 3),
            "last_error": self.last_error,
        }


def serve_http(metrics: Metrics, health: Health, port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """Start serving in a daemon thread; `server.server_address` has the port when `port` is 0."""

    def healthz() -> Reply:
        ok, body = health.report()
        return 200 if ok else 503, json.dumps(body).encode(), "application/json"

    routes: Routes = {METRICS_PATH: lambda: (200, metrics.render(), CONTENT_TYPE_LATEST), HEALTH_PATH: healthz}
    return serve_routes(routes, host, port, "autoscaler-http")
