"""What one job may cost the farm: frames x pixels and render time per job, render time per clip, pixels per image.

A job is refused at validation, naming the limit, when it would hold render slots for
longer than any clip attempt is allowed to run, or when its frames x pixels exceed the
per-job budget. Render time is estimated at the slowest expected rate: a plain clip at
`SLOWEST_EXPECTED_FPS`, a kind with its own rate (`KindContract.frame_seconds`) at that: a procedural recipe
at its cost per pixel (`Recipe.cost`: a deep-zoom mandelbrot at a high `maxiter` renders at seconds per frame,
not frames per second).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from contracts.kinds import KINDS
from contracts.rules import ClipSpec, Profile

SLOWEST_EXPECTED_FPS = 5
"""Start-to-close budget for a clip: a 4K CPU-fallback render stays above this."""
RENDER_ALLOWANCE_SECONDS = 1800.0
"""Added to every clip's start-to-close budget for transfers over a slow link."""
FRAME_SECONDS_LIMIT = 30.0
"""No single frame may take longer: ffmpeg reports progress between frames, and a render that
reports nothing for its stall limit (120 s) is killed as hung."""


@dataclass(frozen=True)
class Budget:
    """The limits a worker enforces (RENDER_JOB_GIGAPIXELS, RENDER_CLIP_RENDER_SECONDS, RENDER_IMAGE_MEGAPIXELS,
    RENDER_JOB_RENDER_SECONDS, RENDER_ASSET_MEGABYTES)."""

    job_gigapixels: float = 1000.0
    """Frames x width x height of a whole job, in units of 10^9: about an hour of 4K at 30 fps."""
    clip_render_seconds: float = 3600.0
    """A clip's render time at the slowest expected rate."""
    image_megapixels: float = 36.0
    """An image asset's width x height, read from its header before anything decodes it."""
    job_render_seconds: float = 86400.0
    """A whole job's render time at the slowest expected rate: many clips, each under the per-clip
    bound, may still hold the farm for days."""
    asset_megabytes: float = 2048.0
    """An asset file's size, read from the store before it is fetched: a worker's scratch disk holds a
    clip's assets, its checkpoints and its output at once."""


def frame_seconds(spec: ClipSpec, profile: Profile) -> float:
    """Seconds one frame of this clip may take at the slowest expected rate."""
    seconds = 1.0 / SLOWEST_EXPECTED_FPS
    registered = KINDS.get(spec.kind)
    if registered is not None and registered.frame_seconds is not None:
        return max(seconds, registered.frame_seconds(spec, profile))
    return seconds


def clip_seconds(spec: ClipSpec, frames: int, profile: Profile) -> float:
    """How long `frames` frames of this clip may take at the slowest expected rate."""
    return frames * frame_seconds(spec, profile)


def attempt_seconds(spec: ClipSpec, frames: int, profile: Profile) -> float:
    """Start-to-close for one render attempt: frames at the slowest expected rate, or the recipe's own cost
    (a deep-zoom mandelbrot renders at seconds per frame), plus transfers over a slow link."""
    return max(frames / SLOWEST_EXPECTED_FPS, clip_seconds(spec, frames, profile)) + RENDER_ALLOWANCE_SECONDS


def budget_problems(
    clips: Sequence[tuple[str, ClipSpec, int]], profile: Profile, budget: Budget
) -> list[tuple[str, str]]:
    """Every limit `clips` (field path, spec, frames) break, as (field, message) pairs naming the limit."""
    problems: list[tuple[str, str]] = []
    size = f"{profile.width}x{profile.height}"
    pixels = profile.width * profile.height
    limit = budget.job_gigapixels * 1e9
    for field, spec, frames in clips:
        per_frame = frame_seconds(spec, profile)
        seconds = clip_seconds(spec, frames, profile)
        if frames * pixels > limit:
            problems.append(
                (field, f"{frames} frames of {size} exceed the per-job budget of {budget.job_gigapixels:g} gigapixels")
            )
        elif per_frame > FRAME_SECONDS_LIMIT:
            problems.append(
                (
                    field,
                    f"one frame of {size} may take {per_frame:.0f} s; the limit is {FRAME_SECONDS_LIMIT:g} s a frame",
                )
            )
        elif seconds > budget.clip_render_seconds:
            problems.append(
                (
                    field,
                    f"{frames} frames of {size} may take {seconds:.0f} s to render; "
                    f"the per-clip limit is {budget.clip_render_seconds:g} s",
                )
            )
    total = sum(frames for _, _, frames in clips)
    # A clip over the budget on its own already says it; otherwise the whole job is named.
    if total * pixels > limit and not any(frames * pixels > limit for _, _, frames in clips):
        whole = (
            "clips",
            f"{total} frames of {size} ({total * pixels / 1e9:.0f} gigapixels) exceed the per-job budget "
            f"of {budget.job_gigapixels:g} gigapixels",
        )
        problems.insert(0, whole)
    elif not problems:
        seconds = sum(clip_seconds(spec, frames, profile) for _, spec, frames in clips)
        if seconds > budget.job_render_seconds:
            problems.append(
                (
                    "clips",
                    f"the job's {total} frames of {size} may take {seconds:.0f} s to render; "
                    f"the per-job limit is {budget.job_render_seconds:g} s",
                )
            )
    return problems
