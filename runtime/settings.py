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
from typing import Annotated, Any, ClassVar, Literal, TypeVar

import annotated_types
from pydantic import BeforeValidator, Field, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from contracts.budget import Budget
from contracts.gpus import GPU_CLASSES
from contracts.tenancy import parse_channel_map
from contracts.themes import parse_channel_themes
from contracts.voices import TTS_ENGINES
from engine.settings import DEJAVU, Settings, default_rates, file_uri, parse_rates

WORKER_MODES = ("all", "control", "gpu")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class SettingsError(ValueError):
    """A variable whose value cannot work; the message names it and what it accepts."""

    def __init__(self, variable: str, message: str) -> None:
        super().__init__(f"{variable}: {message}")
        self.variable = variable


def _empty_is_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


Optional = Annotated[str | None, BeforeValidator(_empty_is_none)]
"""An optional text variable: unset and empty both mean None."""


def uri_list(value: str) -> tuple[str, ...]:
    return tuple(part.strip().rstrip("/") for part in value.split(",") if part.strip())


def parse_channel_engines(value: str) -> dict[str, str]:
    """'kids=polly,news=google' → {'kids': 'polly', 'news': 'google'}; a bad entry names itself."""
    engines = {}
    for entry in filter(None, (part.strip() for part in value.split(","))):
        channel, _, engine = (part.strip() for part in entry.partition("="))
        if not channel or engine not in TTS_ENGINES:
            raise ValueError(f"RENDER_TTS_CHANNELS: {entry!r} is not CHANNEL=ENGINE ({', '.join(TTS_ENGINES)})")
        engines[channel] = engine
    return engines


_SOURCE: ContextVar[Mapping[str, str]] = ContextVar("settings_source", default=os.environ)


class _Mapping(PydanticBaseSettingsSource):
    """Variables from the mapping `load` was given: `<env_prefix><FIELD>`, exact names, nothing else."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        variable = self.settings_cls.variable(field_name)  # type: ignore[attr-defined]
        return _SOURCE.get().get(variable), variable, False

    def __call__(self) -> dict[str, Any]:
        values = {}
        for name, field in self.settings_cls.model_fields.items():
            value, _, _ = self.get_field_value(field, name)
            if value is not None:
                values[name] = value
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
        return (str(cls.model_config.get("env_prefix", "")) + field_name).upper()


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
        name = str(first["loc"][0]) if first["loc"] else ""
        variable = model.variable(name)
        field = model.model_fields.get(name)
        expected = expectation(field) if field is not None else None
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
    api_key: Optional = None
    """API key (Temporal Cloud); turns TLS on unless TEMPORAL_TLS says otherwise."""
    tls: Annotated[bool | None, BeforeValidator(_empty_is_none)] = None
    """TLS to the frontend; unset: on with an API key, else off."""
    ui_url: str = "http://localhost:8233"
    """Base of the Web UI links printed; its port is the dev server's UI port."""


