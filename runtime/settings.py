"""Every setting the service reads from the environment, in one place, typed.

Each group of variables is a pydantic-settings model (`TemporalEnv`, `RenderEnv`, `WorkerEnv`,
`DeploymentEnv`, `LogEnv`, `AutoscalerEnv`); `load(Model, env)` reads it from a mapping (the process environment by
default) and turns a bad value into a `SettingsError` that names the variable and what it accepts:

    RENDER_SLOTS: must be a whole number ≥ 0, got 'two'

Each field's docstring is its description: docs/configuration.md's table of every variable is generated
from these models (`python -m devtools.settings_reference`). The engine's frozen `engine.settings.Settings`,
what activities receive, is built from `RenderEnv` by `render_settings`.
"""

from __future__ import annotations

import os
import re
import types
import typing
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, NamedTuple, TypeVar

import annotated_types
from pydantic import BaseModel, BeforeValidator, Field, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from contracts.gpus import GPU_CLASSES
from contracts.tenancy import parse_channel_map
from engine.media.themed import installed_font
from engine.settings import DAY, Credential, Optional, Section, Settings, empty_is_none

WORKER_MODES = ("all", "control", "gpu")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MAX_SLOTS = 10_000
"""Activities a worker runs at once, at most: Temporal's slot semaphore refuses (or panics on) far larger counts."""


class SettingsError(ValueError):
    """A variable whose value cannot work; the message names it and what it accepts."""

    def __init__(self, variable: str, message: str) -> None:
        super().__init__(f"{variable}: {message}")
        self.variable = variable


_SOURCE: ContextVar[Mapping[str, str]] = ContextVar("settings_source", default=os.environ)


class Variable(NamedTuple):
    """One variable a model reads: where its value goes in the model, its name and its field."""

    path: tuple[str, ...]
    name: str
    field: FieldInfo
    owner: type[BaseModel]


def _section(field: FieldInfo) -> type[Section] | None:
    kind = field.annotation
    return kind if isinstance(kind, type) and issubclass(kind, Section) else None


def _variables(owner: type[BaseModel], prefix: str, path: tuple[str, ...]) -> list[Variable]:
    found = []
    for name, field in owner.model_fields.items():
        section = _section(field)
        if section is not None:
            found += _variables(section, prefix, (*path, name))
        else:
            suffix = owner.env_name(name) if issubclass(owner, Section) else name
            found.append(Variable((*path, name), (prefix + suffix).upper(), field, owner))
    return found


class _Mapping(PydanticBaseSettingsSource):
    """Variables from the mapping `load` was given: `<env_prefix><FIELD>`, exact names, nothing else; a section's
    variables go into that section."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        variable = self.settings_cls.variable(field_name)  # type: ignore[attr-defined]
        return _SOURCE.get().get(variable), variable, False

    def __call__(self) -> dict[str, Any]:
        source = _SOURCE.get()
        values: dict[str, Any] = {}
        for variable in self.settings_cls.variables():  # type: ignore[attr-defined]
            value = source.get(variable.name)
            if value is not None:
                *sections, name = variable.path
                place = values
                for section in sections:
                    place = place.setdefault(section, {})
                place[name] = value
        return values


class EnvModel(BaseSettings):
    """A group of variables sharing a prefix; read it with `load`."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", allow_inf_nan=False, use_attribute_docstrings=True)
    """No number is infinite or NaN: an endless budget overflows what it is compared against. Each field's
    docstring is its description, and docs/configuration.md is generated from them (devtools.settings_reference)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, _Mapping(settings_cls))

    @classmethod
    def variable(cls, field_name: str) -> str:
        """A top-level field's variable (a section's fields: `variables`)."""
        return (str(cls.model_config.get("env_prefix", "")) + field_name).upper()

    @classmethod
    def variables(cls) -> list[Variable]:
        """Every variable this model reads, its sections' included, in declaration order."""
        return _variables(cls, str(cls.model_config.get("env_prefix", "")), ())


