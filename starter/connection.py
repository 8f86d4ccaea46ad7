"""How every process reaches Temporal, from the same environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from temporalio.client import Client
from temporalio.runtime import Runtime


@dataclass(frozen=True)
class TemporalTarget:
    address: str = "localhost:7233"
    namespace: str = "default"
    api_key: str | None = None
    tls: bool = False
    ui_url: str = "http://localhost:8233"

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> TemporalTarget:
        api_key = env.get("TEMPORAL_API_KEY") or None
        return cls(
            address=env.get("TEMPORAL_ADDRESS", "localhost:7233"),
            namespace=env.get("TEMPORAL_NAMESPACE", "default"),
            api_key=api_key,
            tls=env.get("TEMPORAL_TLS", "true" if api_key else "false").lower() == "true",
            ui_url=env.get("TEMPORAL_UI_URL", "http://localhost:8233").rstrip("/"),
        )

    def workflow_url(self, workflow_id: str) -> str:
        return f"{self.ui_url}/namespaces/{self.namespace}/workflows/{workflow_id}"

    async def connect(self, runtime: Runtime | None = None) -> Client:
        return await Client.connect(
            self.address, namespace=self.namespace, api_key=self.api_key, tls=self.tls, runtime=runtime
        )
