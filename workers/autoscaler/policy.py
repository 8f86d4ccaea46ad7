"""Desired replicas per pool: a pure function of queue signals, current replicas, state and a clock.

Kept free of I/O so every rule below is table-tested and simulated with a fake clock:

* **From zero at once.** Any backlog (or sign of one, see `QueueSignal.effective_backlog`) wants at least
  one replica, and scale-up is never delayed.
* **Baseline before burst.** Pools that share a task queue split its backlog in configuration order:
  baseline pools take it first, up to their max; burst pools take what is left, and only while the
  time-to-start SLO is breached (backlog count or age over a threshold).
* **Busy workers are kept.** Running work (`QueueSignal.running`) holds replicas that exist, so a backlog
  that drained because workers took it does not shrink the pool under them.
* **Stabilisation.** A pool shrinks only to the highest desire seen during the last window, so the lower
  desire must hold for the whole window; spikes inside it cost no patches.
* **To zero only after idle.** A baseline pool keeps its last replica until its queue had no backlog and
  nothing running for `idle_seconds`.
* Bounds (`min_replicas`, `max_replicas`) always win.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    BASELINE = "baseline"
    """Takes the backlog first; keeps its last replica until the queue is idle."""
    BURST = "burst"
    """Grows only while the SLO is breached, for what the baseline pools cannot hold."""


@dataclass(frozen=True)
class Pool:
    """One Deployment scaled from one task queue (later one queue per GPU class)."""

    deployment: str
    namespace: str
    task_queue: str
    min_replicas: int = 0
    max_replicas: int = 1
    role: Role = Role.BASELINE
    target_backlog_per_replica: float | None = None
    """Overrides `Policy.target_backlog_per_replica` for this pool (a faster GPU class takes more)."""
    version: str | None = None
    """`<worker deployment>:<build id>`: scale on that build's share of the queue and its running videos
    only (a draining build with one retried clip scales up; a new build's backlog leaves it alone)."""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.deployment}"

    @property
    def source(self) -> str:
        """What this pool scales on: its task queue, or that queue's share of one build."""
        return f"{self.task_queue}@{self.version}" if self.version else self.task_queue


@dataclass(frozen=True)
class Policy:
    target_backlog_per_replica: float = 6.0
    """Backlog tasks one replica should face: replicas = ceil(backlog / this)."""
    running_per_replica: float | None = 1.0
    """Running items (see `QueueSignal.running`) that keep one existing replica; None ignores running work."""
    stabilization_seconds: float = 300.0
    """A lower desire must hold this long before a pool shrinks to it."""
    idle_seconds: float = 600.0
    """No backlog and nothing running for this long before a baseline pool gives up its last replica."""
    burst_backlog: int | None = 50
    """Backlog count at which burst pools may grow; None: never by count."""
    burst_age_seconds: float | None = 120.0
    """Age of the oldest waiting task (time-to-start SLO) at which burst pools may grow; None: never by age."""


@dataclass(frozen=True)
class QueueSignal:
    """What Temporal says about one task queue, plus the work in flight behind it."""

    backlog: int
    backlog_age_seconds: float = 0.0
    add_rate: float = 0.0
    dispatch_rate: float = 0.0
    running: int = 0
    pollers: int = -1
    """Workers the server saw polling the queue lately; -1 when not read."""

    @property
    def effective_backlog(self) -> int:
        """The count, or 1 when the count says 0 but a task is waiting.

        The count is approximate: the server caches it for seconds and resets it when an idle queue is
        unloaded. A waiting task's age, or tasks being added while none are dispatched, still show a backlog.
        """
        if self.backlog > 0:
            return self.backlog
        if self.backlog_age_seconds > 0 or (self.add_rate > 0 and self.dispatch_rate == 0):
            return 1
        return 0


@dataclass(frozen=True)
class PolicyState:
    """What the policy remembers between ticks; start with `PolicyState()`."""

    history: Mapping[str, tuple[tuple[float, int], ...]] = field(default_factory=dict)
    """Per pool key: (time, desire) pairs of the stabilisation window, and the one in force at its start."""
    idle_since: Mapping[str, float] = field(default_factory=dict)
    """Per task queue: when it last became idle (absent while busy)."""


@dataclass(frozen=True)
class Decision:
    pool: Pool
    current: int
    desired: int
    reason: str

    @property
    def changed(self) -> bool:
        return self.desired != self.current


def _clamp(value: int, pool: Pool) -> int:
    return max(pool.min_replicas, min(pool.max_replicas, value))


def target_per_replica(policy: Policy, pool: Pool) -> float:
    """Waiting tasks one replica of `pool` is meant to carry."""
    return pool.target_backlog_per_replica or policy.target_backlog_per_replica


def breached(policy: Policy, signal: QueueSignal) -> bool:
    """Whether the queue misses its time-to-start SLO, which is what lets burst pools grow."""
    by_count = policy.burst_backlog is not None and signal.effective_backlog >= policy.burst_backlog
    by_age = policy.burst_age_seconds is not None and signal.backlog_age_seconds >= policy.burst_age_seconds
    return by_count or by_age


def _share_backlog(policy: Policy, group: Sequence[Pool], signal: QueueSignal) -> dict[str, int]:
    """Replicas each pool wants for the backlog: baseline pools first, burst pools only on a breach."""
    left = float(signal.effective_backlog)
    burst_allowed = breached(policy, signal)
    wants: dict[str, int] = {}
    for role in (Role.BASELINE, Role.BURST):
        for pool in (p for p in group if p.role is role):
            target = target_per_replica(policy, pool)
            if role is Role.BURST and not burst_allowed:
                wants[pool.key] = 0
                continue
            share = min(left, pool.max_replicas * target)
            wants[pool.key] = math.ceil(share / target)
            left -= share
    return wants


def _share_busy(policy: Policy, group: Sequence[Pool], running: int, current: Mapping[str, int]) -> dict[str, int]:
    """Replicas held for running work: never more than exist, baseline pools first so bursts shrink first."""
    left = 0 if policy.running_per_replica is None else math.ceil(running / policy.running_per_replica)
    floors: dict[str, int] = {}
    for role in (Role.BASELINE, Role.BURST):
        for pool in (p for p in group if p.role is role):
            floors[pool.key] = min(current[pool.key], left)
            left -= floors[pool.key]
    return floors


def _window(seen: tuple[tuple[float, int], ...], now: float, window: float, raw: int) -> tuple[tuple[float, int], ...]:
    """Desires in force during (now - window, now], `raw` last.

    Desires are a step function of time: the last one recorded at or before the window's start was still in
    force at its start, so it stays (ticks may be further apart than the window). The first sight of a pool
    counts as a desire for what it has, so a restarted autoscaler never shrinks anything at once.
    """
    start = now - window
    before = [entry for entry in seen if entry[0] <= start]
    inside = tuple(entry for entry in seen if entry[0] > start)
    carried = (before[-1],) if before and window > 0 else ()
    return (*carried, *inside, (now, raw))


def _groups(pools: Sequence[Pool]) -> dict[str, list[Pool]]:
    groups: dict[str, list[Pool]] = {}
    for pool in pools:
        groups.setdefault(pool.source, []).append(pool)
    return groups


def decide(
    policy: Policy,
    pools: Sequence[Pool],
    signals: Mapping[str, QueueSignal],
    current: Mapping[str, int],
    state: PolicyState,
    now: float,
) -> tuple[list[Decision], PolicyState]:
    """One decision per pool (in `pools` order) and the state for the next call.

    `signals` is keyed by `Pool.source` (the task queue, or queue@version), `current` by `Pool.key`;
    `now` is any monotonic clock in seconds.
    """
    history = dict(state.history)
    idle_since = dict(state.idle_since)
    decided: dict[str, Decision] = {}
    window = policy.stabilization_seconds
    for queue, group in _groups(pools).items():
        signal = signals[queue]
        idle = signal.effective_backlog == 0 and (signal.running == 0 or policy.running_per_replica is None)
        if idle:
            idle_since.setdefault(queue, now)
        else:
            idle_since.pop(queue, None)
        idle_long = queue in idle_since and now - idle_since[queue] >= policy.idle_seconds
        wants = _share_backlog(policy, group, signal)
        floors = _share_busy(policy, group, signal.running, current)
        for pool in group:
            cur = current[pool.key]
            raw = _clamp(max(wants[pool.key], floors[pool.key]), pool)
            recent = _window(history.get(pool.key, ((now, cur),)), now, window, raw)
            history[pool.key] = recent
            desired = raw if raw >= cur else min(cur, max(n for _, n in recent))
            held_last = desired == 0 and cur > 0 and pool.role is Role.BASELINE and not idle_long
            if held_last:
                desired = 1
            desired = _clamp(desired, pool)
            reason = _reason(signal, cur, raw, desired, wants[pool.key], floors[pool.key], held_last, policy)
            decided[pool.key] = Decision(pool, cur, desired, reason)
    return [decided[p.key] for p in pools], PolicyState(history, idle_since)


def _reason(
    signal: QueueSignal, cur: int, raw: int, desired: int, want: int, floor: int, held_last: bool, policy: Policy
) -> str:
    """One line for the log saying which rule decided."""
    seen = f"backlog {signal.effective_backlog}, age {signal.backlog_age_seconds:.0f}s, running {signal.running}"
    if desired > cur:
        return f"scale up: {seen} wants {raw}"
    if held_last:
        return f"last replica kept until idle for {policy.idle_seconds:.0f}s: {seen}"
    if desired < cur:
        return f"scale down: {seen} wants {raw}"
    if floor >= cur > want:
        return f"busy replicas kept: {seen}"
    if raw < cur:
        return f"scale down to {raw} waits for {policy.stabilization_seconds:.0f}s of lower desire: {seen}"
    return f"steady: {seen}"
