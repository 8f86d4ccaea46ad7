"""Replica counts through the Deployments' scale subresource: the only Kubernetes calls the autoscaler makes.

`get` and `patch` on `deployments/scale` in the pools' namespace is all the RBAC it needs (the Role in
k8s/autoscaler.yaml); the tests hold the Role to exactly these calls.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from kubernetes import client as k8s
from kubernetes import config as k8s_config

from workers.autoscaler.policy import Pool


class Scaler(Protocol):
    async def replicas(self, pool: Pool) -> int: ...

    async def scale(self, pool: Pool, replicas: int) -> None: ...


class KubeScaler:
    """`Scaler` over the official client; its blocking calls run in a thread so the loop keeps serving."""

    def __init__(self, apps: k8s.AppsV1Api) -> None:
        self._apps = apps

    async def replicas(self, pool: Pool) -> int:
        scale: Any = await asyncio.to_thread(
            self._apps.read_namespaced_deployment_scale, pool.deployment, pool.namespace
        )
        return int(scale.spec.replicas or 0)

    async def scale(self, pool: Pool, replicas: int) -> None:
        body = {"spec": {"replicas": replicas}}
        await asyncio.to_thread(self._apps.patch_namespaced_deployment_scale, pool.deployment, pool.namespace, body)


def apps_api(host: str | None = None) -> k8s.AppsV1Api:
    """In a pod: its service account. Elsewhere: the kubeconfig. `host`: a plain endpoint (tests)."""
    if host is not None:
        configuration = k8s.Configuration(host=host)
        return k8s.AppsV1Api(k8s.ApiClient(configuration))
    try:
        k8s_config.load_incluster_config()  # type: ignore[no-untyped-call]
    except k8s_config.ConfigException:
        k8s_config.load_kube_config()  # type: ignore[no-untyped-call]
    return k8s.AppsV1Api()
