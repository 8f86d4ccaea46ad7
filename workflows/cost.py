"""What a video cost: GPU- and CPU-seconds priced per class. Pure arithmetic on recorded results."""

from __future__ import annotations

from dataclasses import dataclass

from contracts.plan import VideoPlan
from contracts.records import ClipResult, ConcatResult

SECONDS_PER_HOUR = 3600


@dataclass(frozen=True)
class VideoCost:
    gpu_seconds: float
    cpu_seconds: float
    usd: float
    costliest: list[str]


def video_cost(
    plan: VideoPlan, clips: list[ClipResult], concat: ConcatResult, rates: dict[str, float], gpu_class: str | None
) -> VideoCost:
    gpu_rate = rates.get(gpu_class or "gpu", 0.0) / SECONDS_PER_HOUR
    cpu_rate = rates.get("cpu", 0.0) / SECONDS_PER_HOUR
    priced = [(c.gpu_seconds * gpu_rate + c.cpu_seconds * cpu_rate, c) for c in clips]
    top = sorted(priced, key=lambda pair: -pair[0])[:3]
    labels = {c.index: c.label for c in plan.clips}
    return VideoCost(
        gpu_seconds=round(sum(c.gpu_seconds for c in clips), 3),
        cpu_seconds=round(sum(c.cpu_seconds for c in clips) + concat.cpu_seconds, 3),
        usd=round(sum(usd for usd, _ in priced) + concat.cpu_seconds * cpu_rate, 9),
        costliest=[f"{labels[c.index]}: ${usd:.6f}" for usd, c in top if usd > 0],
    )
