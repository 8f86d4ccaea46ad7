"""The control loop: read signals and replicas, ask the policy, patch what changed, report."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import structlog

from workers.autoscaler.config import AutoscalerConfig
from workers.autoscaler.kube import Scaler
from workers.autoscaler.metrics import Health, Metrics
from workers.autoscaler.policy import Decision, PolicyState, QueueSignal, decide, target_per_replica
from workers.autoscaler.signals import DrainSignals, Signals

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Tick:
    """One pass of the loop, for observers (tests, the benchmark) and the log."""

    at: float
    signals: dict[str, QueueSignal] = field(default_factory=dict)
    decisions: list[Decision] = field(default_factory=list)
    patched: dict[str, int] = field(default_factory=dict)
    """Pool key -> replicas patched (empty in dry-run)."""
    idle_since: dict[str, float] = field(default_factory=dict)
    error: str | None = None


class Autoscaler:
    def __init__(
        self,
        config: AutoscalerConfig,
        signals: Signals,
        scaler: Scaler,
        metrics: Metrics | None = None,
        health: Health | None = None,
        clock: Callable[[], float] = time.monotonic,
        observer: Callable[[Tick], None] | None = None,
    ) -> None:
        self.config = config
        self._signals = signals
        self._scaler = scaler
        self._metrics = metrics or Metrics()
        self._health = health or Health(config.interval_seconds, clock)
        self._clock = clock
        self._observer = observer
        self._state = PolicyState()

    async def _read(self) -> tuple[dict[str, QueueSignal], dict[str, int], dict[str, QueueSignal]]:
        """Signals by pool source (what decisions use), replicas by pool, and signals by whole task queue
        (what the metrics and alerts read, whatever builds the pools follow)."""
        config = self.config
        sources = config.sources
        queues = await asyncio.gather(
            *(self._signals.queue(q) if v is None else self._signals.queue(q, v) for q, v in sources.values())
        )
        counts: dict[str | None, int] = {}
        for _, version in sources.values():
            if config.in_flight_query and version not in counts:
                query = config.in_flight_query
                if version is not None:  # that build's videos only
                    query = f"({query}) AND TemporalWorkerDeploymentVersion = '{version}'"
                counts[version] = await self._signals.running(query)
        replicas = await asyncio.gather(*(self._scaler.replicas(p) for p in config.pools))
        signals = {
            source: replace(s, running=counts.get(version, 0))
            for (source, (_, version)), s in zip(sources.items(), queues, strict=True)
        }
        whole = {q: signals[q] for q in config.queues if q in signals}
        for queue in config.queues:
            if queue not in whole:  # every pool of it follows a build: read the whole queue for the metrics
                if None not in counts and config.in_flight_query:
                    counts[None] = await self._signals.running(config.in_flight_query)
                whole[queue] = replace(await self._signals.queue(queue), running=counts.get(None, 0))
        return signals, {p.key: n for p, n in zip(config.pools, replicas, strict=True)}, whole

    async def tick(self) -> Tick:
        """One decision round. Never raises: a failed read skips the round, a failed patch skips that pool."""
        try:
            signals, current, whole = await self._read()
        except Exception as err:
            self._metrics.errors.labels("read").inc()
            log.warning("autoscaler read failed, nothing changed", error=f"{type(err).__name__}: {err}")
            return self._finish(Tick(at=self._clock(), error=f"read: {err}"))
        await self._versions()
        now = self._clock()
        decisions, self._state = decide(self.config.policy, self.config.pools, signals, current, self._state, now)
        self._report(whole, decisions)
        self._report_versions(signals)
        patched: dict[str, int] = {}
        errors = []
        for decision in decisions:
            if decision.changed and not self.config.dry_run:
                try:
                    await self._scaler.scale(decision.pool, decision.desired)
                except Exception as err:
                    self._metrics.errors.labels("patch").inc()
                    errors.append(f"{decision.pool.key}: {err}")
                    log.warning("scale patch failed", pool=decision.pool.key, error=f"{type(err).__name__}: {err}")
                    continue
                patched[decision.pool.key] = decision.desired
                direction = "up" if decision.desired > decision.current else "down"
                self._metrics.patches.labels(decision.pool.key, direction).inc()
        tick = Tick(now, signals, decisions, patched, dict(self._state.idle_since), "; ".join(errors) or None)
        return self._finish(tick)

    async def _versions(self) -> None:
        """Report draining versions of the configured Worker Deployment; a failure never stops scaling."""
        deployment = self.config.worker_deployment
        if not deployment or not isinstance(self._signals, DrainSignals):
            return
        try:
            draining = await self._signals.draining(deployment)
        except Exception as err:
            self._metrics.errors.labels("versions").inc()
            log.warning("worker deployment read failed", deployment=deployment, error=f"{type(err).__name__}: {err}")
            return
        self._metrics.draining.clear()  # a version that drained (or was deleted) leaves the metric
        for build_id, seconds in draining.items():
            self._metrics.draining.labels(deployment, build_id).set(seconds)

    def _report(self, signals: dict[str, QueueSignal], decisions: list[Decision]) -> None:
        m = self._metrics
        for queue, s in signals.items():
            m.backlog.labels(queue).set(s.backlog)
            m.backlog_age.labels(queue).set(s.backlog_age_seconds)
            m.add_rate.labels(queue).set(s.add_rate)
            m.dispatch_rate.labels(queue).set(s.dispatch_rate)
            if s.pollers >= 0:
                m.pollers.labels(queue).set(s.pollers)
            pools = [p for p in self.config.pools if p.task_queue == queue]
            m.backlog_target.labels(queue).set(
                sum(p.max_replicas * target_per_replica(self.config.policy, p) for p in pools)
            )
            m.running.set(s.running)
        for d in decisions:
            m.current.labels(d.pool.key).set(d.current)
            m.desired.labels(d.pool.key).set(d.desired)
            m.baseline.labels(d.pool.key).set(d.pool.min_replicas)
            fields = {"pool": d.pool.key, "current": d.current, "desired": d.desired, "reason": d.reason}
            if d.changed:
                log.info("scaling" if not self.config.dry_run else "would scale (dry run)", **fields)
            else:
                log.debug("holding", **fields)

    def _report_versions(self, signals: dict[str, QueueSignal]) -> None:
        """The backlog and age of each build a pool follows: what a rollout or a drain is waiting on."""
        m = self._metrics
        m.version_backlog.clear()  # a build no pool follows any more leaves the metric
        m.version_backlog_age.clear()
        for source, (queue, version) in self.config.sources.items():
            if version is not None and source in signals:
                m.version_backlog.labels(queue, version).set(signals[source].backlog)
                m.version_backlog_age.labels(queue, version).set(signals[source].backlog_age_seconds)

    def _finish(self, tick: Tick) -> Tick:
        self._metrics.last_tick.set(time.time())
        self._health.ticked(tick.error)
        if self._observer is not None:
            self._observer(tick)
        return tick

    async def run(self, stop: asyncio.Event) -> None:
        """Tick every `interval_seconds` until `stop` is set."""
        log.info(
            "autoscaler started",
            pools=[p.key for p in self.config.pools],
            queues=list(self.config.sources),
            dry_run=self.config.dry_run,
            interval_seconds=self.config.interval_seconds,
        )
        while not stop.is_set():
            await self.tick()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.config.interval_seconds)
