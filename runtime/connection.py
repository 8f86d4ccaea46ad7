"""How every process reaches Temporal: the `temporal` CLI's own configuration (temporalio.envconfig).

Operators already keep their connections as profiles in a TOML file (`TEMPORAL_CONFIG_FILE`, by
default `~/.config/temporalio/temporal.toml`; `TEMPORAL_PROFILE` picks one) and override them with
the variables the `temporal` CLI reads: `TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`, `TEMPORAL_API_KEY`,
`TEMPORAL_TLS`, `TEMPORAL_TLS_CLIENT_CERT_PATH`, `TEMPORAL_TLS_CLIENT_KEY_PATH`,
`TEMPORAL_TLS_SERVER_CA_CERT_PATH`, `TEMPORAL_TLS_SERVER_NAME`, `TEMPORAL_GRPC_META_*`. Reading
them through the SDK keeps this service and the CLI on one configuration. `TEMPORAL_UI_URL` (ours)
is where the printed Web UI links point.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from temporalio.client import Client, Interceptor
from temporalio.envconfig import ClientConfigProfile
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig

from runtime.process import free_port, program
from runtime.settings import SettingsError, TemporalEnv, load

DEFAULT_ADDRESS = "localhost:7233"


def checked_address(address: str) -> str:
    """`address` if it reads as HOST:PORT, else SettingsError naming TEMPORAL_ADDRESS (not a connection
    failure: no server could ever answer there)."""
    try:
        parts = urlsplit("//" + address)
        host, port = parts.hostname, parts.port
    except ValueError as err:
        raise SettingsError("TEMPORAL_ADDRESS", f"{address!r} is not HOST:PORT ({err})") from None
    if not host or port is None or any(c.isspace() for c in address) or parts.path or parts.query:
        raise SettingsError("TEMPORAL_ADDRESS", f"{address!r} is not HOST:PORT")
    return address


class Unreachable(RuntimeError):
    """Temporal did not answer at the configured address; the message is one line."""


@dataclass(frozen=True)
class TemporalTarget:
    address: str = DEFAULT_ADDRESS
    namespace: str = "default"
    api_key: str | None = None
    tls: bool | TLSConfig = False
    """False, True (system roots), or a TLSConfig with client certificates, CA and server name."""
    ui_url: str = "http://localhost:8233"
    rpc_metadata: Mapping[str, str] = field(default_factory=dict)
    profile: str | None = None
    """The profile the settings came from (TEMPORAL_PROFILE), when one was named."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TemporalTarget:
        """The profile and TEMPORAL_* overrides; anything unusable raises SettingsError naming the variable."""
        env = os.environ if env is None else env
        ours = load(TemporalEnv, env)  # TEMPORAL_TLS must be a boolean (the SDK reads anything else as true)
        profile_name = env.get("TEMPORAL_PROFILE") or None
        config_file = env.get("TEMPORAL_CONFIG_FILE")
        if config_file and not os.path.isfile(config_file):
            raise SettingsError("TEMPORAL_CONFIG_FILE", f"no such file: {config_file}")
        try:
            profile = ClientConfigProfile.load(profile_name, override_env_vars=dict(env))
            connect = profile.to_client_connect_config()
        except OSError as err:  # a certificate or key the profile or a TEMPORAL_TLS_*_PATH names
            raise SettingsError("TEMPORAL_TLS", f"cannot read {err.filename}: {err.strerror}") from None
        except Exception as err:  # the SDK's own parse errors: bad TOML, unknown profile
            text = " ".join(str(err).split())
            variable = "TEMPORAL_PROFILE" if profile_name and "profile" in text.lower() else "TEMPORAL_CONFIG_FILE"
            raise SettingsError(variable, f"cannot use {config_file or 'the Temporal configuration'}: {text}") from None
        return cls(
            address=checked_address(connect.get("target_host") or DEFAULT_ADDRESS),
            namespace=connect.get("namespace") or "default",
            api_key=connect.get("api_key"),
            tls=connect.get("tls", False),
            ui_url=ours.ui_url.rstrip("/"),
            rpc_metadata=dict(connect.get("rpc_metadata", {})),
            profile=profile_name,
        )

    @property
    def port(self) -> int:
        """The frontend's port (7233 when the address names none)."""
        host, _, port = self.address.rpartition(":")
        return int(port) if host and port.isdigit() else 7233

    def workflow_url(self, workflow_id: str) -> str:
        return f"{self.ui_url}/namespaces/{self.namespace}/workflows/{workflow_id}"

    async def connect(self, runtime: Runtime | None = None, interceptors: Sequence[Interceptor] = ()) -> Client:
        """A client, or Unreachable naming the address when nothing answers there."""
        try:
            return await Client.connect(
                self.address,
                namespace=self.namespace,
                api_key=self.api_key,
                tls=self.tls,
                rpc_metadata=dict(self.rpc_metadata),
                runtime=runtime,
                interceptors=interceptors,
            )
        except RuntimeError as err:  # the SDK's connection failure, with the transport's whole error chain
            reason, hint = unreachable_reason(" ".join(str(err).split()), self.address)
            raise Unreachable(f"cannot reach Temporal at {self.address}: {reason}; {hint}") from None


LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]")

TRANSPORT_REASONS = (
    (("Connection refused",), "connection refused: nothing listens there"),
    (("not healthy", "Unavailable"), "the server answers but is not ready (still starting?)"),
    (("call error after connection", "h2 protocol error", "http2 error", "FRAME_SIZE_ERROR", "GoAway",
      "invalid HTTP", "InvalidContentType"),
     "something answers there, but not Temporal (not its gRPC frontend)"),
    (("dns error", "failed to lookup address", "Name or service not known", "nodename nor servname"),
     "the host name does not resolve"),
    (("certificate", "tls handshake", "InvalidCertificate", "UnknownIssuer"), "the TLS handshake failed"),
    (("timed out", "Timeout", "deadline"), "no answer in time"),
)  # fmt: skip
"""The SDK's transport errors (Rust's whole error chain) in a few words, by what they contain."""


def unreachable_reason(text: str, address: str) -> tuple[str, str]:
    """Why nothing usable answered at `address`, in a few words, and what to do about it."""
    reason = next((said for marks, said in TRANSPORT_REASONS if any(m in text for m in marks)), text[:300])
    if reason.startswith("the TLS handshake"):  # which certificate, and why, is the detail an operator needs
        reason += f" ({text[-200:]})"
    local = address.rpartition(":")[0] in LOCAL_HOSTS
    dev = program("render-dev")
    if local and reason.startswith("connection refused"):
        return reason, f"start a local dev server with `{dev} dev-server start`, or set TEMPORAL_ADDRESS"
    if local and reason.startswith("something answers"):
        free = f"localhost:{free_port()}"
        return reason, (
            f"set TEMPORAL_ADDRESS to your Temporal server, or export TEMPORAL_ADDRESS={free} and start a dev "
            f"server there: `TEMPORAL_ADDRESS={free} {dev} dev-server start`"
        )
    return reason, "check TEMPORAL_ADDRESS (or the profile TEMPORAL_PROFILE names) and that the server runs"
