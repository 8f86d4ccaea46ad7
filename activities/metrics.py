"""What workers count and time, exported on /metrics beside the SDK's own metrics.

Also the registry of clips in flight, which /status reports.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import Counter, Histogram

CLIPS = Counter("render_clips", "Clip renders by outcome", ["outcome"])
"""outcome: rendered, reused (already stored), failed."""
ENCODE_FPS = Histogram(
    "render_encode_fps", "Frames encoded per second of a clip render", buckets=(5, 15, 30, 60, 120, 240, 480, 960)
)
CLIP_SECONDS = Histogram(
    "render_clip_seconds", "Wall time of a clip render", buckets=(1, 2, 5, 10, 20, 40, 80, 160, 320, 640, 1280)
)
RESUMES = Counter("render_resumes", "Clip renders that resumed from stored segments")
UPLOADED_BYTES = Counter("render_uploaded_bytes", "Bytes published as finished videos")


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
