"""Autoscaler settings: a JSON or YAML file, then `RENDER_AUTOSCALER_*` environment variables on top.

Every knob is listed in `KNOBS` and `POLICY_KNOBS` (and in the README); a bad value fails at start with
the field named, e.g. `pools[1].max: must be >= min (2), got 1`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from contracts import names
from runtime.settings import AutoscalerEnv, load
from workers.autoscaler.policy import Policy, Pool, Role

ENV_PREFIX = "RENDER_AUTOSCALER_"
CONFIG_ENV = "RENDER_AUTOSCALER_CONFIG"
POOLS_ENV = "RENDER_AUTOSCALER_POOLS"
DEFAULT_IN_FLIGHT_QUERY = f"WorkflowType = '{names.WORKFLOW_NAME}' AND ExecutionStatus = 'Running'"
"""A running video may have clips rendering, or clips still to schedule (max_parallel_clips holds them back)."""
DEFAULT_POOLS: tuple[Mapping[str, Any], ...] = ({"deployment": "render-gpu", "max": 8},)
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class ConfigError(ValueError):
    """A setting that cannot work, with the field it came from."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class AutoscalerConfig:
    pools: tuple[Pool, ...]
    policy: Policy = field(default_factory=Policy)
    interval_seconds: float = 15.0
    """Seconds between ticks; each tick is one DescribeTaskQueue per queue, one count, one read per pool."""
    dry_run: bool = False
    """Log decisions, patch nothing."""
    port: int = 9465
    """HTTP port for /metrics and /healthz."""
    address: str = "127.0.0.1"
    """Where that port listens: loopback unless configured (the manifest sets 0.0.0.0 for the kubelet's probes)."""
    namespace: str = "render"
    """Kubernetes namespace of pools that do not name one."""
    in_flight_query: str | None = DEFAULT_IN_FLIGHT_QUERY
    """Visibility query counting work in flight (QueueSignal.running); None: backlog only."""
    worker_deployment: str | None = None
    """Worker Deployment whose draining versions /metrics reports (render_autoscaler_version_draining_seconds)."""

    @property
    def queues(self) -> list[str]:
        return list(dict.fromkeys(pool.task_queue for pool in self.pools))

    @property
    def sources(self) -> dict[str, tuple[str, str | None]]:
        """What the pools scale on, by `Pool.source`: (task queue, version or None)."""
        return {pool.source: (pool.task_queue, pool.version) for pool in self.pools}


def _number(value: Any, where: str, *, minimum: float, integer: bool = False, optional: bool = False) -> Any:
    if optional and (value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "null"))):
        return None
    if isinstance(value, bool):
        raise ConfigError(where, f"must be a number, got {value!r}")
    try:
        number = int(value) if integer and not isinstance(value, float) else float(value)
    except (TypeError, ValueError):
        kind = "a whole number" if integer else "a number"
        raise ConfigError(where, f"must be {kind}{' or null' if optional else ''}, got {value!r}") from None
    if integer and number != int(number):
        raise ConfigError(where, f"must be a whole number, got {value!r}")
    if number < minimum:
        raise ConfigError(where, f"must be >= {minimum:g}, got {value!r}")
    return int(number) if integer else number


def _bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off", ""):
        return False
    raise ConfigError(where, f"must be true or false, got {value!r}")


def _name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _DNS_LABEL.match(value) or len(value) > 63:
        raise ConfigError(where, f"must be a Kubernetes name (lowercase letters, digits, '-'), got {value!r}")
    return value


def _text(value: Any, where: str, *, optional: bool = False) -> str | None:
    if optional and (value is None or value == ""):
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(where, f"must be a non-empty string, got {value!r}")
    return value


def _address(value: Any, where: str) -> str:
    try:
        return str(ipaddress.ip_address(str(value).strip()))
    except ValueError:
        raise ConfigError(where, f"must be an IP address to listen on, got {value!r}") from None


Parser = Callable[[Any, str], Any]
KNOBS: dict[str, Parser] = {
    "interval_seconds": lambda v, w: _number(v, w, minimum=0.05),
    "dry_run": _bool,
    "port": lambda v, w: _number(v, w, minimum=0, integer=True),
    "address": _address,
    "namespace": _name,
    "in_flight_query": lambda v, w: _text(v, w, optional=True),
    "worker_deployment": lambda v, w: _text(v, w, optional=True),
}
POLICY_KNOBS: dict[str, Parser] = {
    "target_backlog_per_replica": lambda v, w: _number(v, w, minimum=0.001),
    "running_per_replica": lambda v, w: _number(v, w, minimum=0.001, optional=True),
    "stabilization_seconds": lambda v, w: _number(v, w, minimum=0),
    "idle_seconds": lambda v, w: _number(v, w, minimum=0),
    "burst_backlog": lambda v, w: _number(v, w, minimum=1, integer=True, optional=True),
    "burst_age_seconds": lambda v, w: _number(v, w, minimum=0, optional=True),
}
POOL_KEYS = ("deployment", "namespace", "task_queue", "min", "max", "role", "target_backlog_per_replica", "version")
_VERSION = re.compile(r"^[A-Za-z0-9_-]{1,200}:[A-Za-z0-9._+-]{1,200}$")


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(where, f"must be a mapping, got {type(value).__name__}")
    return value


