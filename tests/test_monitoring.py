"""k8s/monitoring/: the alert rules pass promtool, the dashboard loads and names only real metrics.

"Real" is taken from the code that defines each metric, never from a copy: prometheus_client's
registry (the workers' metrics), the autoscaler's own registry, `VIDEO_METRICS` (recorded through the
SDK's meter) and the Temporal SDK's metric names in the sdk-core source its wheel ships.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import temporalio
import yaml
from prometheus_client import REGISTRY, CollectorRegistry
from temporalio import workflow
from temporalio.api.workflowservice.v1 import SetWorkerDeploymentCurrentVersionRequest
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker, WorkerDeploymentConfig

import engine.clip_cache  # noqa: F401  (registers render_clip_cache)
from devtools.devserver import dynamic_config_args, temporal_binary
from engine import metrics
from tests.test_k8s_manifests import build as build_k8s
from workers.autoscaler.config import AutoscalerConfig
from workers.autoscaler.loop import Autoscaler
from workers.autoscaler.metrics import Metrics
from workers.autoscaler.policy import Pool, QueueSignal
from workers.autoscaler.signals import TemporalSignals

ROOT = Path(__file__).resolve().parent.parent
MONITORING = ROOT / "k8s" / "monitoring"
RULES = MONITORING / "render-alerts.rules.yml"
DASHBOARD = MONITORING / "render-farm.json"
RUNBOOKS = ROOT / "docs" / "runbooks.md"
SDK_CORE = Path(temporalio.__file__).parent / "bridge" / "sdk-core" / "crates"
SDK_METRIC_SOURCES = ("sdk-core/src/telemetry/metrics.rs", "common/src/telemetry/metrics.rs")
SDK_PREFIX = "temporal_"
METRIC = re.compile(r"\b((?:render|temporal)_[a-zA-Z0-9_]+)")
ISSUE_ALERTS = {
    "RenderBacklogAboveTarget": "backlog above target for N minutes",
    "RenderBacklogTooOld": "backlog age (the time-to-start SLO)",
    "RenderChannelFailing": "failure rate per channel",
    "RenderWorkflowTasksFailing": "workflow tasks failing",
    "RenderQueueWithoutPollers": "no pollers on a queue that has work",
    "RenderWorkerQuarantined": "a worker quarantined",
    "RenderScratchDiskLow": "disk low",
    "RenderWorkerPausedForDisk": "a worker with too little free space stops taking work (issue 24)",
    "RenderBadCacheEntries": "bad cache entries",
    "RenderGpusIdleAboveBaseline": "GPUs idle for hours while the pool is above its baseline",
    "RenderVersionNotDraining": "a draining version that never drains",
}
promtool = pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool missing: scripts/bootstrap installs it"
)


def _series(registry: CollectorRegistry) -> set[str]:
    """The series names a prometheus_client registry exports, labelled children or not."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    return {family.name + suffix for family in registry.collect() for suffix in suffixes.get(family.type, ("",))}


def sdk_metric_names() -> set[str]:
    """The SDK's metric names, from the constants and `name:` fields of sdk-core's metric definitions."""
    found: set[str] = set()
    for source in SDK_METRIC_SOURCES:
        text = (SDK_CORE / source).read_text()
        found |= set(re.findall(r'(?:name:\s*|_NAME:\s*&str\s*=\s*)"([a-z][a-z0-9_]+)"', text))
    return found


def exported() -> set[str]:
    """Every series the service (workers, autoscaler, video metrics) or the SDK exports."""
    names = _series(REGISTRY) | _series(Metrics().registry)
    for video in metrics.VIDEO_METRICS:  # the SDK's exporter: counters keep their name, no _total
        names |= {video.name} if video.kind == "counter" else {video.name + s for s in ("_bucket", "_sum", "_count")}
    for sdk in sdk_metric_names():
        names |= {SDK_PREFIX + sdk + s for s in ("", "_bucket", "_sum", "_count")}
    return names


