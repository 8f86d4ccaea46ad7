"""What a video cost, tallied clip by clip as the renders end: state of a fixed size, whatever the clip count."""

from __future__ import annotations

from dataclasses import dataclass, field

from contracts.records import ClipResult

SECONDS_PER_HOUR = 3600
COSTLIEST = 3
"""Clips named in the result as the costliest; the manifest keeps every clip's figures."""


@dataclass
class Tally:
    """The renders' figures, folded in as each clip ends."""

    gpu_rate: float
    """USD per GPU-second for the video's class."""
    cpu_rate: float
    """USD per CPU-second."""
    clips: int = 0
    from_cache: int = 0
    gpu_seconds: float = 0.0
    cpu_seconds: float = 0.0
    usd: float = 0.0
    rendered_encoders: set[str] = field(default_factory=set)
    reused_encoders: set[str] = field(default_factory=set)
    costliest: list[tuple[float, int, str]] = field(default_factory=list)
    """(usd, index, label), most expensive first, at most COSTLIEST."""

    @classmethod
    def priced(cls, rates: dict[str, float], gpu_class: str | None) -> Tally:
        return cls(rates.get(gpu_class or "gpu", 0.0) / SECONDS_PER_HOUR, rates.get("cpu", 0.0) / SECONDS_PER_HOUR)

    def add(self, clip: ClipResult, label: str) -> None:
        usd = clip.gpu_seconds * self.gpu_rate + clip.cpu_seconds * self.cpu_rate
        self.clips += 1
        self.from_cache += clip.from_cache
        self.gpu_seconds += clip.gpu_seconds
        self.cpu_seconds += clip.cpu_seconds
        self.usd += usd
        (self.reused_encoders if clip.skipped else self.rendered_encoders).add(clip.encoder)
        if usd > 0:
            ranked = sorted([*self.costliest, (usd, clip.index, label)], key=lambda c: (-c[0], c[1]))
            self.costliest = ranked[:COSTLIEST]

    @property
    def encoder(self) -> str:
        """The encoders the clips were rendered with ('reused' only when none was rendered here)."""
        return "+".join(sorted(self.rendered_encoders or self.reused_encoders))

    def usd_with(self, control_cpu_seconds: float) -> float:
        """The video's cost, with the CPU the join and the sound track took."""
        return round(self.usd + control_cpu_seconds * self.cpu_rate, 9)

    def costliest_labels(self) -> list[str]:
        return [f"{label}: ${usd:.6f}" for usd, _, label in self.costliest]
