"""The theme's music bed runs under the whole video: no dip at any join, ducked smoothly under narration.

Measured on the delivered AAC of a 20-clip narrated video: the bed is a 13.5 kHz tone, above everything
espeak-ng makes (it speaks at 22.05 kHz, so nothing above 11 kHz), and its level is read in 10 ms windows
(exactly 135 of its cycles each) by projecting onto the tone, so speech, ticks and stings do not count.
"""

from __future__ import annotations

import subprocess

import numpy as np
from temporalio.testing import ActivityEnvironment

from activities.audio import AudioActivities
from activities.narration import NarrationActivities
from contracts.job import Job, parse_job
from contracts.plan import fit_narration, plan_video, samples_for, video_only
from contracts.records import AudioWork, Narration, NarrationWork
from engine.deps import Deps
from engine.storage import file_path
from tests.media import audio_samples

RATE = 48_000
BED_HZ = 13_500
WINDOW = RATE // 100
"""10 ms."""


def tone(deps: Deps, name: str, source: str) -> str:
    path = file_path(deps.settings.storage.asset_roots[0]) / name
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", source, str(path)], check=True)
    return path.as_uri()


def bed_levels(samples: np.ndarray, start: int, windows: int) -> np.ndarray:
    """The bed tone's level (dBFS of its amplitude) in `windows` consecutive 10 ms windows from `start`."""
    t = np.arange(WINDOW) / RATE
    probe = np.exp(-2j * np.pi * BED_HZ * t)
    levels = []
    for n in range(windows):
        part = samples[start + n * WINDOW : start + (n + 1) * WINDOW]
        levels.append(20 * np.log10(2 * abs(np.dot(part, probe)) / WINDOW + 1e-9))
    return np.array(levels)


def twenty_clips(deps: Deps) -> Job:
    sounds = {
        "music": tone(deps, "bed-13k5.wav", f"sine=f={BED_HZ}:d=7"),  # shorter than the video: it loops
        "tick": tone(deps, "bed-tick-2k.wav", "sine=f=2000:d=0.05"),
        "sting": tone(deps, "bed-sting-700.wav", "sine=f=700:d=0.4"),
    }
    words = ["Mars", "Venus", "Jupiter", "Saturn"]
    clips = [
        {
            "kind": "question",
            "question": f"Which planet is number {n + 2} in this short list of questions?",
            "answers": words,
            "correct": n % 4,
            "duration": 5 + (n % 3) * 0.5,
            "reveal_duration": 2 + (n % 2) * 0.3,
        }
        for n in range(10)
    ]
    theme = {"name": "bedded", "background": {"colour": "#102030"}, "sounds": sounds}
    job = {"video_id": "bed-continuity", "profile": {"width": 64, "height": 64}, "theme": theme, "clips": clips}
    return parse_job(job)


async def test_the_bed_runs_on_across_every_join_of_a_twenty_clip_video(deps: Deps) -> None:
    job = twenty_clips(deps)
    lines = [(i, c.narration) for i, c in enumerate(job.clips) if c.narration]
    narrated: Narration = await ActivityEnvironment().run(
        NarrationActivities(deps).synthesize, NarrationWork(job.video_id, lines, job.tts_voice, job.tts_speed)
    )
    plan = video_only(fit_narration(job, plan_video(job), narrated.takes))
    assert len(plan.clips) == 20
    built = await ActivityEnvironment().run(
        AudioActivities(deps).build,
        AudioWork(plan, job.loudness, job.tts_voice, job.tts_speed, tts_engine="espeak-ng"),
    )
    lufs, peak = built.loudness.integrated_lufs, built.loudness.true_peak_dbtp
    assert lufs is not None and abs(lufs - -14.0) <= 0.5
    assert peak is not None and peak <= built.loudness.target_true_peak_dbtp
    samples = audio_samples(file_path(built.uri))
    joins = np.cumsum([samples_for(c.frames, plan.profile.fps) for c in plan.clips])[:-1]
    steps = []
    for join in joins:
        levels = bed_levels(samples, int(join) - 10 * WINDOW, 20)  # 100 ms either side of the join
        steps.append(float(np.abs(np.diff(levels)).max()))
    assert max(steps) <= 1.0, [round(s, 2) for s in steps]
    # And the bed is really there at every join, well above the codec's noise.
    assert min(bed_levels(samples, int(j) - WINDOW, 2).min() for j in joins) > -60
    # Still ducked under the voice: the bed mid-question (speaking) well under the bed just before the reveal.
    starts = np.concatenate([[0], joins])
    speaking = [bed_levels(samples, int(s) + RATE // 2, 20).mean() for s in starts[::2]]
    counting = [bed_levels(samples, int(j) - 100 * WINDOW, 40).mean() for j in joins[::2]]
    assert float(np.mean(counting) - np.mean(speaking)) > 6
