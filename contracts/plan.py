"""Job → clip plan: frame counts, spec hashes and storage keys, computed once.

Durations become whole frames here and nowhere else, so the renderer, the concat
check and the result all agree on every clip's exact length.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from contracts.job import AUDIO_RATE, MEDIA_DEFAULTS, ClipSpec, Job, Profile

ENGINE_VERSION = "2"
"""Part of every spec hash: bump it when the same spec would render differently."""


@dataclass(frozen=True)
class PlannedClip:
    index: int
    spec: ClipSpec
    frames: int
    spec_hash: str
    key: str
    """Storage key of the rendered intermediate, relative to the work root."""
    label: str
    """A short human description for logs and the Web UI."""


@dataclass(frozen=True)
class VideoPlan:
    video_id: str
    profile: Profile
    clips: tuple[PlannedClip, ...]

    @property
    def frames(self) -> int:
        return sum(c.frames for c in self.clips)

    @property
    def duration_s(self) -> float:
        return self.frames / self.profile.fps

    @property
    def poster_seconds(self) -> float:
        """When the poster frame is: the middle of the first reveal (the answer shown), else of the first clip."""
        start = 0
        for clip in self.clips:
            if clip.spec.kind == "reveal":
                return (start + clip.frames // 2) / self.profile.fps
            start += clip.frames
        return (self.clips[0].frames // 2) / self.profile.fps if self.clips else 0.0


def frames_for(seconds: float, fps: int) -> int:
    """Round a duration to whole frames, never below one frame."""
    return max(1, round(seconds * fps))


def samples_for(frames: int, fps: int) -> int:
    """Audio samples that exactly cover `frames` video frames."""
    return frames * (AUDIO_RATE // fps)


def canonical_sha256(value: Any) -> str:
    """sha256 of `value` as canonical JSON (sorted keys, no spaces, ASCII): equal values, equal hashes."""
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def spec_material(spec: ClipSpec) -> dict[str, Any]:
    """The spec as hashed: media fields only where set, so clips from before they existed keep their keys."""
    material = asdict(spec)
    for name, default in MEDIA_DEFAULTS.items():
        if material[name] == default:
            del material[name]
    return material


def spec_hash(spec: ClipSpec, job: Job) -> str:
    material = {
        "engine": ENGINE_VERSION,
        "spec": spec_material(spec),
        "profile": asdict(job.profile),
        # The engine only when the job names one: clips of jobs without it keep their keys.
        "voice": [job.tts_voice, job.tts_speed, *([job.tts_engine] if job.tts_engine else [])],
    }
    return canonical_sha256(material)[:16]


def clip_label(spec: ClipSpec, index: int, total: int) -> str:
    head = f"clip {index + 1}/{total}"
    if spec.kind in ("question", "reveal") and spec.question:
        return f'{head} · {spec.kind} "{_shorten(spec.question)}" · {spec.duration:g} s'
    if spec.kind == "recipe":
        return f"{head} · recipe {spec.recipe} · {spec.duration:g} s"
    if spec.kind in ("video", "image"):
        source = (spec.video if spec.kind == "video" else spec.image) or ""
        return f'{head} · {spec.kind} "{_shorten(source.rsplit("/", 1)[-1])}" · {spec.duration:g} s'

    first = spec.lines[0] if spec.lines else ""
    return f'{head} · card "{_shorten(first)}" · {spec.duration:g} s'


def _shorten(text: str, limit: int = 40) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def plan_video(job: Job) -> VideoPlan:
    total = len(job.clips)
    clips = []
    for index, spec in enumerate(job.clips):
        digest = spec_hash(spec, job)
        clips.append(
            PlannedClip(
                index=index,
                spec=spec,
                frames=frames_for(spec.duration, job.profile.fps),
                spec_hash=digest,
                key=f"{job.video_id}/clips/{index:04d}-{digest}.mov",
                label=clip_label(spec, index, total),
            )
        )
    return VideoPlan(video_id=job.video_id, profile=job.profile, clips=tuple(clips))
