"""k8s/: what `kubectl apply -k k8s/` (and `-k k8s/keda/`) would create, checked offline.

Every object is validated against the Kubernetes OpenAPI schemas that `kubernetes-validate` bundles (no
network, no cluster). Then the cross-references a schema cannot see: selectors and labels, env names the
code really reads, probes on the worker health server's contract, grace period above the drain time, RBAC
equal to the calls the autoscaler makes, and KEDA's ScaledObject (a CRD: checked field by field).
"""

from __future__ import annotations

import ast
import copy
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from botocore.credentials import EnvProvider

from contracts import names
from devtools.testing import FakeKube
from runtime.settings import ENV_MODELS, DeploymentEnv, load
from workers.autoscaler.config import ENV_PREFIX, KNOBS, POLICY_KNOBS, AutoscalerConfig, load_config
from workers.autoscaler.kube import KubeScaler, apps_api
from workers.autoscaler.metrics import HEALTH_PATH
from workers.main import WorkerOptions

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "k8s"
KUBE_VERSIONS = ("1.30", kubernetes_validate.latest_version())
"""The oldest Kubernetes we support and the newest the package knows."""
WORKER_HEALTH_PORT = 9464
"""The workers' health server contract: port 9464 with /healthz, /readyz, /metrics and /status."""
WORKER_LIVENESS, WORKER_READINESS = "/healthz", "/readyz"
READ_ELSEWHERE = {
    "NVIDIA_DRIVER_CAPABILITIES": "the NVIDIA container toolkit",
    EnvProvider.ACCESS_KEY: "boto3's credential chain",
    EnvProvider.SECRET_KEY: "boto3's credential chain",
}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}
KUSTOMIZE_KEYS = {"apiVersion", "kind", "namespace", "resources"}
BUILD = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
"""The build these manifests deploy: its image tag, its RENDER_BUILD_ID and its Deployments' suffix."""
SUFFIX = BUILD.replace(".", "-")
"""Deployment names are DNS labels: the build's dots become dashes."""
WORKER_ROLES = ("render-control", "render-gpu", "render-gpu-burst")
GPU = f"render-gpu-{SUFFIX}"


def build(folder: Path) -> list[dict[str, Any]]:
    """What kustomize builds from `folder`, for the features k8s/ uses (anything else fails here)."""
    spec = yaml.safe_load((folder / "kustomization.yaml").read_text())
    unknown = set(spec) - KUSTOMIZE_KEYS
    assert not unknown, f"{folder}: kustomize features this test does not model: {unknown}"
    docs: list[dict[str, Any]] = []
    for resource in spec["resources"]:
        path = (folder / resource).resolve()
        if path.is_dir():
            docs += build(path)
        else:
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    for doc in docs:
        if "namespace" in spec and doc["kind"] not in CLUSTER_SCOPED:
            doc["metadata"]["namespace"] = spec["namespace"]
    return docs


@pytest.fixture(scope="module")
def default() -> list[dict[str, Any]]:
    return build(K8S)


@pytest.fixture(scope="module")
def keda() -> list[dict[str, Any]]:
    return build(K8S / "keda")


def find(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind and name in (None, d["metadata"]["name"])]