def _known(raw: Mapping[str, Any], known: Any, where: str) -> None:
    for key in raw:
        if key not in known:
            raise ConfigError(f"{where}{key}", f"unknown setting; known: {', '.join(known)}")


def _pool(raw: Any, where: str, namespace: str) -> Pool:
    raw = _mapping(raw, where)
    _known(raw, POOL_KEYS, f"{where}.")
    if "deployment" not in raw:
        raise ConfigError(f"{where}.deployment", "required")
    if "max" not in raw:
        raise ConfigError(f"{where}.max", "required")
    low = _number(raw.get("min", 0), f"{where}.min", minimum=0, integer=True)
    high = _number(raw["max"], f"{where}.max", minimum=1, integer=True)
    if high < low:
        raise ConfigError(f"{where}.max", f"must be >= min ({low}), got {high}")
    role = raw.get("role", Role.BASELINE.value)
    if role not in {r.value for r in Role}:
        raise ConfigError(f"{where}.role", f"must be one of {', '.join(r.value for r in Role)}, got {role!r}")
    target = raw.get("target_backlog_per_replica")
    version = _text(raw.get("version"), f"{where}.version", optional=True)
    if version is not None and not _VERSION.match(version):
        raise ConfigError(f"{where}.version", f"must be DEPLOYMENT:BUILD_ID (render:2.0.0), got {version!r}")
    return Pool(
        deployment=_name(raw["deployment"], f"{where}.deployment"),
        namespace=_name(raw.get("namespace", namespace), f"{where}.namespace"),
        task_queue=str(_text(raw.get("task_queue", names.GPU_QUEUE), f"{where}.task_queue")),
        min_replicas=low,
        max_replicas=high,
        role=Role(role),
        target_backlog_per_replica=None
        if target is None
        else _number(target, f"{where}.target_backlog_per_replica", minimum=0.001),
        version=version,
    )


def parse_config(raw: Mapping[str, Any]) -> AutoscalerConfig:
    """Build and check a config from plain data (a parsed file with the environment applied)."""
    raw = _mapping(raw, "config")
    _known(raw, (*KNOBS, "policy", "pools"), "")
    top = {key: parse(raw[key], key) for key, parse in KNOBS.items() if key in raw}
    policy_raw = _mapping(raw.get("policy") or {}, "policy")
    _known(policy_raw, POLICY_KNOBS, "policy.")
    policy = Policy(**{k: parse(policy_raw[k], f"policy.{k}") for k, parse in POLICY_KNOBS.items() if k in policy_raw})
    pools_raw = raw.get("pools", DEFAULT_POOLS)
    if not isinstance(pools_raw, list | tuple) or not pools_raw:
        raise ConfigError("pools", "must be a non-empty list")
    namespace = top.get("namespace", AutoscalerConfig.namespace)
    pools = tuple(_pool(item, f"pools[{i}]", namespace) for i, item in enumerate(pools_raw))
    seen: set[str] = set()
    for i, pool in enumerate(pools):
        if pool.key in seen:
            raise ConfigError(f"pools[{i}].deployment", f"{pool.key} is listed twice")
        seen.add(pool.key)
    for source in dict.fromkeys(p.source for p in pools):
        if not any(p.source == source and p.role is Role.BASELINE for p in pools):
            raise ConfigError("pools", f"task queue {source!r} has only burst pools; give it a baseline pool")
    return AutoscalerConfig(pools=pools, policy=policy, **top)


def _with_env(raw: Mapping[str, Any], env: AutoscalerEnv) -> dict[str, Any]:
    merged = dict(raw)
    policy = dict(_mapping(merged.get("policy") or {}, "policy"))
    overrides = env.overrides()
    merged.update({key: value for key, value in overrides.items() if key in KNOBS})
    policy.update({key: value for key, value in overrides.items() if key in POLICY_KNOBS})
    merged["policy"] = policy
    if env.pools:
        try:
            merged["pools"] = yaml.safe_load(env.pools)
        except yaml.YAMLError as err:
            raise ConfigError(POOLS_ENV, f"is not JSON or YAML: {err}") from None
    return merged


def load_config(env: Mapping[str, str] | None = None, path: str | Path | None = None) -> AutoscalerConfig:
    """The file (`path`, else $RENDER_AUTOSCALER_CONFIG, else none), then the environment over it.

    The variables are read by runtime.settings.AutoscalerEnv as text and checked here by the same
    parsers as the file's values, so both name the field the same way."""
    read = load(AutoscalerEnv, env)
    raw: Any = {}
    source = path or read.config
    if source:
        try:
            raw = yaml.safe_load(Path(source).read_text()) or {}
        except (OSError, yaml.YAMLError) as err:
            raise ConfigError(CONFIG_ENV, f"cannot read {source}: {err}") from None
    return parse_config(_with_env(_mapping(raw, str(source or "config")), read))