def named_metrics(expr: str) -> set[str]:
    return set(METRIC.findall(re.sub(r'"[^"]*"', '""', expr)))


def rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def build_monitoring() -> list[dict[str, Any]]:
    """What `kubectl apply -k k8s/monitoring/` creates, for the kustomize features it uses."""
    spec = yaml.safe_load((MONITORING / "kustomization.yaml").read_text())
    assert set(spec) <= {"apiVersion", "kind", "namespace", "resources", "configMapGenerator", "generatorOptions"}
    docs = [d for r in spec["resources"] for d in yaml.safe_load_all((MONITORING / r).read_text()) if d]
    options = spec.get("generatorOptions", {})
    assert options.get("disableNameSuffixHash") is True
    for generator in spec.get("configMapGenerator", []):
        data = {Path(f).name: (MONITORING / f).read_text() for f in generator["files"]}
        labels = dict(options.get("labels", {}))
        docs.append({"apiVersion": "v1", "kind": "ConfigMap", "data": data,
                     "metadata": {"name": generator["name"], "labels": labels}})  # fmt: skip
    for doc in docs:
        doc["metadata"]["namespace"] = spec["namespace"]
    return docs


@promtool
def test_the_rules_pass_promtool_check(tmp_path: Path) -> None:
    subprocess.run(["promtool", "check", "rules", str(RULES)], check=True, capture_output=True, text=True)
    (rule,) = [d for d in build_monitoring() if d["kind"] == "PrometheusRule"]
    operator = tmp_path / "operator.rules.yml"
    operator.write_text(yaml.safe_dump(rule["spec"]))
    subprocess.run(["promtool", "check", "rules", str(operator)], check=True, capture_output=True, text=True)


@promtool
def test_the_rules_pass_their_unit_tests_on_synthetic_series() -> None:
    done = subprocess.run(
        ["promtool", "test", "rules", "render-alerts.test.yml"], cwd=MONITORING, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    tested = set(re.findall(r"alertname: (\w+)", (MONITORING / "render-alerts.test.yml").read_text()))
    assert tested == {r["alert"] for r in rules()}, "every alert has a unit test"


def test_the_prometheus_rule_carries_the_plain_rules_word_for_word() -> None:
    (rule,) = [d for d in build_monitoring() if d["kind"] == "PrometheusRule"]
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["spec"] == yaml.safe_load(RULES.read_text())


def test_every_alert_the_issue_asks_for_has_a_runbook_section() -> None:
    alerts = {r["alert"]: r for r in rules()}
    assert set(alerts) == set(ISSUE_ALERTS)
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in RUNBOOKS.read_text().splitlines()
        if line.startswith("## ")
    }
    for name, rule in alerts.items():
        url = rule["annotations"]["runbook_url"]
        assert url == f"docs/runbooks.md#{name.lower()}" and name.lower() in anchors, name
        assert rule["labels"]["severity"] in {"warning", "critical"}


def test_the_dashboard_loads_and_every_query_names_a_metric_that_is_exported() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert isinstance(dashboard["schemaVersion"], int) and dashboard["schemaVersion"] >= 36
    assert dashboard["uid"] and dashboard["title"]
    known = exported()
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len(panels) >= 20
    for panel in panels:
        exprs = [t["expr"] for t in panel["targets"]]
        assert exprs, panel["title"]
        for expr in exprs:
            used = named_metrics(expr)
            assert used, f"{panel['title']}: {expr} names no metric"
            assert used <= known, f"{panel['title']}: not exported: {used - known}"
    queried = {m for p in panels for t in p["targets"] for m in named_metrics(t["expr"])}
    # What the issue asks the dashboard to show, each by the metric that carries it.
    for metric in ("render_videos_completed", "render_videos_failed", "render_autoscaler_backlog",
                   "render_autoscaler_backlog_age_seconds", "temporal_worker_task_slots_used",
                   "render_video_seconds_bucket", "render_video_cost_usd_sum", "render_clip_cache_total"):  # fmt: skip
        assert metric in queried, metric
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert named_metrics(variables["channel"]["definition"]) <= known


