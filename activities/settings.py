"""Worker-side configuration, read from the environment once per process."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from contracts.gpus import CPU_USD_PER_CORE_HOUR, GPU_CLASSES

DEJAVU = Path("/usr/share/fonts/truetype/dejavu")


def _uri_list(value: str) -> tuple[str, ...]:
    return tuple(part.strip().rstrip("/") for part in value.split(",") if part.strip())


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


def file_uri(path: Path | str) -> str:
    return "file://" + str(Path(path).resolve())


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
    """auto (espeak-ng when installed, else silence), espeak or none."""
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

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        data = Path(env.get("RENDER_DATA_DIR", "var")).resolve()
        return cls(
            work_uri=env.get("RENDER_WORK_URI", file_uri(data / "work")).rstrip("/"),
            output_roots=_uri_list(env.get("RENDER_OUTPUT_ROOTS", file_uri(data / "output"))),
            asset_roots=_uri_list(env.get("RENDER_ASSET_ROOTS", file_uri(data / "assets"))),
            scratch_dir=Path(env.get("RENDER_SCRATCH_DIR", str(data / "scratch"))).resolve(),
            encoder=env.get("RENDER_ENCODER", "auto"),
            ffmpeg_threads=int(env.get("RENDER_FFMPEG_THREADS", "0")),
            font=Path(env.get("RENDER_FONT", str(DEJAVU / "DejaVuSans.ttf"))),
            font_bold=Path(env.get("RENDER_FONT_BOLD", str(DEJAVU / "DejaVuSans-Bold.ttf"))),
            tts=env.get("RENDER_TTS", "auto"),
            s3_endpoint_url=env.get("RENDER_S3_ENDPOINT_URL") or None,
            s3_region=env.get("RENDER_S3_REGION") or None,
            segment_seconds=float(env.get("RENDER_SEGMENT_SECONDS", "2")),
            heartbeat_seconds=float(env.get("RENDER_HEARTBEAT_SECONDS", "30")),
            usd_per_hour=default_rates() | parse_rates(env.get("RENDER_RATES", "")),
            webhook_secret=env.get("RENDER_WEBHOOK_SECRET", ""),
            queue_wait_seconds=float(env.get("RENDER_QUEUE_WAIT_SECONDS", "1800")),
            work_max_age_seconds=float(env.get("RENDER_WORK_MAX_AGE_HOURS", "168")) * 3600,
            sweep_interval_seconds=float(env.get("RENDER_SWEEP_INTERVAL_SECONDS", "3600")),
        )

    def work_uri_for(self, key: str) -> str:
        return f"{self.work_uri}/{key}"
