"""Worker-side configuration: what the engine is given.

`runtime.settings.render_settings` builds it from the environment (RENDER_*).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from contracts.budget import Budget
from contracts.gpus import CPU_USD_PER_CORE_HOUR, GPU_CLASSES

DEJAVU = Path("/usr/share/fonts/truetype/dejavu")


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
    for entry in filter(None, (part.strip() for part in value.split(","))):
        name, _, price = entry.partition("=")
        try:
            rates[name.strip()] = float(price)
        except ValueError:
            raise ValueError(f"RENDER_RATES: {entry!r} is not NAME=USD_PER_HOUR") from None
    return rates


@dataclass(frozen=True)
class Settings:
    work_uri: str
    """Root for intermediates (clips, the joined video). Must be shared by all workers."""
    output_roots: tuple[str, ...]
    """Where finished videos may be written; the first is the default destination."""
    asset_roots: tuple[str, ...]
    """Where jobs may read images and audio from."""
    scratch_dir: Path
    encoder: str = "auto"
    """auto (NVENC when a probe encode works, else libx264), h264_nvenc or libx264."""
    ffmpeg_threads: int = 0
    """Encoder threads per render; 0 lets ffmpeg decide."""
    font: Path = DEJAVU / "DejaVuSans.ttf"
    font_bold: Path = DEJAVU / "DejaVuSans-Bold.ttf"
    tts: str = "auto"
    """This worker's speech engine: auto (espeak-ng when installed, else silence), espeak, polly, google or none."""
    tts_channels: dict[str, str] = field(default_factory=dict)
    """A channel's engine, over `tts`; a job's `tts_engine` comes first."""
    tts_timeout_seconds: float = 20.0
    """Per request to a cloud speech engine."""
    tts_attempts: int = 3
    """Requests to a cloud speech engine before the render fails (retryable) for this attempt."""
    polly_endpoint_url: str | None = None
    polly_region: str | None = None
    """None: the AWS config's region (AWS_REGION, ~/.aws/config)."""
    polly_engine: str = "neural"
    google_tts_url: str = "https://texttospeech.googleapis.com"
    google_tts_api_key: str | None = field(default=None, repr=False)
    google_tts_token: str | None = field(default=None, repr=False)
    """A bearer token (OAuth access token) when no API key is set."""
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    segment_seconds: float = 2.0
    """Checkpoint granularity of a clip render: at most this much work is redone after a worker loss."""
    heartbeat_seconds: float = 30.0
    """Render heartbeat timeout: how soon a silent (dead, preempted) worker's clip is retried elsewhere."""
    usd_per_hour: dict[str, float] = field(default_factory=lambda: default_rates())
    """Prices by GPU class, 'gpu' (renders on the unclassed queue) and 'cpu' (per core)."""
    webhook_secret: str = ""
    """Key for the HMAC-SHA256 signature of completion webhooks."""
    queue_wait_seconds: float = 1800.0
    """How long a clip render may wait for a worker to pick it up before the video fails, naming the queue."""
    work_max_age_seconds: float = 7 * 86400.0
    """Intermediates older than this are removed by the control workers' periodic sweep."""
    sweep_interval_seconds: float = 3600.0
    """How often a control worker sweeps the work store; 0 turns the sweep off."""
    clip_cache_bytes: int = 10 << 30
    """Bound on the clips kept for reuse across videos (least recently used go first); 0 turns the cache off."""
    kept_bytes: int = 50 << 30
    """Bound on the intermediates of videos no longer running (a failed video keeps them for a resubmit), all
    channels together; the sweep removes the oldest first. 0 keeps none."""
    kept_channel_bytes: dict[str, int] = field(default_factory=lambda: {"*": 10 << 30})
    """The same bound per channel ('*' for every channel not named; empty: the overall bound only)."""
    disk_min_free_bytes: int = 1 << 30
    """A worker takes no work while its scratch disk, or a file:// work store, has less free than this; 0: never."""
    disk_check_seconds: float = 5.0
    """How often a worker measures that free space."""
    scratch_limit_bytes: int = 0
    """The scratch directory's own budget (a Kubernetes emptyDir's sizeLimit): its free space is then at most
    this less what it holds; 0: the filesystem's free space alone."""
    channel_weights: dict[str, float] = field(default_factory=dict)
    """Fairness weight by channel ('*' for the rest; 1 when unset): a channel's share of render workers."""
    budget: Budget = field(default_factory=Budget)
    """What one job may cost: frames x pixels, render time per clip, pixels per image."""
    webhooks: bool = True
    """Whether webhooks are delivered; while they are, a control worker needs `webhook_secret`."""
    webhook_hosts: tuple[str, ...] = ()
    """Hosts webhooks may be sent to; empty: any host with a public address."""
    webhook_allow_loopback: bool = False
    """Development only: let webhooks reach a receiver on loopback."""

    def work_uri_for(self, key: str) -> str:
        return f"{self.work_uri}/{key}"