def test_every_rule_names_metrics_that_are_exported() -> None:
    known = exported()
    for rule in rules():
        used = named_metrics(rule["expr"])
        assert used and used <= known, f"{rule['alert']}: not exported: {used - known}"


def test_the_sdk_metric_names_are_read_from_the_sdk_itself() -> None:
    names = sdk_metric_names()
    assert {"workflow_task_execution_failed", "worker_task_slots_used", "num_pollers"} <= names
    assert "activity_schedule_to_start_latency" in names


def test_the_kustomization_provisions_the_dashboard_and_scrapes_every_pod() -> None:
    docs = build_monitoring()
    (dashboard,) = [d for d in docs if d["kind"] == "ConfigMap"]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"]["render-farm.json"]) == json.loads(DASHBOARD.read_text())
    (monitor,) = [d for d in docs if d["kind"] == "PodMonitor"]
    wanted = monitor["spec"]["selector"]["matchLabels"].items()
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    deployments = [d for d in build_k8s(ROOT / "k8s") if d["kind"] == "Deployment"]
    assert deployments
    for deployment in deployments:
        template = deployment["spec"]["template"]
        assert wanted <= template["metadata"]["labels"].items(), deployment["metadata"]["name"]
        ports = {p["name"] for c in template["spec"]["containers"] for p in c.get("ports", [])}
        assert endpoint["port"] in ports and endpoint["path"] == "/metrics"
    assert {d["metadata"]["namespace"] for d in docs} == {"render"}


@pytest.mark.skipif(
    shutil.which("kubectl") is None, reason="kubectl not installed; build_monitoring() models kustomize"
)
def test_kubectl_kustomize_builds_the_same_monitoring_objects() -> None:
    built = subprocess.run(["kubectl", "kustomize", str(MONITORING)], capture_output=True, text=True, check=True)
    key = lambda d: (d["kind"], d["metadata"]["name"])  # noqa: E731
    assert sorted(yaml.safe_load_all(built.stdout), key=key) == sorted(build_monitoring(), key=key)


class DrainingSignals:
    """Signals with one draining version, then a failing read."""

    def __init__(self) -> None:
        self.versions: dict[str, float] | Exception = {"2026-11-30.1": 7200.0}

    async def queue(self, task_queue: str, version: str | None = None) -> QueueSignal:
        return QueueSignal(backlog=3, pollers=0)

    async def running(self, query: str) -> int:
        return 0

    async def draining(self, deployment: str) -> dict[str, float]:
        if isinstance(self.versions, Exception):
            raise self.versions
        return self.versions


class NoScaler:
    async def replicas(self, pool: Pool) -> int:
        return 1

    async def scale(self, pool: Pool, replicas: int) -> None:
        pass


async def test_the_autoscaler_reports_pollers_targets_baselines_and_draining_versions() -> None:
    pool = Pool("render-gpu", "render", "render-gpu", 1, 4)
    config = AutoscalerConfig(pools=(pool,), worker_deployment="render", dry_run=True)
    signals, reported = DrainingSignals(), Metrics()
    scaler = Autoscaler(config, signals, NoScaler(), metrics=reported)
    await scaler.tick()
    value = reported.registry.get_sample_value
    assert value("render_autoscaler_version_draining_seconds", {"deployment": "render", "build_id": "2026-11-30.1"})
    assert value("render_autoscaler_pollers", {"task_queue": "render-gpu"}) == 0
    assert value("render_autoscaler_backlog_target", {"task_queue": "render-gpu"}) == 4 * 6.0
    assert value("render_autoscaler_min_replicas", {"pool": "render/render-gpu"}) == 1
    signals.versions = {}  # drained: the series goes
    await scaler.tick()
    assert (
        value("render_autoscaler_version_draining_seconds", {"deployment": "render", "build_id": "2026-11-30.1"})
        is None
    )
    signals.versions = RuntimeError("frontend unavailable")  # a failed read never stops the scaling
    tick = await scaler.tick()
    assert tick.error is None and value("render_autoscaler_errors_total", {"stage": "versions"}) == 1