class RenderEnv(EnvModel):
    """What activities need: storage roots, encoder, fonts, timeouts, prices (RENDER_*)."""

    model_config = SettingsConfigDict(env_prefix="RENDER_")

    data_dir: str = "var"
    """Base of the default roots below, the demo's dev server state and its log."""
    work_uri: Optional = None
    """Intermediates; must be shared by all workers (`s3://bucket/prefix` in a cluster). Unset: `file://<data>/work`."""
    output_roots: Optional = None
    """Comma-separated roots finished videos may be written under. Unset: `file://<data>/output`."""
    asset_roots: Optional = None
    """Comma-separated roots assets may be read from. Unset: `file://<data>/assets`."""
    scratch_dir: Optional = None
    """Local working space, cleaned after each activity. Unset: `<data>/scratch`."""
    encoder: Literal["auto", "h264_nvenc", "libx264"] = "auto"
    """The video encoder: `auto` uses NVENC when a probe encode works, else libx264."""
    ffmpeg_threads: Annotated[int, Field(ge=0)] = 0
    """Encoder threads per render (0: ffmpeg decides)."""
    font: str = str(DEJAVU / "DejaVuSans.ttf")
    """Primary face for text (a file or an installed family); the installed Noto faces follow in the font chain.
    Control workers read it too: validation lays text out."""
    font_bold: str = str(DEJAVU / "DejaVuSans-Bold.ttf")
    """Primary bold face, as RENDER_FONT."""
    tts: Literal["auto", "espeak", "none", "polly", "google"] = "auto"
    """This render worker's speech engine: `auto` (espeak-ng if installed, else silence), `espeak`, `polly`, `google`,
    `none`."""
    tts_channels: str = ""
    """Engines by channel, `kids=polly,news=google`; a job's `tts_engine` comes first."""
    tts_timeout_seconds: Annotated[float, Field(gt=0)] = 20.0
    """Seconds per request to a cloud speech engine."""
    tts_attempts: Annotated[int, Field(ge=1, le=10)] = 3
    """Requests to a cloud speech engine before the clip fails (retryable)."""
    polly_endpoint_url: Optional = None
    """A Polly endpoint override (tests, VPC endpoints)."""
    polly_region: Optional = None
    """Polly's region; unset: the AWS config's."""
    polly_engine: Literal["neural", "standard", "generative", "long-form"] = "neural"
    """Polly's engine; the voice must offer it."""
    google_tts_url: str = "https://texttospeech.googleapis.com"
    """Google Cloud TTS endpoint (an override for tests or a regional endpoint)."""
    google_tts_api_key: Optional = Field(None, repr=False)
    """Google Cloud TTS API key, sent as the `X-Goog-Api-Key` header; never logged."""
    google_tts_token: Optional = Field(None, repr=False)
    """Google Cloud TTS OAuth bearer token (instead of an API key); never logged."""
    s3_endpoint_url: Optional = None
    """S3-compatible endpoint (MinIO, IBM COS, GCS interop); credentials from boto3's usual chain (`AWS_ACCESS_KEY_ID`,
    …)."""
    s3_region: Optional = None
    """The S3 region; unset: boto3's."""
    segment_seconds: Annotated[float, Field(gt=0)] = 2.0
    """Checkpoint granularity of a clip render (rounded to whole 2 s GOPs); at most this much video is rendered again
    after a worker loss."""
    heartbeat_seconds: Annotated[float, Field(gt=0)] = 30.0
    """Heartbeat timeout of renders, joins, uploads and clean-ups, read by control workers: how soon a silent worker's
    work is retried elsewhere (every activity heartbeats every 2 s)."""
    rates: str = ""
    """Prices, `t4=0.35,l4=0.70,gpu=0.35,cpu=0.04` (USD per hour), over the defaults in `contracts/gpus.py`."""
    webhook_secret: str = ""
    """HMAC key for webhook signatures; control workers refuse to start without it while webhooks are on."""
    queue_wait_seconds: Annotated[float, Field(gt=0)] = 1800.0
    """How long a clip render may wait for a worker to pick it up before the video fails, naming the queue."""
    work_max_age_hours: Annotated[float, Field(ge=0)] = 168.0
    """Intermediates older than this are removed by the control workers' sweep."""
    sweep_interval_seconds: Annotated[float, Field(ge=0)] = 3600.0
    """How often a control worker sweeps the work store (0: off)."""
    clip_cache_gb: Annotated[float, Field(ge=0)] = 10.0
    """Bound on the clips kept in the work store for reuse across videos; 0 turns the cache off."""
    kept_gb: Annotated[float, Field(ge=0)] = 50.0
    """Bound on what videos no longer running (failed, terminated) keep in the work store, all channels together;
    the oldest go first at each sweep. 0 keeps none."""
    kept_channel_gb: str = "*=10"
    """The same bound per channel: 'news=20,*=5' ('*': every channel not named; unset: the overall bound only)."""
    disk_min_free_mb: Annotated[float, Field(ge=0)] = 1024.0
    """A worker stops taking work while its scratch disk (or a file:// work store) has less free than this; 0: never."""
    disk_check_seconds: Annotated[float, Field(gt=0)] = 5.0
    """How often a worker measures its disks' free space."""
    scratch_limit_gb: Annotated[float, Field(ge=0)] = 0.0
    """The scratch directory's own size limit (a Kubernetes emptyDir's sizeLimit); 0: the filesystem's."""

    @field_validator("kept_channel_gb")
    @classmethod
    def _kept_channels(cls, value: str) -> str:
        parse_channel_map(value, "RENDER_KEPT_CHANNEL_GB")
        return value

    channel_weights: str = ""
    """Fairness weight by channel, `news=4,kids=0.5,*=1` (`*`: every channel not named), read by control workers: a
    channel's share of render workers while several wait. Empty: all 1."""
    channel_themes: str = ""
    """Each channel's default theme: 'news=studio,*=midnight'; unset channels get the built-in default."""

    @field_validator("channel_themes")
    @classmethod
    def _themes(cls, value: str) -> str:
        parse_channel_themes(value)
        return value

    @field_validator("channel_weights")
    @classmethod
    def _weights(cls, value: str) -> str:
        parse_channel_map(value, "RENDER_CHANNEL_WEIGHTS")
        return value

    job_gigapixels: Annotated[float, Field(gt=0)] = 1000.0
    """Per-job budget: frames x width x height, in units of 10^9."""
    clip_render_seconds: Annotated[float, Field(gt=0)] = 3600.0
    """A clip's render time at the slowest expected rate."""
    image_megapixels: Annotated[float, Field(gt=0)] = 36.0
    """Image assets' width x height, read from the header."""
    job_render_seconds: Annotated[float, Field(gt=0)] = 86400.0
    """A whole job's render time at the slowest expected rate."""
    asset_megabytes: Annotated[float, Field(gt=0)] = 2048.0
    """An asset file's size, read from the store before it is fetched."""
    webhooks: bool = True
    """Whether control workers deliver webhooks; while on, RENDER_WEBHOOK_SECRET must be set."""
    webhook_hosts: str = ""
    """Comma-separated host names webhooks may be sent to; empty allows any public host."""
    webhook_allow_loopback: bool = False
    """Let webhooks reach loopback addresses: for a receiver on the same machine in development only."""

    @field_validator("rates")
    @classmethod
    def _rates(cls, value: str) -> str:
        parse_rates(value)
        return value

    @field_validator("tts_channels")
    @classmethod
    def _tts_channels(cls, value: str) -> str:
        parse_channel_engines(value)
        return value

    def budget(self) -> Budget:
        """What one job may cost (RENDER_JOB_GIGAPIXELS, RENDER_CLIP_RENDER_SECONDS, RENDER_IMAGE_MEGAPIXELS,
        RENDER_JOB_RENDER_SECONDS, RENDER_ASSET_MEGABYTES)."""
        return Budget(
            self.job_gigapixels,
            self.clip_render_seconds,
            self.image_megapixels,
            self.job_render_seconds,
            self.asset_megabytes,
        )

    def settings_fields(self) -> dict[str, Any]:
        """Keyword arguments of `engine.settings.Settings` (`render_settings` builds it)."""
        data = Path(self.data_dir).resolve()
        return {
            "work_uri": (self.work_uri or file_uri(data / "work")).rstrip("/"),
            "output_roots": uri_list(self.output_roots or file_uri(data / "output")),
            "asset_roots": uri_list(self.asset_roots or file_uri(data / "assets")),
            "scratch_dir": Path(self.scratch_dir or data / "scratch").resolve(),
            "encoder": self.encoder,
            "ffmpeg_threads": self.ffmpeg_threads,
            "font": Path(self.font),
            "font_bold": Path(self.font_bold),
            "tts": self.tts,
            "tts_channels": parse_channel_engines(self.tts_channels),
            "tts_timeout_seconds": self.tts_timeout_seconds,
            "tts_attempts": self.tts_attempts,
            "polly_endpoint_url": self.polly_endpoint_url,
            "polly_region": self.polly_region,
            "polly_engine": self.polly_engine,
            "google_tts_url": self.google_tts_url.rstrip("/"),
            "google_tts_api_key": self.google_tts_api_key,
            "google_tts_token": self.google_tts_token,
            "s3_endpoint_url": self.s3_endpoint_url,
            "s3_region": self.s3_region,
            "segment_seconds": self.segment_seconds,
            "heartbeat_seconds": self.heartbeat_seconds,
            "usd_per_hour": default_rates() | parse_rates(self.rates),
            "webhook_secret": self.webhook_secret,
            "queue_wait_seconds": self.queue_wait_seconds,
            "work_max_age_seconds": self.work_max_age_hours * 3600,
            "sweep_interval_seconds": self.sweep_interval_seconds,
            "clip_cache_bytes": int(self.clip_cache_gb * (1 << 30)),
            "kept_bytes": int(self.kept_gb * (1 << 30)),
            "kept_channel_bytes": {
                channel: int(gb * (1 << 30))
                for channel, gb in parse_channel_map(self.kept_channel_gb, "RENDER_KEPT_CHANNEL_GB").items()
            },
            "disk_min_free_bytes": int(self.disk_min_free_mb * (1 << 20)),
            "disk_check_seconds": self.disk_check_seconds,
            "scratch_limit_bytes": int(self.scratch_limit_gb * (1 << 30)),
            "channel_weights": parse_channel_map(self.channel_weights, "RENDER_CHANNEL_WEIGHTS"),
            "budget": self.budget(),
            "webhooks": self.webhooks,
            "webhook_hosts": tuple(h.strip().lower() for h in self.webhook_hosts.split(",") if h.strip()),
            "webhook_allow_loopback": self.webhook_allow_loopback,
        }


class WorkerEnv(EnvModel):
    """How `render-worker` runs: mode, slots, drain, GPU class, health server (RENDER_*)."""

    model_config = SettingsConfigDict(env_prefix="RENDER_")

    worker_mode: Literal["all", "control", "gpu"] = "all"
    """`all`, `control` (workflow, check, concat, upload) or `gpu` (clip renders)."""
    slots: Annotated[int, Field(ge=0)] = 0
    """Concurrent clip renders; 0 = 3 per NVENC GPU, else one per CPU core."""
    control_slots: Annotated[int, Field(ge=1)] = 8
    """Concurrent control activities."""
    drain_seconds: Annotated[float, Field(ge=0)] = 60.0
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
    return Settings(**load(RenderEnv, env).settings_fields())
