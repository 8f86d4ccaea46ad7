"""Worker-side configuration: what the engine is given, each setting declared once with its default.

`Settings` is a frozen pydantic model made of one section per concern: `storage`, `speech` (with each speech
engine's own section), `limits`, `render` and `webhooks`. Every field is also an environment variable:
`runtime.settings.RenderEnv` reads RENDER_* into this very model (`render_settings`), naming each variable
`RENDER_` + the section's `env_prefix` + the field's name, or the name an `Env` marker gives. A field's
docstring is its description in docs/configuration.md.

Values keep the form their variable is written in (gigabytes, hours, channel maps as mappings); what the
engine wants in other units is a property (`limits.kept_bytes`, `limits.work_max_age_seconds`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator

from contracts.budget import Budget
from contracts.gpus import CPU_USD_PER_CORE_HOUR, GPU_CLASSES
from contracts.tenancy import parse_channel_map
from contracts.themes import parse_channel_themes
from contracts.voices import TTS_ENGINES

DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
GB = 1 << 30
MB = 1 << 20
DAY = 86400
"""Bound of the timeouts handed to Temporal: far longer ones overflow a timedelta or the server's durations."""


def file_uri(path: Path | str) -> str:
    return "file://" + str(Path(path).resolve())


def default_rates() -> dict[str, float]:
    return {name: c.usd_per_hour for name, c in GPU_CLASSES.items()} | {
        "gpu": GPU_CLASSES["t4"].usd_per_hour,
        "cpu": CPU_USD_PER_CORE_HOUR,
    }


def parse_rates(value: str) -> dict[str, float]:
    """'t4=0.35,cpu=0.04' → {'t4': 0.35, 'cpu': 0.04}; a bad entry names itself."""
    rates = {}
    known = default_rates()
    for entry in filter(None, (part.strip() for part in value.split(","))):
        name, _, price = (part.strip() for part in entry.partition("="))
        try:
            rate = float(price)
        except ValueError:
            raise ValueError(f"RENDER_RATES: {entry!r} is not NAME=USD_PER_HOUR") from None
        # A misspelt class would be ignored, and a negative price would make a render look like income.
        if name not in known:
            raise ValueError(f"RENDER_RATES: {entry!r} names no rate (known: {', '.join(sorted(known))})")
        if not 0 <= rate < float("inf"):
            raise ValueError(f"RENDER_RATES: {entry!r} is not a price ≥ 0 USD per hour")
        rates[name] = rate
    return rates


def parse_channel_engines(value: str) -> dict[str, str]:
    """'kids=polly,news=google' → {'kids': 'polly', 'news': 'google'}; a bad entry names itself."""
    engines = {}
    for entry in filter(None, (part.strip() for part in value.split(","))):
        channel, _, engine = (part.strip() for part in entry.partition("="))
        if not channel or engine not in TTS_ENGINES:
            raise ValueError(f"RENDER_TTS_CHANNELS: {entry!r} is not CHANNEL=ENGINE ({', '.join(TTS_ENGINES)})")
        engines[channel] = engine
    return engines


def uri_list(value: str | Sequence[str]) -> tuple[str, ...]:
    """'file:///a/, s3://b' (a variable) or a sequence (code) → ('file:///a', 's3://b')."""
    parts = value.split(",") if isinstance(value, str) else value
    return tuple(part.strip().rstrip("/") for part in parts if part.strip())


def empty_is_none(value: Any) -> Any:
    """An empty variable counts as unset."""
    return None if isinstance(value, str) and not value.strip() else value


def _parsed(parse: Callable[[str], Any]) -> BeforeValidator:
    """Text (a variable's value) goes through `parse`; anything else (code) is taken as it is."""
    return BeforeValidator(lambda value: parse(value) if isinstance(value, str) else value)


def _stored(uri: str) -> str:
    """A storage root the workers can reach: anything else failed every clip later, naming no variable."""
    if not uri.startswith(("file:///", "s3://")):
        raise ValueError(f"must be file:///absolute/path or s3://bucket/prefix, got {uri[:200]!r}")
    return uri


def _no_trailing_slash(url: str) -> str:
    return url.rstrip("/")


def _checked_themes(value: str) -> str:
    parse_channel_themes(value)
    return value


Optional = Annotated[str | None, BeforeValidator(empty_is_none)]
"""An optional text variable: unset and empty both mean None."""


def _credential(value: str | None) -> str | None:
    # Sent as a header: a stray newline (a secret file's last line) fails the request with an error quoting it.
    if value is not None and not re.fullmatch(r"[\x21-\x7e]+", value):
        raise ValueError("must be printable ASCII without spaces or line breaks (the value is not shown)")
    return value


