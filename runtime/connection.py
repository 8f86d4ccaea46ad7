"""How every process reaches Temporal, from the same environment variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from temporalio.client import Client
from temporalio.runtime import Runtime

from runtime.settings import TemporalEnv, load


@dataclass(frozen=True)
class TemporalTarget:
    address: str = "localhost:7233"
    namespace: str = "default"
    api_key: str | None = None
    tls: bool = False
    ui_url: str = "http://localhost:8233"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TemporalTarget:
        """TEMPORAL_* (see runtime.settings.TemporalEnv); a bad value raises SettingsError."""
        read = load(TemporalEnv, env)
        return cls(
            address=read.address,
            namespace=read.namespace,
            api_key=read.api_key,
            tls=bool(read.api_key) if read.tls is None else read.tls,
            ui_url=read.ui_url.rstrip("/"),
        )

    def workflow_url(self, workflow_id: str) -> str:
        return f"{self.ui_url}/namespaces/{self.namespace}/workflows/{workflow_id}"

    async def connect(self, runtime: Runtime | None = None) -> Client:
        return await Client.connect(
            self.address, namespace=self.namespace, api_key=self.api_key, tls=self.tls, runtime=runtime
        )
