"""Autoscaler benchmark: decision latency on a real Temporal dev server, flapping under bursty arrivals.

    python -m bench.autoscaler [--trials 5] [--interval 1] [--hours 2] [--seed 7]

1. Latency: a fresh dev server, one render-like task scheduled on a queue nobody polls, the real loop
   (DescribeTaskQueue + visibility count + the kubernetes client against devtools/testing.py). Measured from
   the workflow start to the scale PATCH, split into "Temporal shows the backlog" and "our decision + patch".
2. Flapping: the pure policy on a simulated clock (1 s steps, a tick every 15 s) against a seeded bursty
   arrival pattern, with pods that take a minute to start. The shipped policy against backlog-only scaling
   with a 300 s window and cooldown (KEDA's defaults) and the naive formula (replicas = ceil(backlog /
   target), no window, no idle period, running work ignored).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import statistics
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from devtools.devserver import temporal_binary
from devtools.testing import FakeKube, ProbeInput, ScaleProbe
from runtime.logs import configure_logging
from runtime.process import exit_now
from workers.autoscaler.config import AutoscalerConfig
from workers.autoscaler.kube import KubeScaler, apps_api
from workers.autoscaler.loop import Autoscaler, Tick
from workers.autoscaler.policy import Policy, PolicyState, Pool, QueueSignal, decide
from workers.autoscaler.signals import TemporalSignals

TARGET = 6.0
SLOTS = 3
"""Clips one replica renders at once (3 NVENC sessions per GPU)."""
SHIPPED = Policy(
    target_backlog_per_replica=TARGET,
    running_per_replica=SLOTS,  # the simulation counts running clips, not videos: one replica holds SLOTS
    stabilization_seconds=300,
    idle_seconds=600,
    burst_backlog=None,
    burst_age_seconds=None,
)
BACKLOG_ONLY = Policy(
    target_backlog_per_replica=TARGET,
    running_per_replica=None,
    stabilization_seconds=300,
    idle_seconds=300,
    burst_backlog=None,
    burst_age_seconds=None,
)
"""What KEDA's backlog-only trigger does with the HPA's default 300 s window and cooldown."""
NAIVE = Policy(
    target_backlog_per_replica=TARGET,
    running_per_replica=None,
    stabilization_seconds=0,
    idle_seconds=0,
    burst_backlog=None,
    burst_age_seconds=None,
)


POLICIES = {"shipped policy": SHIPPED, "backlog-only 300s": BACKLOG_ONLY, "naive formula": NAIVE}


@dataclass(frozen=True)
class Latency:
    total: float
    visible: float
    """Until a tick saw the backlog (Temporal's stats, plus up to one interval)."""
    ours: float
    """From that tick's reads to the PATCH answered: the decision and the Kubernetes call."""


async def _until(predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout}s")
        await asyncio.sleep(0.01)


async def latency_trial(client: Client, interval: float) -> Latency:
    suffix = uuid.uuid4().hex[:8]
    workflow_queue, gpu_queue, deployment = f"bench-wf-{suffix}", f"bench-gpu-{suffix}", f"gpu-{suffix}"
    pool = Pool(deployment, "bench", gpu_queue, min_replicas=0, max_replicas=4)
    config = AutoscalerConfig(
        pools=(pool,),
        policy=SHIPPED,
        interval_seconds=interval,
        in_flight_query=f"TaskQueue = '{workflow_queue}' AND ExecutionStatus = 'Running'",
    )
    ticks: list[Tick] = []
    with FakeKube({("bench", deployment): 0}) as kube:
        autoscaler = Autoscaler(config, TemporalSignals(client), KubeScaler(apps_api(kube.url)), observer=ticks.append)
        async with Worker(client, task_queue=workflow_queue, workflows=[ScaleProbe]):
            stop = asyncio.Event()
            loop = asyncio.create_task(autoscaler.run(stop))
            await _until(lambda: len(ticks) >= 2, 30)
            started = time.monotonic()
            handle = await client.start_workflow(
                ScaleProbe.run, ProbeInput(gpu_queue, 0.0), id=workflow_queue, task_queue=workflow_queue
            )
            await _until(lambda: bool(kube.patches()), 120)
            stop.set()
            await loop
            await handle.terminate("benchmark done")
        patch = kube.patches()[0]
        seen = next(t for t in ticks if t.signals and t.signals[gpu_queue].effective_backlog > 0)
    return Latency(patch.at - started, seen.at - started, patch.at - seen.at)


@dataclass
class Outcome:
    patches: int = 0
    ups: int = 0
    downs: int = 0
    killed: int = 0
    """Clips whose worker was stopped under them (a lower bound: survivors assumed to hold the most work)."""
    gpu_seconds: float = 0.0
    finished: int = 0
    waits: list[float] | None = None
    zero_at_end: bool = False


def arrivals(rng: random.Random, seconds: int) -> list[int]:
    """Bursts of 10-60 clips spread over 20 s, one every 4 minutes on average, over a trickle."""
    counts = [0] * seconds
    at = 0.0
    while (at := at + rng.expovariate(1 / 240)) < seconds:
        for _ in range(rng.randint(10, 60)):
            counts[min(seconds - 1, int(at + rng.uniform(0, 20)))] += 1
    for second in range(seconds):
        counts[second] += rng.random() < 0.003
    return counts


def simulate(policy: Policy, arriving: list[int], seed: int, tick: int = 15, startup: int = 60) -> Outcome:
    """A GPU pool under `policy`: pods ready `startup` s after a scale-up, SLOTS clips each, 20-60 s per clip."""
    rng = random.Random(seed)  # same service times for every policy
    pool = Pool("render-gpu", "render", "render-gpu", min_replicas=0, max_replicas=8)
    queue: deque[tuple[float, float]] = deque()  # (arrived, service seconds)
    busy: list[float] = []  # end times of clips being rendered
    pods: list[float] = []  # ready times
    state, out, waits = PolicyState(), Outcome(), []
    horizon = len(arriving) + 3600
    for now in range(horizon):
        if now < len(arriving):
            queue.extend((now, rng.uniform(20, 60)) for _ in range(arriving[now]))
        out.finished += sum(1 for end in busy if end <= now)
        busy = [end for end in busy if end > now]
        capacity = SLOTS * sum(1 for ready in pods if ready <= now)
        while queue and len(busy) < capacity:
            arrived, service = queue.popleft()
            waits.append(now - arrived)
            busy.append(now + service)
        out.gpu_seconds += len(pods)
        if now % tick:
            continue
        signal = QueueSignal(len(queue), now - queue[0][0] if queue else 0.0, running=len(busy))
        decisions, state = decide(policy, [pool], {pool.task_queue: signal}, {pool.key: len(pods)}, state, now)
        desired = decisions[0].desired
        if desired == len(pods):
            continue
        out.patches += 1
        if desired > len(pods):
            out.ups += 1
            pods += [now + startup] * (desired - len(pods))
            continue
        out.downs += 1
        pods.sort()  # Kubernetes removes pods still starting first
        del pods[desired:]
        survivors = SLOTS * sum(1 for ready in pods if ready <= now)
        while len(busy) > survivors:  # their clips go back to the queue and start over
            busy.pop()
            queue.appendleft((now, rng.uniform(20, 60)))
            out.killed += 1
    out.waits = waits
    out.zero_at_end = not pods and not queue and not busy
    return out


def _p95(values: list[float]) -> float:
    return sorted(values)[max(0, math.ceil(0.95 * len(values)) - 1)]


async def measure_latency(trials: int, interval: float) -> list[Latency]:
    async with await WorkflowEnvironment.start_local(dev_server_existing_path=temporal_binary()) as env:
        return [await latency_trial(env.client, interval) for _ in range(trials)]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.autoscaler", description=__doc__)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--interval", type=float, default=1.0, help="autoscaler tick in the latency part (s)")
    parser.add_argument("--hours", type=float, default=2.0, help="simulated arrival period")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    configure_logging("console", "WARNING")  # the decisions are the figures below, not log lines
    began = time.monotonic()
    latencies = asyncio.run(measure_latency(args.trials, args.interval))
    total = [lat.total for lat in latencies]
    visible = [lat.visible for lat in latencies]
    ours = [lat.ours * 1000 for lat in latencies]
    print(f"decision latency, {args.trials} trials, tick every {args.interval:g}s, real dev server:")
    print(f"  backlog appears -> scale patched: median {statistics.median(total):.2f}s, max {max(total):.2f}s")
    print(f"  of which Temporal stats show it:  median {statistics.median(visible):.2f}s, max {max(visible):.2f}s")
    print(f"  of which decision + PATCH:        median {statistics.median(ours):.1f}ms, max {max(ours):.1f}ms")

    arriving = arrivals(random.Random(args.seed), int(args.hours * 3600))
    runs = {name: simulate(policy, arriving, args.seed) for name, policy in POLICIES.items()}
    print(f"bursty arrivals: {sum(arriving)} clips over {args.hours:g}h (seed {args.seed}), tick 15s, pod start 60s:")
    print(f"  {'':36}" + "".join(f"{name:>18}" for name in runs))
    rows: list[tuple[str, Callable[[Outcome], object]]] = [
        ("scale patches", lambda o: o.patches),
        ("  up / down", lambda o: f"{o.ups} / {o.downs}"),
        ("clips killed under a busy worker", lambda o: o.killed),
        ("clips finished", lambda o: f"{o.finished}/{sum(arriving)}"),
        ("GPU-hours", lambda o: f"{o.gpu_seconds / 3600:.1f}"),
        ("time-to-start p95 (s)", lambda o: f"{_p95(o.waits or [0]):.0f}"),
        ("at zero 1h after the last arrival", lambda o: o.zero_at_end),
    ]
    for label, cell in rows:
        print(f"  {label:36}" + "".join(f"{cell(o)!s:>18}" for o in runs.values()))
    shipped, keda, naive = runs["shipped policy"], runs["backlog-only 300s"], runs["naive formula"]
    fewer = naive.patches / max(1, shipped.patches)
    print(
        f"  ratios, shipped against backlog-only / naive: {keda.patches / max(1, shipped.patches):.1f}x / "
        f"{fewer:.1f}x fewer patches, {shipped.gpu_seconds / keda.gpu_seconds:.2f}x / "
        f"{shipped.gpu_seconds / naive.gpu_seconds:.2f}x the GPU-hours"
    )
    print(f"(ran in {time.monotonic() - began:.0f}s)")
    print(
        f"HEADLINE autoscaler: backlog->patch median {statistics.median(total):.1f}s "
        f"({statistics.median(ours):.0f}ms of it ours); bursty {args.hours:g}h: {shipped.patches} patches vs "
        f"{keda.patches} backlog-only vs {naive.patches} naive, clips killed under busy workers "
        f"{shipped.killed} vs {keda.killed} vs {naive.killed}"
    )
    exit_now(0)


if __name__ == "__main__":
    main()