def one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = find(docs, kind, name)
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def containers(docs: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for deployment in find(docs, "Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            yield deployment, container


def runs(container: dict[str, Any], script: str) -> bool:
    return bool(container.get("command")) and container["command"][0] == script


def autoscaler_config(docs: list[dict[str, Any]], tmp_path: Path) -> AutoscalerConfig:
    """The shipped config, loaded by the real loader from where the Deployment mounts it."""
    deployment = one(docs, "Deployment", "render-autoscaler")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container.get("env", [])}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    path = Path(env["RENDER_AUTOSCALER_CONFIG"])
    (volume_name,) = [n for n, mount in mounts.items() if path.parent == Path(mount)]
    config_map = one(docs, "ConfigMap", volumes[volume_name]["configMap"]["name"])
    local = tmp_path / path.name
    local.write_text(config_map["data"][path.name])
    return load_config(env={}, path=local)


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_every_object_validates_against_the_kubernetes_schemas(
    default: list[dict[str, Any]], keda: list[dict[str, Any]], version: str
) -> None:
    objects = default + [d for d in keda if d["kind"] != "ScaledObject"]
    for doc in objects:
        kubernetes_validate.validate(doc, version, strict=True)
    # The validator is live (offline schemas, strict): a wrong type and an unknown field are refused.
    broken = copy.deepcopy(one(default, "Deployment", GPU))
    broken["spec"]["replicas"] = "zero"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, version, strict=True)
    broken = copy.deepcopy(one(default, "Deployment", GPU))
    broken["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, version, strict=True)


def test_the_default_apply_needs_no_custom_resource(default: list[dict[str, Any]], keda: list[dict[str, Any]]) -> None:
    for doc in default:
        kubernetes_validate.validate(doc, KUBE_VERSIONS[-1], strict=True)  # a CRD kind has no schema here
    assert not find(default, "ScaledObject")
    assert find(keda, "ScaledObject") and not find(keda, "Deployment", "render-autoscaler")
    assert {d["metadata"]["namespace"] for d in default + keda if d["kind"] != "Namespace"} == {"render"}


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed; build() models kustomize")
@pytest.mark.parametrize("folder", ["k8s", "k8s/keda"])
def test_kubectl_kustomize_builds_the_same_objects(folder: str) -> None:
    built = subprocess.run(["kubectl", "kustomize", str(ROOT / folder)], capture_output=True, text=True, check=True)
    key = lambda d: (d["kind"], d["metadata"]["name"])  # noqa: E731
    assert sorted(yaml.safe_load_all(built.stdout), key=key) == sorted(build(ROOT / folder), key=key)


def test_selectors_match_the_pod_labels(default: list[dict[str, Any]]) -> None:
    deployments = find(default, "Deployment")
    for deployment in deployments:
        selector = deployment["spec"]["selector"]["matchLabels"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), deployment["metadata"]["name"]
    for pdb in find(default, "PodDisruptionBudget"):
        chosen = pdb["spec"]["selector"]["matchLabels"].items()
        matched = [d for d in deployments if chosen <= d["spec"]["template"]["metadata"]["labels"].items()]
        assert [d["metadata"]["name"] for d in matched] == [f"render-control-{SUFFIX}"]
        assert pdb["spec"]["minAvailable"] < matched[0]["spec"]["replicas"], "a drain must be able to evict one"


def _code_reads() -> set[str]:
    """The settings models' variables and upper-case string constants in the service's code: the
    environment names it can read."""
    found = {ENV_PREFIX + knob.upper() for knob in (*KNOBS, *POLICY_KNOBS)}
    found |= {variable.name for model in ENV_MODELS for variable in model.variables()}
    for package in ("activities", "contracts", "runtime", "starter", "workers", "workflows"):
        for source in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(source.read_text())):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isupper():
                    found.add(node.value)
    return found


def test_env_names_are_ones_the_code_reads(default: list[dict[str, Any]]) -> None:
    reads = _code_reads() | set(READ_ELSEWHERE)
    given: dict[str, str] = {}
    for config_map in find(default, "ConfigMap", "render-config"):
        given |= {name: "ConfigMap render-config" for name in config_map["data"]}
    for secret in find(default, "Secret"):
        given |= {name: f"Secret {secret['metadata']['name']}" for name in secret["stringData"]}
    for deployment, container in containers(default):
        given |= {e["name"]: f"Deployment {deployment['metadata']['name']}" for e in container.get("env", [])}
    unread = {name: where for name, where in given.items() if name not in reads}
    assert not unread, f"set in manifests, read by nothing: {unread}"
    assert {"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_API_KEY", "TEMPORAL_TLS"} <= given.keys()
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "RENDER_WORK_URI", "RENDER_DRAIN_SECONDS"} <= given.keys()


def test_every_container_gets_the_config_and_secret_it_names(default: list[dict[str, Any]]) -> None:
    present = {(d["kind"], d["metadata"]["name"]) for d in default}
    for deployment, container in containers(default):
        for source in container.get("envFrom", []):
            ref = source.get("configMapRef") or source["secretRef"]
            kind = "ConfigMap" if "configMapRef" in source else "Secret"
            assert (kind, ref["name"]) in present, (deployment["metadata"]["name"], ref)


def test_the_secret_is_a_template_without_values(default: list[dict[str, Any]]) -> None:
    (secret,) = find(default, "Secret")
    assert "data" not in secret
    assert secret["stringData"] and all(value == "" for value in secret["stringData"].values())


def _port(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in container["ports"] if p["name"] == port]
    return int(number)


def test_worker_probes_follow_the_health_server_contract(default: list[dict[str, Any]]) -> None:
    workers = [(d, c) for d, c in containers(default) if runs(c, "render-worker")]
    assert {d["metadata"]["name"] for d, _ in workers} == {f"{role}-{SUFFIX}" for role in WORKER_ROLES}
    for deployment, container in workers:
        live, ready = container["livenessProbe"]["httpGet"], container["readinessProbe"]["httpGet"]
        assert (live["path"], _port(container, live["port"])) == (WORKER_LIVENESS, WORKER_HEALTH_PORT)
        assert (ready["path"], _port(container, ready["port"])) == (WORKER_READINESS, WORKER_HEALTH_PORT)
        if "startupProbe" in container:
            assert container["startupProbe"]["httpGet"]["path"] == WORKER_LIVENESS
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == str(WORKER_HEALTH_PORT)
        assert annotations["prometheus.io/path"] == "/metrics"


