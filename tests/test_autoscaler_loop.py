"""The autoscaler loop: against the real Temporal dev server, through the real `kubernetes` client.

No kube-apiserver can be installed here (no Docker engine for kind, no envtest binaries), so the Kubernetes
side is `devtools/testing.py`, a threaded HTTP server on 127.0.0.1 that implements GET and PATCH of apps/v1
`deployments/{name}/scale` the way the apiserver answers them. Temporal is real: the session's dev server,
with a task queue of this test's own (the session's workers poll render-gpu).
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable

import pytest
from structlog.testing import capture_logs
from temporalio.client import Client
from temporalio.worker import Worker

from devtools.testing import FakeKube, ProbeInput, ScaleProbe, render_like
from workers.autoscaler.config import AutoscalerConfig
from workers.autoscaler.kube import KubeScaler, apps_api
from workers.autoscaler.loop import Autoscaler, Tick
from workers.autoscaler.metrics import Health, Metrics, serve_http
from workers.autoscaler.policy import Policy, Pool, QueueSignal
from workers.autoscaler.signals import TemporalSignals

NS = "render"


async def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll until `predicate` holds; fail naming `what` after `timeout` seconds (a bound, not an assertion)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.05)


async def test_replicas_rise_with_the_backlog_and_fall_to_zero_only_after_idle(client: Client) -> None:
    suffix = uuid.uuid4().hex[:8]
    workflow_queue, gpu_queue, deployment = f"scale-wf-{suffix}", f"scale-gpu-{suffix}", f"gpu-{suffix}"
    pool = Pool(deployment, NS, gpu_queue, min_replicas=0, max_replicas=4)
    idle_seconds = 3.0
    config = AutoscalerConfig(
        pools=(pool,),
        policy=Policy(
            target_backlog_per_replica=2,
            running_per_replica=1,
            stabilization_seconds=1,
            idle_seconds=idle_seconds,
            burst_backlog=None,
            burst_age_seconds=None,
        ),
        interval_seconds=0.25,
        in_flight_query=f"TaskQueue = '{workflow_queue}' AND ExecutionStatus = 'Running'",
    )
    ticks: list[Tick] = []
    with FakeKube({(NS, deployment): 0}) as kube:
        autoscaler = Autoscaler(config, TemporalSignals(client), KubeScaler(apps_api(kube.url)), observer=ticks.append)
        stop = asyncio.Event()
        async with Worker(client, task_queue=workflow_queue, workflows=[ScaleProbe]):
            loop = asyncio.create_task(autoscaler.run(stop))
            try:
                await wait_for(lambda: len(ticks) >= 3, 10, "three quiet ticks")
                assert kube.patches(deployment) == [], "nothing to do before any work"

                # Six render-like tasks and nobody polling their queue: 6 / 2 per replica = 3.
                handles = [
                    await client.start_workflow(
                        ScaleProbe.run,
                        ProbeInput(gpu_queue, 0.2),
                        id=f"{workflow_queue}-{i}",
                        task_queue=workflow_queue,
                    )
                    for i in range(6)
                ]
                await wait_for(lambda: kube.replicas[(NS, deployment)] == 3, 30, "3 replicas for a backlog of 6")
                rising = [p.body["spec"]["replicas"] for p in kube.patches(deployment)]
                assert rising == sorted(rising) and rising[-1] == 3

                # A worker drains the queue; the videos finish; the pool goes to zero once idle long enough.
                async with Worker(client, task_queue=gpu_queue, activities=[render_like], max_concurrent_activities=2):
                    await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), timeout=60)
                    await wait_for(lambda: kube.replicas[(NS, deployment)] == 0, 60, "scale to zero after idle")
            finally:
                stop.set()
                await loop

    to_zero = [t for t in ticks if t.patched.get(pool.key) == 0]
    assert len(to_zero) == 1
    idle_since = to_zero[0].idle_since[gpu_queue]
    assert to_zero[0].at - idle_since >= idle_seconds, "zero only after the idle period"
    # Whenever something waited or ran, the pool kept at least one replica.
    for tick in ticks:
        signal = tick.signals.get(gpu_queue)
        if signal and (signal.effective_backlog or signal.running) and tick.decisions[0].current:
            assert tick.decisions[0].desired >= 1, tick
    assert all(t.error is None for t in ticks)
    assert [p.content_type for p in kube.patches()] == ["application/strategic-merge-patch+json"] * len(kube.patches())


class FakeSignals:
    """Queue signals a test sets by hand (for the loop's own rules: dry run, errors, metrics)."""

    def __init__(self, signals: dict[str, QueueSignal], running: int = 0) -> None:
        self.signals = signals
        self.running_count = running
        self.fail = False

    async def queue(self, task_queue: str, version: str | None = None) -> QueueSignal:
        if self.fail:
            raise ConnectionError("frontend unavailable")
        return self.signals[f"{task_queue}@{version}" if version else task_queue]

    async def running(self, query: str) -> int:
        return self.running_count


def two_pools(dry_run: bool = False) -> AutoscalerConfig:
    pools = (Pool("gpu-a", NS, "qa", max_replicas=5), Pool("gpu-b", NS, "qb", max_replicas=5))
    return AutoscalerConfig(pools=pools, policy=Policy(target_backlog_per_replica=2), dry_run=dry_run)


async def test_dry_run_logs_decisions_and_patches_nothing() -> None:
    signals = FakeSignals({"qa": QueueSignal(backlog=6), "qb": QueueSignal(backlog=0)})
    with FakeKube({(NS, "gpu-a"): 0, (NS, "gpu-b"): 0}) as kube, capture_logs() as logs:
        autoscaler = Autoscaler(two_pools(dry_run=True), signals, KubeScaler(apps_api(kube.url)))
        tick = await autoscaler.tick()
    assert [(d.pool.deployment, d.desired) for d in tick.decisions] == [("gpu-a", 3), ("gpu-b", 0)]
    assert tick.patched == {} and kube.patches() == []
    would = [line for line in logs if line["event"] == "would scale (dry run)"]
    assert [(line["pool"], line["current"], line["desired"]) for line in would] == [("render/gpu-a", 0, 3)]


async def test_a_failed_read_changes_nothing_and_a_failed_patch_spares_the_other_pools() -> None:
    signals = FakeSignals({"qa": QueueSignal(backlog=6), "qb": QueueSignal(backlog=6)})
    metrics = Metrics()
    with FakeKube({(NS, "gpu-a"): 0, (NS, "gpu-b"): 0}) as kube:
        autoscaler = Autoscaler(two_pools(), signals, KubeScaler(apps_api(kube.url)), metrics)
        signals.fail = True
        tick = await autoscaler.tick()
        assert tick.error is not None and "frontend unavailable" in tick.error
        assert kube.patches() == []
        signals.fail = False
        del kube.replicas[(NS, "gpu-a")]  # vanished between the read and the patch

        class ReadOnlyA(KubeScaler):
            async def replicas(self, pool: Pool) -> int:
                return 0 if pool.deployment == "gpu-a" else await super().replicas(pool)

        autoscaler = Autoscaler(two_pools(), signals, ReadOnlyA(apps_api(kube.url)), metrics)
        tick = await autoscaler.tick()
    assert tick.patched == {"render/gpu-b": 3}
    assert tick.error is not None and "render/gpu-a" in tick.error
    assert kube.replicas[(NS, "gpu-b")] == 3
    text = metrics.render().decode()
    assert 'render_autoscaler_errors_total{stage="read"} 1.0' in text
    assert 'render_autoscaler_errors_total{stage="patch"} 1.0' in text


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


async def test_metrics_and_healthz_over_http() -> None:
    now = [1000.0]
    metrics, health = Metrics(), Health(interval_seconds=1, clock=lambda: now[0])
    signals = FakeSignals({"qa": QueueSignal(backlog=7, backlog_age_seconds=12.5), "qb": QueueSignal(0)}, running=2)
    server = serve_http(metrics, health, port=0, host="127.0.0.1")
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with FakeKube({(NS, "gpu-a"): 0, (NS, "gpu-b"): 1}) as kube:
            autoscaler = Autoscaler(two_pools(), signals, KubeScaler(apps_api(kube.url)), metrics, health)
            await autoscaler.tick()
        status, text = await asyncio.to_thread(_get, f"{base}/metrics")
        assert status == 200
        for line in (
            'render_autoscaler_backlog{task_queue="qa"} 7.0',
            'render_autoscaler_backlog_age_seconds{task_queue="qa"} 12.5',
            "render_autoscaler_running 2.0",
            'render_autoscaler_current_replicas{pool="render/gpu-a"} 0.0',
            'render_autoscaler_desired_replicas{pool="render/gpu-a"} 4.0',
            'render_autoscaler_patches_total{direction="up",pool="render/gpu-a"} 1.0',
        ):
            assert line in text.splitlines(), line
        status, body = await asyncio.to_thread(_get, f"{base}/healthz")
        assert (status, json.loads(body)["status"]) == (200, "ok")
        now[0] += health.stale_after + 1  # the loop stopped ticking
        status, body = await asyncio.to_thread(_get, f"{base}/healthz")
        assert (status, json.loads(body)["status"]) == (503, "stale")
        assert (await asyncio.to_thread(_get, f"{base}/nope"))[0] == 404
    finally:
        server.shutdown()
        server.server_close()
