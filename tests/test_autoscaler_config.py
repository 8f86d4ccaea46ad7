"""Autoscaler configuration: file, environment over it, and errors that name the bad field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from contracts import names
from workers.autoscaler.config import (
    DEFAULT_IN_FLIGHT_QUERY,
    KNOBS,
    POLICY_KNOBS,
    AutoscalerConfig,
    ConfigError,
    load_config,
    parse_config,
)
from workers.autoscaler.policy import Policy, Pool, Role

FILE = """
interval_seconds: 5
in_flight_query: "WorkflowType = 'RenderVideo' AND ExecutionStatus = 'Running'"
policy:
  target_backlog_per_replica: 4
  stabilization_seconds: 120
pools:
  - {deployment: render-gpu, min: 1, max: 4}
  - {deployment: render-gpu-burst, max: 12, role: burst, target_backlog_per_replica: 8}
  - {deployment: render-gpu-l4, namespace: gpu, task_queue: render-gpu-l4, max: 3}
"""


def test_file_sets_pools_and_policy_with_defaults_for_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "autoscaler.yaml"
    path.write_text(FILE)
    config = load_config(env={}, path=path)
    assert config.interval_seconds == 5
    assert config.policy == Policy(target_backlog_per_replica=4, stabilization_seconds=120)
    assert config.pools == (
        Pool("render-gpu", "render", names.GPU_QUEUE, 1, 4, Role.BASELINE),
        Pool("render-gpu-burst", "render", names.GPU_QUEUE, 0, 12, Role.BURST, 8),
        Pool("render-gpu-l4", "gpu", "render-gpu-l4", 0, 3, Role.BASELINE),
    )
    assert config.queues == [names.GPU_QUEUE, "render-gpu-l4"]


def test_json_works_too_and_the_environment_wins(tmp_path: Path) -> None:
    path = tmp_path / "autoscaler.json"
    path.write_text(json.dumps({"dry_run": False, "pools": [{"deployment": "a", "max": 2}]}))
    env = {
        "RENDER_AUTOSCALER_CONFIG": str(path),
        "RENDER_AUTOSCALER_DRY_RUN": "true",
        "RENDER_AUTOSCALER_IDLE_SECONDS": "30",
        "RENDER_AUTOSCALER_BURST_BACKLOG": "none",
        "RENDER_AUTOSCALER_IN_FLIGHT_QUERY": "",
    }
    config = load_config(env=env)
    assert config.dry_run is True
    assert config.policy.idle_seconds == 30
    assert config.policy.burst_backlog is None
    assert config.in_flight_query is None
    assert [p.deployment for p in config.pools] == ["a"]


def test_pools_from_the_environment_and_defaults_without_any_file() -> None:
    assert load_config(env={}) == AutoscalerConfig(pools=(Pool("render-gpu", "render", names.GPU_QUEUE, 0, 8),))
    assert load_config(env={}).in_flight_query == DEFAULT_IN_FLIGHT_QUERY
    env = {"RENDER_AUTOSCALER_POOLS": '[{"deployment": "gpu-a", "max": 3}]', "RENDER_AUTOSCALER_NAMESPACE": "media"}
    assert load_config(env=env).pools == (Pool("gpu-a", "media", names.GPU_QUEUE, 0, 3),)


def test_every_knob_has_an_environment_variable() -> None:
    env = {
        "RENDER_AUTOSCALER_INTERVAL_SECONDS": "2.5",
        "RENDER_AUTOSCALER_DRY_RUN": "yes",
        "RENDER_AUTOSCALER_PORT": "9999",
        "RENDER_AUTOSCALER_NAMESPACE": "media",
        "RENDER_AUTOSCALER_ADDRESS": "::",
        "RENDER_AUTOSCALER_IN_FLIGHT_QUERY": "ExecutionStatus = 'Running'",
        "RENDER_AUTOSCALER_TARGET_BACKLOG_PER_REPLICA": "3",
        "RENDER_AUTOSCALER_RUNNING_PER_REPLICA": "2",
        "RENDER_AUTOSCALER_STABILIZATION_SECONDS": "10",
        "RENDER_AUTOSCALER_IDLE_SECONDS": "20",
        "RENDER_AUTOSCALER_BURST_BACKLOG": "7",
        "RENDER_AUTOSCALER_BURST_AGE_SECONDS": "45",
        "RENDER_AUTOSCALER_WORKER_DEPLOYMENT": "render",
    }
    assert {k.removeprefix("RENDER_AUTOSCALER_").lower() for k in env} == {*KNOBS, *POLICY_KNOBS}
    config = load_config(env=env)
    assert (config.interval_seconds, config.dry_run, config.port, config.namespace) == (2.5, True, 9999, "media")
    assert config.in_flight_query == "ExecutionStatus = 'Running'"
    assert config.policy == Policy(3, 2, 10, 20, 7, 45)
    assert config.address == "::"
    assert config.worker_deployment == "render"


def test_the_http_port_listens_on_loopback_unless_configured() -> None:
    assert load_config(env={}).address == "127.0.0.1"
    with pytest.raises(ConfigError, match="must be an IP address to listen on, got 'everywhere'") as caught:
        load_config(env={"RENDER_AUTOSCALER_ADDRESS": "everywhere"})
    assert "address" in str(caught.value)


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        ({"pools": [{"deployment": "a", "min": 3, "max": 2}]}, "pools[0].max", "must be >= min (3), got 2"),
        ({"pools": [{"deployment": "a", "max": 2}, {"deployment": "b", "max": 0}]}, "pools[1].max", ">= 1"),
        ({"pools": [{"deployment": "a"}]}, "pools[0].max", "required"),
        ({"pools": [{"max": 2}]}, "pools[0].deployment", "required"),
        ({"pools": [{"deployment": "GPU_A", "max": 2}]}, "pools[0].deployment", "Kubernetes name"),
        ({"pools": [{"deployment": "a", "max": 2, "role": "spot"}]}, "pools[0].role", "baseline, burst"),
        ({"pools": [{"deployment": "a", "max": 2, "version": "2.0.0"}]}, "pools[0].version", "DEPLOYMENT:BUILD_ID"),
        (
            {
                "pools": [
                    {"deployment": "a", "max": 2, "version": "render:1"},
                    {"deployment": "b", "max": 2, "version": "render:2", "role": "burst"},
                ]
            },
            "pools",
            "'render-gpu@render:2' has only burst pools",
        ),
        ({"pools": [{"deployment": "a", "max": 2, "mxa": 3}]}, "pools[0].mxa", "unknown setting"),
        ({"pools": [{"deployment": "a", "max": 2.5}]}, "pools[0].max", "whole number"),
        ({"pools": [{"deployment": "a", "max": 1}, {"deployment": "a", "max": 1}]}, "pools[1].deployment", "twice"),
        ({"pools": [{"deployment": "a", "max": 1, "role": "burst"}]}, "pools", "only burst pools"),
        ({"pools": []}, "pools", "non-empty list"),
        ({"policy": {"target_backlog_per_replica": 0}}, "policy.target_backlog_per_replica", ">= 0.001"),
        ({"policy": {"idle_seconds": "soon"}}, "policy.idle_seconds", "must be a number"),
        ({"policy": {"stabilisation_seconds": 5}}, "policy.stabilisation_seconds", "unknown setting"),
        ({"dry_run": "maybe"}, "dry_run", "true or false"),
        ({"interval": 5}, "interval", "unknown setting"),
    ],
)
def test_bad_settings_name_their_field(raw: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(raw)
    assert caught.value.field == field
    assert words in str(caught.value)


def test_unreadable_file_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="RENDER_AUTOSCALER_CONFIG: cannot read"):
        load_config(env={"RENDER_AUTOSCALER_CONFIG": str(tmp_path / "missing.yaml")})
