"""The scaling policy as a pure function: each rule as a table of (time, signal) -> replicas, fake clock."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workers.autoscaler.policy import Decision, Policy, PolicyState, Pool, QueueSignal, Role, breached, decide

Q = "render-gpu"
GPU = Pool("render-gpu", "render", Q, min_replicas=0, max_replicas=10)
BASE = Pool("render-gpu", "render", Q, min_replicas=0, max_replicas=2)
BURST = Pool("render-gpu-burst", "render", Q, min_replicas=0, max_replicas=10, role=Role.BURST)
POLICY = Policy(
    target_backlog_per_replica=5,
    running_per_replica=1,
    stabilization_seconds=60,
    idle_seconds=120,
    burst_backlog=30,
    burst_age_seconds=120,
)
SEED_FORMULA = Policy(
    target_backlog_per_replica=200 * 0.5,
    running_per_replica=None,
    stabilization_seconds=0,
    idle_seconds=0,
    burst_backlog=None,
    burst_age_seconds=None,
)
"""The trivia farm's `ceil(pending / (200 x 0.5))`, bounded 1-20, as one configuration."""
SEED_POOL = Pool("gpu-video-workers", "render", Q, min_replicas=1, max_replicas=20)


def sig(backlog: int = 0, running: int = 0, age: float = 0.0, add: float = 0.0, dispatch: float = 0.0) -> QueueSignal:
    return QueueSignal(backlog, age, add, dispatch, running)


def replay(
    steps: Sequence[tuple[float, QueueSignal]],
    pools: Sequence[Pool] = (GPU,),
    policy: Policy = POLICY,
    start: dict[str, int] | None = None,
) -> list[tuple[int, ...]]:
    """Replicas after each step, assuming every decision is applied (as the loop does)."""
    current = start or {p.key: 0 for p in pools}
    state = PolicyState()
    seen = []
    for now, signal in steps:
        decisions, state = decide(policy, pools, {Q: signal}, current, state, now)
        current = {d.pool.key: d.desired for d in decisions}
        seen.append(tuple(current[p.key] for p in pools))
    return seen


def test_scales_from_zero_on_the_first_task_at_once() -> None:
    # Stabilisation (60 s) never delays a scale-up.
    assert replay([(0, sig(backlog=1)), (1, sig(backlog=12)), (2, sig(backlog=50))]) == [(1,), (3,), (10,)]


@pytest.mark.parametrize(
    "signal",
    [sig(age=3.0), sig(add=0.5, dispatch=0.0)],
    ids=["count-0-but-a-task-is-waiting", "tasks-added-none-dispatched"],
)
def test_a_backlog_the_cached_count_misses_still_scales_from_zero(signal: QueueSignal) -> None:
    assert signal.effective_backlog == 1
    assert replay([(0, signal)]) == [(1,)]


def test_rates_of_drained_work_are_not_a_backlog() -> None:
    assert sig(add=0.3, dispatch=0.3).effective_backlog == 0
    assert replay([(0, sig(add=0.3, dispatch=0.3))]) == [(0,)]


def test_scales_to_zero_only_after_the_idle_period() -> None:
    start = {GPU.key: 2}
    steps = [(t, sig()) for t in (0, 30, 61, 119, 120, 121)]
    # The window (60 s) lets 2 -> 1 go at t=61; the last replica waits for 120 s of idle.
    assert replay(steps, start=start) == [(2,), (2,), (1,), (1,), (0,), (0,)]


def test_new_work_restarts_the_idle_clock() -> None:
    steps = [(0, sig(backlog=3)), (10, sig()), (100, sig(backlog=1)), (110, sig()), (200, sig()), (230, sig())]
    # Idle from 10, broken at 100, idle again from 110: zero at 230, not at 130.
    assert replay(steps) == [(1,), (1,), (1,), (1,), (1,), (0,)]


def test_busy_workers_are_kept_when_the_backlog_drains() -> None:
    start = {GPU.key: 4}
    steps = [(t, sig(running=3)) for t in (0, 100, 500)] + [(600, sig(running=1)), (661, sig(running=1))]
    steps += [(700, sig()), (821, sig())]
    # Three running videos hold three of four replicas however long they run; then one; then idle -> zero.
    assert replay(steps, start=start) == [(4,), (3,), (3,), (3,), (1,), (1,), (0,)]


def test_running_work_never_scales_up_by_itself() -> None:
    # Running workflows without a backlog are in their control steps: no GPU replica is started for them.
    assert replay([(0, sig(running=5)), (10, sig(running=5))]) == [(0,), (0,)]


def test_backlog_only_configuration_ignores_running_work() -> None:
    policy = Policy(target_backlog_per_replica=5, running_per_replica=None, stabilization_seconds=0, idle_seconds=0)
    assert replay([(0, sig(running=9))], policy=policy, start={GPU.key: 3}) == [(0,)]