Credential = Annotated[str | None, BeforeValidator(empty_is_none), AfterValidator(_credential)]
"""An optional key or token sent as a request header; checked without ever being quoted."""


@dataclass(frozen=True)
class Env:
    """A field's variable name (less RENDER_) where it is not the section's prefix and the field's name."""

    name: str


def derived() -> Any:
    """The default of a field a validator fills from others (unset: derived from RENDER_DATA_DIR)."""
    return Field(None, validate_default=True)


class Section(BaseModel):
    """A group of settings; its fields are variables named `env_prefix` + field name (or an `Env` marker's)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, use_attribute_docstrings=True)
    """No number is infinite or NaN: an endless budget overflows what it is compared against."""
    env_prefix: ClassVar[str] = ""

    @classmethod
    def env_name(cls, name: str) -> str:
        """The field's variable without the RENDER_ prefix, in lower case."""
        given = next((meta.name for meta in cls.model_fields[name].metadata if isinstance(meta, Env)), None)
        return given or cls.env_prefix + name

    def replace(self, **changes: Any) -> Self:
        """A copy with `changes`, validated; a section's change may be a mapping of its own changes
        (`settings.replace(speech={"polly": {"region": "eu-west-1"}})`). Storage roots derived from `data_dir`
        stay as they were derived: change them by name."""
        values = dict(self)
        for name, change in changes.items():
            current = values.get(name)
            values[name] = (
                current.replace(**change) if isinstance(current, Section) and isinstance(change, Mapping) else change
            )
        return type(self).model_validate(values)


class S3Settings(Section):
    """The S3 client's endpoint and region, for `s3://` roots."""

    env_prefix = "s3_"

    endpoint_url: Optional = None
    """S3-compatible endpoint (MinIO, IBM COS, GCS interop); credentials from boto3's usual chain (`AWS_ACCESS_KEY_ID`,
    …)."""
    region: Optional = None
    """The S3 region; unset: boto3's."""


class StorageSettings(Section):
    """Where intermediates, videos, assets and scratch files live."""

    data_dir: str = "var"
    """Base of the default roots below, the demo's dev server state and its log."""
    work_uri: str = derived()
    """Intermediates; must be shared by all workers (`s3://bucket/prefix` in a cluster). Unset: `file://<data>/work`."""
    output_roots: tuple[str, ...] = derived()
    """Comma-separated roots finished videos may be written under (at least one); the first is the default
    destination. Unset: `file://<data>/output`."""
    asset_roots: tuple[str, ...] = derived()
    """Comma-separated roots assets may be read from. Unset: `file://<data>/assets`."""
    scratch_dir: Path = derived()
    """Local working space, cleaned after each activity. Unset: `<data>/scratch`."""
    s3: S3Settings = Field(default_factory=S3Settings)

    @field_validator("work_uri", mode="before")
    @classmethod
    def _work_uri(cls, value: Any, info: ValidationInfo) -> Any:
        value = empty_is_none(value) or file_uri(cls._data(info) / "work")
        return _stored(value.rstrip("/")) if isinstance(value, str) else value

    @field_validator("output_roots", "asset_roots", mode="before")
    @classmethod
    def _roots(cls, value: Any, info: ValidationInfo) -> Any:
        value = empty_is_none(value)
        if value is None:
            value = file_uri(cls._data(info) / ("output" if info.field_name == "output_roots" else "assets"))
        roots = tuple(_stored(root) for root in uri_list(value)) if isinstance(value, (str, list, tuple)) else value
        if info.field_name == "output_roots" and roots == ():
            # The first root is where a job without an output goes: none leaves every job nowhere to go.
            raise ValueError(f"must name at least one root, got {value!r}")
        return roots

    @field_validator("scratch_dir", mode="before")
    @classmethod
    def _scratch(cls, value: Any, info: ValidationInfo) -> Any:
        value = empty_is_none(value)
        if isinstance(value, Path):
            return value
        return Path(value or cls._data(info) / "scratch").resolve()

    @staticmethod
    def _data(info: ValidationInfo) -> Path:
        return Path(info.data.get("data_dir", "var")).resolve()


class PollySettings(Section):
    """Amazon Polly (engine.voices.polly)."""

    env_prefix = "polly_"

    endpoint_url: Optional = None
    """A Polly endpoint override (tests, VPC endpoints)."""
    region: Optional = None
    """Polly's region; unset: the AWS config's."""
    engine: Literal["neural", "standard", "generative", "long-form"] = "neural"
    """Polly's engine; the voice must offer it."""


