"""What workers count and time, exported on /metrics beside the SDK's own metrics.

Two kinds: per-process metrics (prometheus_client, below) and per-video metrics that a
workflow interceptor records through the SDK's replay-safe `workflow.metric_meter()`
(`VIDEO_METRICS`): the SDK serves those on its own port, which /metrics relays, so a
replayed history never counts a video twice. docs/operations-dashboards.md lists them all.

Also the registry of clips in flight, which /status reports.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import Counter, Gauge, Histogram

CLIPS = Counter("render_clips", "Clip renders by outcome", ["outcome"])
"""outcome: rendered, reused (already stored), failed."""
ENCODE_FPS = Histogram(
    "render_encode_fps", "Frames encoded per second of a clip render", buckets=(5, 15, 30, 60, 120, 240, 480, 960)
)
CLIP_SECONDS = Histogram(
    "render_clip_seconds", "Wall time of a clip render", buckets=(1, 2, 5, 10, 20, 40, 80, 160, 320, 640, 1280)
)
RESUMES = Counter("render_resumes", "Clip renders that resumed from stored segments")
DAMAGED = Counter(
    "render_damaged_files", "Stored files whose bytes did not match their content record, removed and made again",
    ["kind"],
)  # fmt: skip
"""kind: clip (a finished clip intermediate), cache_entry (a clip cache entry), segment (a stored checkpoint)."""
UPLOADED_BYTES = Counter("render_uploaded_bytes", "Bytes published as finished videos")

OTHER = "other"
"""The label of every channel (and error type) the configuration does not name: cardinality stays bounded."""
ERROR_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
MAX_ERROR_TYPES = 64
"""Distinct error type labels one process reports; later new ones become `other`."""

QUEUE_WAIT = Histogram(
    "render_queue_wait_seconds",
    "Time an activity attempt waited in its task queue before a worker started it",
    ["channel", "task_queue"],
    buckets=(0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600),
)
CHANNEL_RENDER_SECONDS = Counter(
    "render_channel_render_seconds", "Wall seconds of clip render attempts (any outcome), by channel", ["channel"]
)
SCRATCH_FREE_BYTES = Gauge("render_scratch_free_bytes", "Free bytes on the scratch directory's filesystem")
SCRATCH_FREE_RATIO = Gauge("render_scratch_free_ratio", "Free share (0-1) of the scratch directory's filesystem")
WORK_FREE_BYTES = Gauge(
    "render_work_free_bytes", "Free bytes on the work store's filesystem (file:// work stores only)"
)
WORKER_PAUSED = Gauge(
    "render_worker_paused",
    "1 while this worker takes no work because a disk it writes to (scratch, a file:// work store) is low, else 0",
)
DISK_PAUSES = Counter("render_disk_pauses", "Times this worker stopped taking work for lack of disk space")
KEPT_BYTES = Gauge(
    "render_kept_bytes", "Bytes the work store holds for videos no longer running (failed ones keep their clips)"
)
KEPT_VIDEOS = Gauge("render_kept_videos", "Videos no longer running that still hold intermediates in the work store")
KEPT_EVICTED = Counter(
    "render_kept_evicted",
    "Videos whose kept intermediates were removed to bound the work store, oldest first",
    ["reason"],
)
"""reason: channel (over RENDER_KEPT_CHANNEL_GB), total (over RENDER_KEPT_GB), disk (the work store was low)."""
KEPT_EVICTED_BYTES = Counter(
    "render_kept_evicted_bytes", "Bytes of kept intermediates removed to bound the work store", ["reason"]
)
QUARANTINED = Gauge(
    "render_worker_quarantined",
    "1 while this worker has taken itself out of service (it stops polling, and exits after its linger), else 0",
)
GPU_UTILIZATION = Gauge(
    "render_gpu_utilization_ratio", "Busy share (0-1) of each GPU over NVML's last sample period", ["gpu"]
)


@dataclass(frozen=True)
class VideoMetric:
    """One per-video metric recorded through the SDK's workflow metric meter."""

    name: str
    kind: str
    """counter or histogram (float)."""
    description: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...] = ()


VIDEOS_STARTED = VideoMetric("render_videos_started", "counter", "Videos whose workflow started", ("channel",))
VIDEOS_COMPLETED = VideoMetric("render_videos_completed", "counter", "Videos published", ("channel",))
VIDEOS_FAILED = VideoMetric(
    "render_videos_failed", "counter", "Videos that failed, by error type", ("channel", "error_type")
)
VIDEOS_CANCELED = VideoMetric("render_videos_canceled", "counter", "Videos canceled", ("channel",))
TIME_TO_VIDEO = VideoMetric(
    "render_video_seconds",
    "histogram",
    "Seconds from a video's start to its publication",
    ("channel",),
    (15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400),
)
VIDEO_COST = VideoMetric(
    "render_video_cost_usd",
    "histogram",
    "Compute cost of each published video in US dollars (its _sum is the spend)",
    ("channel",),
    (0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5),
)
VIDEO_METRICS = (VIDEOS_STARTED, VIDEOS_COMPLETED, VIDEOS_FAILED, VIDEOS_CANCELED, TIME_TO_VIDEO, VIDEO_COST)


class Channels:
    """Channel names as metric labels: the configured ones as they are, every other one `other`.

    A channel is any string a job carries; labelling by it would let one client mint a
    time series per job. The names come from the workers' configuration instead.
    """

    def __init__(self, configured: Iterable[str]) -> None:
        self.configured = frozenset(c for c in configured if c and c != "*")

    def label(self, channel: object) -> str:
        return channel if isinstance(channel, str) and channel in self.configured else OTHER


class ErrorTypes:
    """Error types as labels: identifier-shaped and at most `MAX_ERROR_TYPES` of them, else `other`."""

    def __init__(self, limit: int = MAX_ERROR_TYPES) -> None:
        self.limit, self.seen = limit, set[str]()

    def label(self, error_type: str | None) -> str:
        if not error_type or not ERROR_TYPE.fullmatch(error_type):
            return OTHER
        if error_type not in self.seen and len(self.seen) >= self.limit:
            return OTHER
        self.seen.add(error_type)
        return error_type


def watch_disk(path: Path) -> None:
    """Report the free space of `path`'s filesystem at every scrape (renders fail when scratch fills)."""

    def usage() -> tuple[float, float]:
        try:
            total, _, free = shutil.disk_usage(path)
        except OSError:
            return 0.0, 0.0
        return float(free), free / total if total else 0.0

    SCRATCH_FREE_BYTES.set_function(lambda: usage()[0])
    SCRATCH_FREE_RATIO.set_function(lambda: usage()[1])


def watch_work_disk(path: Path) -> None:
    """Report the free space of a file:// work store's filesystem at every scrape."""

    def free() -> float:
        try:
            return float(shutil.disk_usage(path).free)
        except OSError:
            return 0.0

    WORK_FREE_BYTES.set_function(free)


@dataclass
class ClipInFlight:
    video_id: str
    clip_index: int
    frames_done: int
    frames_total: int
    encoder: str
    gpu: int | None = None


IN_FLIGHT: dict[tuple[str, int], ClipInFlight] = {}
"""Clips this process is rendering now, for /status. Keyed by (video id, clip index)."""