@workflow.defn(name="WaitsForever", sandboxed=False, versioning_behavior=VersioningBehavior.PINNED)
class WaitsForever:
    """A workflow pinned to the version that started it, open until canceled: it keeps that version draining."""

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)


@pytest.mark.server
async def test_the_autoscaler_reads_a_draining_version_from_a_real_server() -> None:
    """A version replaced as current while a workflow pinned to it is open is draining; the new one is not."""
    fast = {  # the server re-checks drainage every few minutes by default
        "matching.wv.VersionDrainageStatusRefreshInterval": '"1s"',
        "matching.wv.VersionDrainageStatusVisibilityGracePeriod": '"1s"',
    }
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(), dev_server_extra_args=dynamic_config_args(fast)
    ) as env:
        client, deployment, queue = env.client, "render-test", "versioned"

        def worker(build_id: str) -> Worker:
            config = WorkerDeploymentConfig(WorkerDeploymentVersion(deployment, build_id), use_worker_versioning=True)
            return Worker(client, task_queue=queue, workflows=[WaitsForever], deployment_config=config)

        async def make_current(build_id: str) -> None:
            request = SetWorkerDeploymentCurrentVersionRequest(
                namespace=client.namespace, deployment_name=deployment, build_id=build_id
            )
            async with asyncio.timeout(30):  # the version exists once its worker has polled
                while True:
                    try:
                        await client.workflow_service.set_worker_deployment_current_version(request)
                        return
                    except RPCError:
                        await asyncio.sleep(0.2)

        signals = TemporalSignals(client)
        async with worker("v1"), worker("v2"):
            await make_current("v1")
            handle = await client.start_workflow(WaitsForever.run, id="pinned", task_queue=queue)
            async with asyncio.timeout(30):  # its first task ran on v1: pinned there
                while not (await handle.describe()).raw_description.workflow_execution_info.HasField("versioning_info"):
                    await asyncio.sleep(0.2)
            await make_current("v2")
            async with asyncio.timeout(60):
                while "v1" not in (draining := await signals.draining(deployment)):
                    await asyncio.sleep(0.5)
            assert set(draining) == {"v1"} and 0 <= draining["v1"] < 60  # since v2 took over
            await handle.cancel()


class VersionedSignals(DrainingSignals):
    """Each build's share of the queue has its own backlog and age."""

    async def queue(self, task_queue: str, version: str | None = None) -> QueueSignal:
        backlog = {None: 9, "render:v1": 2, "render:v2": 7}[version]
        return QueueSignal(backlog=backlog, backlog_age_seconds=10.0 * backlog, pollers=1)


async def test_the_backlog_of_each_build_a_pool_follows_is_reported_beside_the_whole_queue() -> None:
    old, new = (Pool(f"render-gpu-{v}", "render", "render-gpu", 0, 4, version=f"render:{v}") for v in ("v1", "v2"))
    config = AutoscalerConfig(pools=(old, new), dry_run=True)
    reported = Metrics()
    scaler = Autoscaler(config, VersionedSignals(), NoScaler(), metrics=reported)
    await scaler.tick()
    value = reported.registry.get_sample_value
    assert value("render_autoscaler_backlog", {"task_queue": "render-gpu"}) == 9
    for version, backlog in (("render:v1", 2), ("render:v2", 7)):
        labels = {"task_queue": "render-gpu", "version": version}
        assert value("render_autoscaler_version_backlog", labels) == backlog
        assert value("render_autoscaler_version_backlog_age_seconds", labels) == 10.0 * backlog
    scaler.config = AutoscalerConfig(pools=(new,), dry_run=True)  # v1's pool removed once it drained
    await scaler.tick()
    assert value("render_autoscaler_version_backlog", {"task_queue": "render-gpu", "version": "render:v1"}) is None