class GoogleSettings(Section):
    """Google Cloud Text-to-Speech (engine.voices.google)."""

    env_prefix = "google_tts_"

    url: Annotated[str, AfterValidator(_no_trailing_slash)] = "https://texttospeech.googleapis.com"
    """Google Cloud TTS endpoint (an override for tests or a regional endpoint)."""
    api_key: Credential = Field(default=None, repr=False)
    """Google Cloud TTS API key, sent as the `X-Goog-Api-Key` header; never logged."""
    token: Credential = Field(default=None, repr=False)
    """Google Cloud TTS OAuth bearer token (instead of an API key); never logged."""


class EspeakSettings(Section):
    """espeak-ng on the worker (engine.voices.espeak): nothing to set; its voices come with the package."""


class SpeechSettings(Section):
    """Which speech engine speaks a clip, how cloud engines are asked, and each engine's own section."""

    env_prefix = "tts_"

    engine: Annotated[Literal["auto", "espeak", "none", "polly", "google"], Env("tts")] = "auto"
    """This render worker's speech engine: `auto` (espeak-ng if installed, else silence), `espeak`, `polly`, `google`,
    `none`."""
    channels: Annotated[dict[str, str], _parsed(parse_channel_engines)] = Field(default_factory=dict)
    """Engines by channel, `kids=polly,news=google`; a job's `tts_engine` comes first."""
    timeout_seconds: Annotated[float, Field(gt=0)] = 20.0
    """Seconds per request to a cloud speech engine."""
    attempts: Annotated[int, Field(ge=1, le=10)] = 3
    """Requests to a cloud speech engine before the clip fails (retryable)."""
    polly: PollySettings = Field(default_factory=PollySettings)
    google: GoogleSettings = Field(default_factory=GoogleSettings)
    espeak: EspeakSettings = Field(default_factory=EspeakSettings)


class LimitSettings(Section):
    """What one job may cost, and what the work store and the disks may hold."""

    job_gigapixels: Annotated[float, Field(gt=0)] = Budget.job_gigapixels
    """Per-job budget: frames x width x height, in units of 10^9."""
    clip_render_seconds: Annotated[float, Field(gt=0)] = Budget.clip_render_seconds
    """A clip's render time at the slowest expected rate."""
    image_megapixels: Annotated[float, Field(gt=0)] = Budget.image_megapixels
    """Image assets' width x height, read from the header."""
    job_render_seconds: Annotated[float, Field(gt=0)] = Budget.job_render_seconds
    """A whole job's render time at the slowest expected rate."""
    asset_megabytes: Annotated[float, Field(gt=0)] = Budget.asset_megabytes
    """An asset file's size, read from the store before it is fetched."""
    work_max_age_hours: Annotated[float, Field(ge=0)] = 168.0
    """Intermediates older than this are removed by the control workers' sweep."""
    sweep_interval_seconds: Annotated[float, Field(ge=0)] = 3600.0
    """How often a control worker sweeps the work store (0: off)."""
    clip_cache_gb: Annotated[float, Field(ge=0)] = 10.0
    """Bound on the clips kept in the work store for reuse across videos; 0 turns the cache off."""
    kept_gb: Annotated[float, Field(ge=0)] = 50.0
    """Bound on what videos no longer running (failed, terminated) keep in the work store, all channels together;
    the oldest go first at each sweep. 0 keeps none."""
    kept_channel_gb: Annotated[
        dict[str, float], _parsed(lambda value: parse_channel_map(value, "RENDER_KEPT_CHANNEL_GB"))
    ] = Field(default_factory=lambda: {"*": 10.0})
    """The same bound per channel: 'news=20,*=5' ('*': every channel not named; unset: the overall bound only)."""
    disk_min_free_mb: Annotated[float, Field(ge=0)] = 1024.0
    """A worker stops taking work while its scratch disk (or a file:// work store) has less free than this; 0: never."""
    disk_check_seconds: Annotated[float, Field(gt=0)] = 5.0
    """How often a worker measures its disks' free space."""
    scratch_limit_gb: Annotated[float, Field(ge=0)] = 0.0
    """The scratch directory's own size limit (a Kubernetes emptyDir's sizeLimit); 0: the filesystem's."""

    @property
    def budget(self) -> Budget:
        """What one job may cost: frames x pixels, render time per clip and per job, pixels per image, asset size."""
        return Budget(
            self.job_gigapixels,
            self.clip_render_seconds,
            self.image_megapixels,
            self.job_render_seconds,
            self.asset_megabytes,
        )

    @property
    def work_max_age_seconds(self) -> float:
        return self.work_max_age_hours * 3600

    @property
    def clip_cache_bytes(self) -> int:
        return int(self.clip_cache_gb * GB)

    @property
    def kept_bytes(self) -> int:
        return int(self.kept_gb * GB)

    @property
    def kept_channel_bytes(self) -> dict[str, int]:
        return {channel: int(gb * GB) for channel, gb in self.kept_channel_gb.items()}

    @property
    def disk_min_free_bytes(self) -> int:
        return int(self.disk_min_free_mb * MB)

    @property
    def scratch_limit_bytes(self) -> int:
        """The scratch directory's own budget: its free space is then at most this less what it holds; 0: none."""
        return int(self.scratch_limit_gb * GB)