@pytest.mark.parametrize(
    ("pool", "start", "signal", "expected"),
    [
        (GPU, 0, sig(backlog=10_000), 10),
        (Pool("gpu", "render", Q, min_replicas=2, max_replicas=4), 0, sig(), 2),
        (Pool("gpu", "render", Q, min_replicas=2, max_replicas=4), 9, sig(backlog=100), 4),
        (Pool("gpu", "render", Q, min_replicas=1, max_replicas=4), 1, sig(), 1),
    ],
    ids=["max", "min-from-zero", "above-max-after-a-manual-scale", "always-on-baseline"],
)
def test_bounds_always_win(pool: Pool, start: int, signal: QueueSignal, expected: int) -> None:
    # Even at the first tick, where stabilisation would otherwise hold what exists.
    assert replay([(0, signal), (10_000, signal)], pools=[pool], start={pool.key: start}) == [(expected,)] * 2


def test_stabilisation_holds_through_oscillation_and_lets_go_after_the_window() -> None:
    bursty = [(float(t), sig(backlog=30 if t % 20 == 0 else 0)) for t in range(0, 101, 10)]
    seen = replay(bursty)
    assert seen == [(6,)] * len(seen)
    # The last 30 at t=100, then a lower desire (1) from t=110: the pool shrinks at t=170, one window later.
    calm = [(110.0, sig(backlog=5)), (169.0, sig(backlog=5)), (170.0, sig(backlog=5))]
    assert replay(bursty + calm)[-3:] == [(6,), (6,), (1,)]


def test_a_fresh_autoscaler_never_shrinks_what_it_finds_at_once() -> None:
    assert replay([(0, sig(backlog=5)), (59, sig(backlog=5)), (60, sig(backlog=5))], start={GPU.key: 7}) == [
        (7,),
        (7,),
        (1,),
    ]


def test_baseline_takes_the_backlog_before_burst() -> None:
    pools = (BASE, BURST)
    # Under the SLO thresholds the burst pool stays at zero even when the baseline is full.
    assert replay([(0, sig(backlog=25, age=10))], pools=pools) == [(2, 0)]
    # Over the count threshold: the baseline holds 10 tasks (2 x 5), the burst pool the other 30.
    assert replay([(0, sig(backlog=40, age=10))], pools=pools) == [(2, 6)]
    # Over the age threshold (time-to-start SLO) with a smaller backlog.
    assert replay([(0, sig(backlog=20, age=130))], pools=pools) == [(2, 2)]
    # A breach the baseline can hold alone starts no burst replica.
    assert replay([(0, sig(backlog=8, age=300))], pools=pools) == [(2, 0)]


def test_burst_shrinks_before_baseline_and_keeps_busy_replicas() -> None:
    pools = (BASE, BURST)
    steps = [(0, sig(backlog=60, age=200)), (10, sig(running=4)), (71, sig(running=4)), (80, sig(running=1))]
    steps += [(141, sig(running=1)), (142, sig()), (262, sig())]
    # Four running items keep 2 baseline + 2 burst; at one, the burst pool goes first; idle takes the rest.
    assert replay(steps, pools=pools) == [(2, 10), (2, 10), (2, 2), (2, 2), (1, 0), (1, 0), (0, 0)]


def test_burst_pools_have_no_last_replica_rule() -> None:
    pools = (BASE, BURST)
    steps = [(0, sig(backlog=40)), (10, sig(backlog=8)), (71, sig(backlog=8))]
    assert replay(steps, pools=pools) == [(2, 6), (2, 6), (2, 0)]


def test_pools_on_other_queues_scale_independently() -> None:
    t4 = Pool("render-gpu-t4", "render", "render-gpu-t4", max_replicas=5)
    l4 = Pool("render-gpu-l4", "render", "render-gpu-l4", max_replicas=5, target_backlog_per_replica=10)
    signals = {"render-gpu-t4": sig(backlog=20), "render-gpu-l4": sig(backlog=20)}
    decisions, _ = decide(POLICY, [t4, l4], signals, {t4.key: 0, l4.key: 0}, PolicyState(), 0)
    assert [d.desired for d in decisions] == [4, 2]


def test_breach_thresholds_can_be_switched_off() -> None:
    off = Policy(burst_backlog=None, burst_age_seconds=None)
    assert not breached(off, sig(backlog=10**6, age=10**6))
    assert breached(POLICY, sig(backlog=30))
    assert breached(POLICY, sig(backlog=1, age=120))


def test_reasons_name_the_rule_that_decided() -> None:
    def one(signal: QueueSignal, start: int, now: float = 0.0) -> Decision:
        decisions, _ = decide(POLICY, [GPU], {Q: signal}, {GPU.key: start}, PolicyState(), now)
        return decisions[0]

    assert one(sig(backlog=12), 0).reason.startswith("scale up")
    assert one(sig(running=2), 2).reason.startswith("busy replicas kept")
    assert one(sig(backlog=5), 3).reason.startswith("scale down to 1 waits for 60s")
    assert one(sig(backlog=5), 1).reason.startswith("steady")


@given(pending=st.integers(min_value=0, max_value=5_000), current=st.integers(min_value=0, max_value=40))
def test_the_seed_formula_is_one_configuration(pending: int, current: int) -> None:
    decisions, _ = decide(
        SEED_FORMULA, [SEED_POOL], {Q: sig(backlog=pending)}, {SEED_POOL.key: current}, PolicyState(), 0
    )
    assert decisions[0].desired == min(20, max(1, math.ceil(pending / (200 * 0.5))))
