"""The Temporal connection comes from the `temporal` CLI's configuration: TOML profiles and TEMPORAL_* variables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.service import TLSConfig

from runtime.connection import TemporalTarget, Unreachable
from runtime.settings import SettingsError

RENDER = str(Path(sys.executable).parent / "render")


def write_profiles(tmp_path: Path, address: str = "prod.example:7233") -> Path:
    (tmp_path / "client.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\nclient\n-----END CERTIFICATE-----\n")
    (tmp_path / "client.key").write_bytes(b"-----BEGIN PRIVATE KEY-----\nkey\n-----END PRIVATE KEY-----\n")
    (tmp_path / "ca.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n")
    config = tmp_path / "temporal.toml"
    config.write_text(
        f"""
[profile.default]
address = "{address}"
namespace = "renders"

[profile.prod]
address = "{address}"
namespace = "renders-prod"

[profile.prod.tls]
client_cert_path = "{tmp_path / "client.pem"}"
client_key_path = "{tmp_path / "client.key"}"
server_ca_cert_path = "{tmp_path / "ca.pem"}"
server_name = "frontend.prod.example"

[profile.cloud]
address = "renders.abcd.tmprl.cloud:7233"
namespace = "renders.abcd"
api_key = "cloud-key"
"""
    )
    return config


def test_a_profile_with_mtls_is_read_with_its_certificates(tmp_path: Path) -> None:
    config = write_profiles(tmp_path)
    target = TemporalTarget.from_env({"TEMPORAL_CONFIG_FILE": str(config), "TEMPORAL_PROFILE": "prod"})
    assert (target.address, target.namespace, target.profile) == ("prod.example:7233", "renders-prod", "prod")
    assert isinstance(target.tls, TLSConfig)
    assert target.tls.client_cert == (tmp_path / "client.pem").read_bytes()
    assert target.tls.client_private_key == (tmp_path / "client.key").read_bytes()
    assert target.tls.server_root_ca_cert == (tmp_path / "ca.pem").read_bytes()
    assert target.tls.domain == "frontend.prod.example"


def test_variables_override_the_profile_as_the_temporal_cli_does(tmp_path: Path) -> None:
    config = write_profiles(tmp_path)
    default = TemporalTarget.from_env({"TEMPORAL_CONFIG_FILE": str(config)})
    assert (default.namespace, default.tls) == ("renders", False)
    cloud = TemporalTarget.from_env({"TEMPORAL_CONFIG_FILE": str(config), "TEMPORAL_PROFILE": "cloud"})
    assert cloud.api_key == "cloud-key" and cloud.tls is True  # an API key turns TLS on
    overridden = TemporalTarget.from_env(
        {"TEMPORAL_CONFIG_FILE": str(config), "TEMPORAL_PROFILE": "cloud", "TEMPORAL_NAMESPACE": "other",
         "TEMPORAL_TLS": "false", "TEMPORAL_GRPC_META_X_TEAM": "video"}
    )  # fmt: skip
    assert (overridden.namespace, overridden.tls) == ("other", False)
    assert dict(overridden.rpc_metadata) == {"x-team": "video"}
    client_cert = TemporalTarget.from_env(
        {"TEMPORAL_TLS_CLIENT_CERT_PATH": str(tmp_path / "client.pem"),
         "TEMPORAL_TLS_CLIENT_KEY_PATH": str(tmp_path / "client.key")}
    )  # fmt: skip
    assert (
        isinstance(client_cert.tls, TLSConfig) and client_cert.tls.client_cert == (tmp_path / "client.pem").read_bytes()
    )


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"TEMPORAL_PROFILE": "staging"}, "TEMPORAL_PROFILE"),
        ({"TEMPORAL_CONFIG_FILE": "/nonexistent/temporal.toml"}, "TEMPORAL_CONFIG_FILE"),
        ({"TEMPORAL_TLS_CLIENT_CERT_PATH": "/nonexistent/client.pem"}, "TEMPORAL_TLS"),
        ({"TEMPORAL_TLS": "sometimes"}, "TEMPORAL_TLS"),
    ],
)
def test_an_unusable_configuration_names_its_variable(tmp_path: Path, env: dict[str, str], variable: str) -> None:
    env = {"TEMPORAL_CONFIG_FILE": str(write_profiles(tmp_path)), **env}
    with pytest.raises(SettingsError) as refused:
        TemporalTarget.from_env(env)
    assert refused.value.variable == variable


def test_a_bad_toml_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "temporal.toml"
    config.write_text("[profile.default\naddress = 1\n")
    run = subprocess.run([RENDER, "list"], env={"TEMPORAL_CONFIG_FILE": str(config), "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert run.returncode == 2 and run.stderr.startswith("render: TEMPORAL_CONFIG_FILE: cannot use ")
    assert len(run.stderr.strip().splitlines()) == 1


async def test_the_cli_reaches_the_server_a_profile_names(client: Client, tmp_path: Path) -> None:
    address = client.service_client.config.target_host
    config = write_profiles(tmp_path, address)
    config.write_text(config.read_text().replace('namespace = "renders"', 'namespace = "default"', 1))
    env = {"TEMPORAL_CONFIG_FILE": str(config), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    run = subprocess.run([RENDER, "list", "--json"], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.lstrip().startswith("[")
    target = TemporalTarget.from_env(env)
    assert target.address == address


async def test_an_address_where_nothing_listens_is_unreachable(tmp_path: Path) -> None:
    with pytest.raises(Unreachable) as unreachable:
        await TemporalTarget(address="127.0.0.1:1").connect()
    assert str(unreachable.value).startswith("cannot reach Temporal at 127.0.0.1:1: ")
    assert "\n" not in str(unreachable.value)