Model = TypeVar("Model", bound=EnvModel)


def expectation(field: FieldInfo) -> str | None:
    """What a field accepts, in words: 'a whole number ≥ 0', 'one of auto, h264_nvenc, libx264'."""
    kind = field.annotation
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        kind = next(a for a in typing.get_args(kind) if a is not type(None))
    if typing.get_origin(kind) is Literal:
        return "one of " + ", ".join(str(choice) for choice in typing.get_args(kind))
    bounds = ""
    for meta in field.metadata:
        for attr, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            if isinstance(meta, getattr(annotated_types, attr.capitalize())):
                bounds += f"{' and' if bounds else ''} {sign} {getattr(meta, attr)}"
    if kind is bool:
        return "true or false"
    if kind is int:
        return "a whole number" + bounds
    if kind is float:
        return "a number" + bounds
    return None


def load(model: type[Model], env: Mapping[str, str] | None = None) -> Model:
    """Read `model`'s variables from `env` (default: the process environment), or raise SettingsError."""
    token = _SOURCE.set(os.environ if env is None else env)
    try:
        return model()
    except ValidationError as err:
        first = err.errors()[0]
        loc = tuple(str(part) for part in first["loc"])
        found = next((v for v in model.variables() if loc[: len(v.path)] == v.path), None)
        variable = found.name if found else model.variable(loc[0] if loc else "")
        expected = expectation(found.field) if found is not None else None
        if expected is None or first["type"] == "value_error":
            # Validators word their own message, the value included.
            message = str(first["msg"]).removeprefix("Value error, ")
            raise SettingsError(variable, message.removeprefix(variable + ": ")) from None
        raise SettingsError(variable, f"must be {expected}, got {first['input']!r}") from None
    finally:
        _SOURCE.reset(token)


class TemporalEnv(EnvModel):
    """How to reach Temporal: TEMPORAL_*."""

    model_config = SettingsConfigDict(env_prefix="TEMPORAL_")

    address: str = "localhost:7233"
    """Temporal frontend, host:port."""
    namespace: str = "default"
    """The Temporal namespace."""
    api_key: Credential = Field(default=None, repr=False)
    """API key (Temporal Cloud); turns TLS on unless TEMPORAL_TLS says otherwise."""
    tls: Annotated[bool | None, BeforeValidator(empty_is_none)] = None
    """TLS to the frontend; unset: on with an API key, else off."""
    ui_url: str = "http://localhost:8233"
    """Base of the Web UI links printed; its port is the dev server's UI port."""


class RenderEnv(EnvModel, Settings):
    """What activities need: storage roots, encoder, fonts, timeouts, prices (RENDER_*).

    The engine's `Settings` read from the environment: its sections' fields are the variables, named
    RENDER_ + the section's prefix + the field (`engine.settings.Section.env_name`)."""

    model_config = SettingsConfigDict(env_prefix="RENDER_")


