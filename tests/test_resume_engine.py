"""Mid-clip resume, drain and cancellation of render_clip, alone (ActivityEnvironment), over real ffmpeg."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.render import WORKER_DRAINING, RenderActivities
from contracts.job import parse_job
from contracts.plan import plan_video
from contracts.records import ClipResult, ClipWork
from engine.deps import Deps
from engine.scratch import activity_dirs
from engine.segments import SegmentStore, segment_frames
from engine.storage import file_path
from tests.media import streams

SEGMENT = 60  # frames: one two-second GOP at 30 fps
CLIP_FRAMES = 1800


def long_clip(video_id: str) -> ClipWork:
    """A minute of moving test pattern: a shifted or repeated frame shows up in the pixels."""
    job = parse_job({"video_id": video_id, "profile": {"width": 320, "height": 180},
                     "clips": [{"kind": "recipe", "recipe": "testsrc", "duration": 60}]})  # fmt: skip
    plan = plan_video(job)
    return ClipWork(video_id, plan.clips[0], plan.profile, job.tts_voice, job.tts_speed)


def store_for(deps: Deps, inp: ClipWork) -> SegmentStore:
    return SegmentStore(deps, inp.video_id, inp.clip, segment_frames(inp.profile, deps.settings.render.segment_seconds))


def stored_segments(deps: Deps, inp: ClipWork) -> list[Path]:
    return sorted(file_path(store_for(deps, inp).prefix).glob("*.mov"))


def decoded_frames(path: Path) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "gray", "-"],
                         check=True, capture_output=True).stdout  # fmt: skip
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, 180, 320)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float32) - b.astype(np.float32)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255**2 / mse)


async def interrupt(deps: Deps, inp: ClipWork, after_segments: int, how: str) -> list[dict[str, Any]]:
    """Run render_clip until `after_segments` are stored, then shut the worker down or cancel."""
    env = ActivityEnvironment()
    beats: list[dict[str, Any]] = []
    triggered = asyncio.Event()

    def on_heartbeat(*details: Any) -> None:
        beats.append(details[0])
        if details[0]["segments_done"] >= after_segments and not triggered.is_set():
            triggered.set()
            env.worker_shutdown() if how == "drain" else env.cancel()

    env.on_heartbeat = on_heartbeat
    with pytest.raises((ApplicationError, asyncio.CancelledError)) as caught:
        await env.run(RenderActivities(deps).render, inp)
    if how == "drain":
        assert isinstance(caught.value, ApplicationError) and caught.value.type == WORKER_DRAINING
        assert not caught.value.non_retryable
    return beats


async def resume(deps: Deps, inp: ClipWork, details: dict[str, Any]) -> ClipResult:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=2, heartbeat_details=[details])
    result: ClipResult = await env.run(RenderActivities(deps).render, inp)
    return result


async def test_drain_finishes_the_segment_in_progress_then_resume_renders_only_the_rest(deps: Deps) -> None:
    inp = long_clip("resume-drain")
    beats = await interrupt(deps, inp, after_segments=3, how="drain")
    stored = stored_segments(deps, inp)
    # Segments finished before ffmpeg was stopped are stored and heartbeated; the clip was far from done.
    assert 3 < len(stored) == beats[-1]["segments_done"] < CLIP_FRAMES // SEGMENT
    assert not activity_dirs(deps.settings.storage.scratch_dir)  # the partial segment was discarded

    result = await resume(deps, inp, beats[-1])
    assert result.reused_frames == len(stored) * SEGMENT and result.attempt == 2
    assert not stored_segments(deps, inp)  # segments are removed once the clip is whole

    whole = await ActivityEnvironment().run(RenderActivities(deps).render, long_clip("resume-reference"))
    resumed_frames, reference_frames = decoded_frames(file_path(result.uri)), decoded_frames(file_path(whole.uri))
    assert len(resumed_frames) == len(reference_frames) == CLIP_FRAMES
    worst = min(psnr(a, b) for a, b in zip(resumed_frames, reference_frames, strict=True))
    assert worst > 35, worst  # same picture at every index: no frame missing or repeated at a join
    shifted = psnr(resumed_frames[300], reference_frames[301])
    assert shifted < worst - 5  # and the check would notice a one-frame shift
    info = streams(file_path(result.uri))
    assert int(info["audio"]["duration_ts"]) == CLIP_FRAMES * 1600


async def test_claims_are_verified_and_only_stored_sound_segments_are_trusted(deps: Deps) -> None:
    inp = long_clip("resume-verify")
    beats = await interrupt(deps, inp, after_segments=3, how="drain")
    stored = stored_segments(deps, inp)
    stored[1].write_bytes(stored[1].read_bytes()[:2000])  # a damaged checkpoint
    claim = {**beats[-1], "segments_done": 9}  # and a claim beyond what exists
    result = await resume(deps, inp, claim)
    assert result.reused_frames == 1 * SEGMENT  # only segment 0 survived verification
    assert int(streams(file_path(result.uri))["video"]["nb_read_frames"]) == CLIP_FRAMES


async def test_cancel_kills_ffmpeg_and_leaves_no_partial_files(deps: Deps) -> None:
    inp = long_clip("resume-cancel")
    await interrupt(deps, inp, after_segments=2, how="cancel")
    alive = subprocess.run(["pgrep", "-f", "resume-cancel"], capture_output=True, text=True).stdout
    assert alive == ""  # no ffmpeg left running for this clip
    assert not activity_dirs(deps.settings.storage.scratch_dir)
    assert not file_path(deps.settings.work_uri_for(inp.clip.key)).exists()