def test_worker_health_servers_listen_where_the_kubelet_probes(default: list[dict[str, Any]]) -> None:
    """Probes come to the pod IP: the loopback default would fail every one."""
    config = one(default, "ConfigMap", "render-config")["data"]
    for deployment, container in containers(default):
        if runs(container, "render-worker"):
            env = {e["name"]: e.get("value") for e in container.get("env", [])}
            address = env.get("RENDER_HEALTH_ADDRESS", config.get("RENDER_HEALTH_ADDRESS"))
            assert address == "0.0.0.0", deployment["metadata"]["name"]
    assert config["RENDER_STATUS_DETAIL"] == "counts"


def test_autoscaler_probe_and_port_match_its_config(default: list[dict[str, Any]], tmp_path: Path) -> None:
    config = autoscaler_config(default, tmp_path)
    deployment = one(default, "Deployment", "render-autoscaler")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert runs(container, "render-autoscaler")
    probe = container["livenessProbe"]["httpGet"]
    assert (probe["path"], _port(container, probe["port"])) == (HEALTH_PATH, config.port)
    assert config.address == "0.0.0.0"  # the kubelet probes the pod IP, not loopback
    assert deployment["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == str(config.port)
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"]["type"] == "Recreate"


def test_grace_period_outlasts_the_drain(default: list[dict[str, Any]]) -> None:
    config = one(default, "ConfigMap", "render-config")["data"]
    for deployment, container in containers(default):
        if not runs(container, "render-worker"):
            continue
        env = {e["name"]: e["value"] for e in container.get("env", [])}
        drain = float(env.get("RENDER_DRAIN_SECONDS", config.get("RENDER_DRAIN_SECONDS", WorkerOptions.drain_seconds)))
        grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert grace > drain, f"{deployment['metadata']['name']}: grace {grace}s <= drain {drain}s"


def test_gpu_pools_ask_for_a_gpu_node_and_start_at_zero(default: list[dict[str, Any]], tmp_path: Path) -> None:
    pools = autoscaler_config(default, tmp_path).pools
    for pool in pools:
        deployment = one(default, "Deployment", pool.deployment)
        spec = deployment["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        assert container["args"] == ["--mode", "gpu"]
        assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
        assert spec["nodeSelector"] and any(t["key"] == "nvidia.com/gpu" for t in spec["tolerations"])
        capabilities = {e["name"]: e["value"] for e in container["env"]}["NVIDIA_DRIVER_CAPABILITIES"]
        assert "video" in capabilities.split(",")
        assert deployment["spec"]["replicas"] == 0 == pool.min_replicas


def test_autoscaler_config_names_the_deployments_it_scales(default: list[dict[str, Any]], tmp_path: Path) -> None:
    config = autoscaler_config(default, tmp_path)
    assert [(p.deployment, p.role.value) for p in config.pools] == [
        (GPU, "baseline"),
        (f"render-gpu-burst-{SUFFIX}", "burst"),
    ]
    for pool in config.pools:
        deployment = one(default, "Deployment", pool.deployment)
        assert pool.namespace == deployment["metadata"]["namespace"]
        assert pool.task_queue == names.GPU_QUEUE
        assert pool.version == f"render:{BUILD}"  # scaled on this build's backlog and videos alone


async def test_rbac_is_exactly_what_the_autoscaler_calls(default: list[dict[str, Any]], tmp_path: Path) -> None:
    config = autoscaler_config(default, tmp_path)
    with FakeKube({(p.namespace, p.deployment): 0 for p in config.pools}) as kube:
        scaler = KubeScaler(apps_api(kube.url))
        for pool in config.pools:  # every call the loop can make: read, then patch
            await scaler.scale(pool, await scaler.replicas(pool) + 1)
    called = {
        ("apps", "deployments/scale", r.method.lower(), r.namespace, r.name)
        for r in kube.requests
        if r.path.startswith("/apis/apps/v1/") and r.path.endswith("/scale")
    }
    assert len(called) == len(kube.requests), "a request outside deployments/scale"

    (role,) = find(default, "Role")
    assert not find(default, "ClusterRole") and not find(default, "ClusterRoleBinding")
    granted = {
        (group, resource, verb, role["metadata"]["namespace"], name)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
        for name in rule["resourceNames"]
    }
    assert granted == called

    (binding,) = find(default, "RoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    account = one(default, "Deployment", "render-autoscaler")["spec"]["template"]["spec"]["serviceAccountName"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": "render"}]
    assert one(default, "ServiceAccount", account)
    for deployment, _ in containers(default):
        if deployment["metadata"]["name"] != "render-autoscaler":
            assert deployment["spec"]["template"]["spec"]["automountServiceAccountToken"] is False


def test_keda_scaled_object_mirrors_the_autoscaler(
    default: list[dict[str, Any]], keda: list[dict[str, Any]], tmp_path: Path
) -> None:
    config = autoscaler_config(default, tmp_path)
    (scaled,) = find(keda, "ScaledObject")
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled["spec"]
    target = spec["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"]) == ("apps/v1", "Deployment")
    (pool,) = [p for p in config.pools if p.deployment == target["name"]]
    deployment = one(keda, "Deployment", target["name"])
    assert deployment["spec"]["replicas"] == 0
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (pool.min_replicas, pool.max_replicas)
    assert spec["cooldownPeriod"] == config.policy.idle_seconds
    behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] == config.policy.stabilization_seconds

    (trigger,) = spec["triggers"]
    assert trigger["type"] == "temporal"
    meta = trigger["metadata"]
    assert all(isinstance(v, str) for v in meta.values()), "KEDA trigger metadata is a map of strings"
    assert meta["taskQueue"] == pool.task_queue == names.GPU_QUEUE
    assert meta["queueTypes"] == "activity"
    assert meta["activationTargetQueueSize"] == "0"
    assert float(meta["targetQueueSize"]) == config.policy.target_backlog_per_replica
    assert meta["workflowTaskQueueForCount"] == names.CONTROL_QUEUE
    config_map = one(keda, "ConfigMap", "render-config")["data"]
    assert meta["namespace"] == config_map["TEMPORAL_NAMESPACE"]
    # KEDA resolves endpointFromEnv from the target's container, here through its envFrom ConfigMap.
    assert meta["endpointFromEnv"] in config_map
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert {"configMapRef": {"name": "render-config"}} in container["envFrom"]
    assert set(meta) <= {
        "endpoint",
        "endpointFromEnv",
        "namespace",
        "taskQueue",
        "queueTypes",
        "targetQueueSize",
        "activationTargetQueueSize",
        "includeRunningWorkflowCount",
        "workflowTaskQueueForCount",
        "minConnectTimeout",
        "unsafeSsl",
        "tlsServerName",
        "workerDeploymentName",
        "workerDeploymentBuildId",
    }, "a field KEDA's Temporal scaler does not document"