class WorkerEnv(EnvModel):
    """How `render-worker` runs: mode, slots, drain, GPU class, health server (RENDER_*)."""

    model_config = SettingsConfigDict(env_prefix="RENDER_")

    worker_mode: Literal["all", "control", "gpu"] = "all"
    """`all`, `control` (workflow, check, concat, upload) or `gpu` (clip renders)."""
    slots: Annotated[int, Field(ge=0)] = 0
    """Concurrent clip renders; 0 = 3 per NVENC GPU, else one per CPU core."""
    control_slots: Annotated[int, Field(ge=1)] = 8
    """Concurrent control activities."""
    drain_seconds: Annotated[float, Field(ge=0, le=DAY)] = 60.0
    """On SIGTERM, how long running activities get before they are handed back."""
    gpu_class: Optional = None
    """The GPU class this render worker serves (polls `render-gpu-<class>`)."""
    sessions_per_gpu: Annotated[int, Field(ge=1)] = 3
    """ffmpeg processes per NVENC GPU when `RENDER_SLOTS` is 0."""
    health_port: Annotated[int, Field(ge=0, le=65535)] = 9464
    """Port of the worker's `/healthz`, `/readyz`, `/status`, `/metrics` (0: off)."""
    health_address: str = "127.0.0.1"
    """Loopback unless configured: in Kubernetes the kubelet probes the pod IP, so the manifests set 0.0.0.0."""
    health_max_connections: Annotated[int, Field(ge=1)] = 32
    """Health-server connections served at once."""
    health_timeout_seconds: Annotated[float, Field(gt=0)] = 5.0
    """Seconds a health-server read may wait (three times that for a whole exchange)."""
    status_detail: Literal["full", "counts"] = "full"
    """`counts` hides which videos and clips are in flight from /status."""
    quarantine_after: Annotated[int, Field(ge=0)] = 3
    """The worker's own failures in a row (ffmpeg failing for machine reasons, a full disk, lost writes, attempts
    that stalled) after which it quarantines itself: stops polling and exits with status 4; 0: never."""
    quarantine_linger_seconds: Annotated[float, Field(ge=0)] = 60.0
    """How long a quarantined worker stays up, polling nothing, so that /status and the metrics say why."""

    @field_validator("slots", "control_slots", "sessions_per_gpu")
    @classmethod
    def _few_enough(cls, value: int) -> int:
        if value > MAX_SLOTS:
            raise ValueError(f"must be at most {MAX_SLOTS}, got {value}")
        return value

    @field_validator("gpu_class")
    @classmethod
    def _known_class(cls, value: str | None) -> str | None:
        if value is not None and value not in GPU_CLASSES:
            raise ValueError(f"must be one of {', '.join(sorted(GPU_CLASSES))}, got {value!r}")
        return value


DEPLOYMENT_CURRENT = ("if-none", "never")


class DeploymentEnv(EnvModel):
    """Which Worker Deployment Version a worker joins, and how a version comes and goes (RENDER_*).

    Read by workers (to join) and by `render` (to check that the current version has workers).
    """

    model_config = SettingsConfigDict(env_prefix="RENDER_")

    deployment_name: str = "render"
    """The Worker Deployment every worker of this service joins; one name per service and namespace."""
    build_id: Optional = None
    """This build's id; unset: the package version and a hash of the service's source (runtime.versioning)."""
    deployment_current: Literal["if-none", "never"] = "if-none"
    """`if-none`: a worker makes its version current when the deployment has never had one (a fresh
    namespace, the quick start); it never replaces a version an operator chose. `never`: only operators do."""
    exit_when_drained: bool = False
    """Leave (status 0) once this version is neither current nor ramping and no video pinned to it runs."""
    drain_check_seconds: Annotated[float, Field(gt=0)] = 30.0
    """How often a worker with RENDER_EXIT_WHEN_DRAINED asks whether its version has drained."""

    @field_validator("deployment_name")
    @classmethod
    def _deployment_name(cls, value: str) -> str:
        # The server spells a version `<name>:<build id>` in visibility and `<name>.<build id>` elsewhere.
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,200}", value):
            raise ValueError(f"must be 1 to 200 letters, digits, '-' or '_', got {value!r}")
        return value

    @field_validator("build_id")
    @classmethod
    def _build_id(cls, value: str | None) -> str | None:
        if value is not None and (not re.fullmatch(r"[A-Za-z0-9._+-]{1,200}", value) or value == "__unversioned__"):
            raise ValueError(f"must be 1 to 200 letters, digits, '.', '_', '+' or '-', got {value!r}")
        return value