class RenderSettings(Section):
    """How clips are rendered, timed and priced, and how control workers share render workers among channels."""

    encoder: Literal["auto", "h264_nvenc", "libx264"] = "auto"
    """The video encoder: `auto` uses NVENC when a probe encode works, else libx264."""
    ffmpeg_threads: Annotated[int, Field(ge=0)] = 0
    """Encoder threads per render (0: ffmpeg decides)."""
    font: Path = DEJAVU / "DejaVuSans.ttf"
    """Primary face for text (a file or an installed family; one that is not there is refused at start); the
    installed Noto faces follow in the font chain. Control workers read it too: validation lays text out."""
    font_bold: Path = DEJAVU / "DejaVuSans-Bold.ttf"
    """Primary bold face, as RENDER_FONT."""
    segment_seconds: Annotated[float, Field(gt=0)] = 2.0
    """Checkpoint granularity of a clip render (rounded to whole 2 s GOPs); at most this much video is rendered again
    after a worker loss."""
    heartbeat_seconds: Annotated[float, Field(gt=0, le=DAY)] = 30.0
    """Heartbeat timeout of renders, joins, uploads and clean-ups, read by control workers: how soon a silent worker's
    work is retried elsewhere (every activity heartbeats every 2 s)."""
    queue_wait_seconds: Annotated[float, Field(gt=0, le=30 * DAY)] = 1800.0
    """How long a clip render may wait for a worker to pick it up before the video fails, naming the queue."""
    rates: Annotated[dict[str, float], _parsed(parse_rates)] = Field(default_factory=dict)
    """Prices, `t4=0.35,l4=0.70,gpu=0.35,cpu=0.04` (USD per hour, ≥ 0), over the defaults in `contracts/gpus.py`;
    a name that is not a GPU class, `gpu` or `cpu` is refused."""
    channel_weights: Annotated[
        dict[str, float], _parsed(lambda value: parse_channel_map(value, "RENDER_CHANNEL_WEIGHTS"))
    ] = Field(default_factory=dict)
    """Fairness weight by channel, `news=4,kids=0.5,*=1` (`*`: every channel not named), read by control workers: a
    channel's share of render workers while several wait. Empty: all 1."""
    channel_themes: Annotated[str, AfterValidator(_checked_themes)] = ""
    """Each channel's default theme: 'news=studio,*=midnight'; unset channels get the built-in default."""

    @property
    def usd_per_hour(self) -> dict[str, float]:
        """Prices by GPU class, 'gpu' (renders on the unclassed queue) and 'cpu' (per core): RENDER_RATES over the
        defaults."""
        return default_rates() | self.rates


class WebhookSettings(Section):
    """Completion webhooks, delivered by control workers."""

    env_prefix = "webhook_"

    enabled: Annotated[bool, Env("webhooks")] = True
    """Whether control workers deliver webhooks; while on, RENDER_WEBHOOK_SECRET must be set."""
    secret: str = ""
    """HMAC key for webhook signatures; control workers refuse to start without it while webhooks are on."""
    hosts: Annotated[
        tuple[str, ...], _parsed(lambda value: tuple(h.strip().lower() for h in value.split(",") if h.strip()))
    ] = ()
    """Comma-separated host names webhooks may be sent to; empty allows any public host."""
    allow_loopback: bool = False
    """Let webhooks reach loopback addresses: for a receiver on the same machine in development only."""


class Settings(Section):
    """What activities need: storage roots, speech engines, limits, encoder, fonts, timeouts, prices, webhooks."""

    storage: StorageSettings = Field(default_factory=StorageSettings)
    speech: SpeechSettings = Field(default_factory=SpeechSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    render: RenderSettings = Field(default_factory=RenderSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)

    def work_uri_for(self, key: str) -> str:
        return f"{self.storage.work_uri}/{key}"