SERVICE_PACKAGES = {"contracts", "workflows", "engine", "activities", "workers", "starter", "runtime"}
"""What the images install; devtools (render-dev, the dev server, test helpers) stays out of them."""


@pytest.mark.parametrize("image", ["control", "gpu"])
def test_images_copy_the_service_packages_and_no_dev_tools(image: str) -> None:
    dockerfile = (ROOT / "k8s" / "images" / f"{image}.Dockerfile").read_text()
    copied = {line.split()[1] for line in dockerfile.splitlines() if line.startswith("COPY ") and "/" not in line}
    copied -= {"pyproject.toml"}
    assert copied == SERVICE_PACKAGES
    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    assert {pattern.rstrip("*") for pattern in include} == SERVICE_PACKAGES | {"devtools"}


def test_each_build_runs_its_own_worker_deployments(
    default: list[dict[str, Any]], keda: list[dict[str, Any]], tmp_path: Path
) -> None:
    """Rainbow: a new build is new Deployments beside the old, never a rolling update of them. A pinned video
    needs workers of its own build until it ends (runtime.versioning), so each build's pods are selected by
    the build's label too, join the Worker Deployment as that build, and run that build's image."""
    config = one(default, "ConfigMap", "render-config")["data"]
    assert config["RENDER_DEPLOYMENT_NAME"] == "render" and "RENDER_BUILD_ID" not in config  # one per Deployment
    assert load(DeploymentEnv, {"RENDER_BUILD_ID": BUILD}).build_id == BUILD
    workers = [(d, c) for d, c in containers(default) if runs(c, "render-worker")]
    for deployment, container in workers:
        name = deployment["metadata"]["name"]
        assert name.endswith(f"-{SUFFIX}"), name
        assert deployment["spec"]["selector"]["matchLabels"]["app.kubernetes.io/version"] == BUILD, name
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        assert env["RENDER_BUILD_ID"] == BUILD, name
        assert container["image"].rsplit(":", 1)[1] == BUILD, name
    (role,) = find(default, "Role")
    assert all(n.endswith(f"-{SUFFIX}") for rule in role["rules"] for n in rule["resourceNames"])
    (scaled,) = find(keda, "ScaledObject")
    (trigger,) = scaled["spec"]["triggers"]
    assert (trigger["metadata"]["workerDeploymentName"], trigger["metadata"]["workerDeploymentBuildId"]) == (
        "render",
        BUILD,
    )