class ChannelEnv(EnvModel):
    """What a submitter enforces per channel: RENDER_CHANNEL_LIMITS, videos in flight at once."""

    model_config = SettingsConfigDict(env_prefix="RENDER_")

    channel_limits: str = ""
    """Videos in flight at once by channel, `news=20,*=5`, enforced by `render submit`, `submit-batch` and
    `RenderClient.connect()`. Empty: no limit."""

    @field_validator("channel_limits")
    @classmethod
    def _limits(cls, value: str) -> str:
        for channel, limit in parse_channel_map(value, "RENDER_CHANNEL_LIMITS").items():
            if limit != int(limit):
                raise ValueError(f"RENDER_CHANNEL_LIMITS: {channel}={limit:g} is not a whole number of videos")
        return value

    def limits(self) -> dict[str, int]:
        return {c: int(n) for c, n in parse_channel_map(self.channel_limits, "RENDER_CHANNEL_LIMITS").items()}


class LogEnv(EnvModel):
    """RENDER_LOG_FORMAT and RENDER_LOG_LEVEL; an unset level is the program's own default."""

    model_config = SettingsConfigDict(env_prefix="RENDER_")

    log_format: Literal["console", "json"] = "console"
    """`console` for people, `json` in production."""
    log_level: Optional = None
    """DEBUG, INFO, WARNING, ERROR or CRITICAL; unset: the program's default (INFO)."""

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str | None) -> str | None:
        if value is not None and value.upper() not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}, got {value!r}")
        return value.upper() if value else None


class AutoscalerEnv(EnvModel):
    """RENDER_AUTOSCALER_*: raw text, checked by `workers.autoscaler.config` exactly like the file's values."""

    model_config = SettingsConfigDict(env_prefix="RENDER_AUTOSCALER_")
    KNOB_FIELDS: ClassVar[tuple[str, ...]] = (
        "interval_seconds", "dry_run", "port", "address", "namespace", "in_flight_query", "target_backlog_per_replica",
        "running_per_replica", "stabilization_seconds", "idle_seconds", "burst_backlog", "burst_age_seconds",
        "worker_deployment",
    )  # fmt: skip

    config: str | None = None
    """The autoscaler's config file (YAML or JSON); unset: its built-in defaults."""
    pools: str | None = None
    """The pools to scale, as JSON (see [Scaling on Kubernetes](kubernetes.md)), over the file's."""
    interval_seconds: str | None = None
    dry_run: str | None = None
    port: str | None = None
    address: str | None = None
    namespace: str | None = None
    in_flight_query: str | None = None
    target_backlog_per_replica: str | None = None
    running_per_replica: str | None = None
    stabilization_seconds: str | None = None
    idle_seconds: str | None = None
    burst_backlog: str | None = None
    burst_age_seconds: str | None = None
    worker_deployment: str | None = None

    def overrides(self) -> dict[str, str]:
        """The knobs the environment sets, by name (an empty value counts: it can mean null)."""
        return {name: value for name in self.KNOB_FIELDS if (value := getattr(self, name)) is not None}


ENV_MODELS: tuple[type[EnvModel], ...] = (
    TemporalEnv, RenderEnv, WorkerEnv, DeploymentEnv, ChannelEnv, LogEnv, AutoscalerEnv,
)  # fmt: skip
"""Every group of variables the service reads."""


def render_settings(env: Mapping[str, str] | None = None) -> Settings:
    """The engine's settings from RENDER_* (see `RenderEnv`); a bad value raises SettingsError naming the variable."""
    settings = Settings.model_validate(dict(load(RenderEnv, env)))
    return _fonts(settings, os.environ if env is None else env)


def _fonts(settings: Settings, env: Mapping[str, str]) -> Settings:
    """RENDER_FONT and RENDER_FONT_BOLD as files: a family name is looked up, and a face that is not there is
    refused, where the text engine would silently draw with another and every cached clip would change."""
    found = {}
    for field, variable, bold in (("font", "RENDER_FONT", False), ("font_bold", "RENDER_FONT_BOLD", True)):
        value = env.get(variable)
        if value is None:
            continue
        path: Path | None = Path(value)
        if not value.strip() or not Path(value).is_file():
            path = installed_font(value.strip(), bold) if value.strip() and "/" not in value else None
        if path is None:
            raise SettingsError(variable, f"must be a font file or an installed family, got {value!r}")
        found[field] = path
    return settings.replace(render=found) if found else settings
