"""Cached speech: a job rendered again speaks from the work store, and the speech engine is not run at all.

The engine is the real espeak-ng behind a wrapper script that counts its runs; the two
activities that use speech (`narrate`, then `build_audio`) run as a render runs them,
on new instances each time, as a fresh worker would.
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import pytest
from temporalio.testing import ActivityEnvironment

from activities.audio import AudioActivities
from activities.narration import NarrationActivities
from contracts.job import Job, parse_job
from contracts.plan import fit_narration, plan_video
from contracts.records import AudioResult, AudioWork, NarrationWork
from engine.deps import Deps
from engine.settings import Settings, file_uri
from engine.tts import EspeakTts


def counting_espeak(tmp_path: Path) -> tuple[EspeakTts, Path]:
    """espeak-ng behind a script that appends a line to a file each time it runs."""
    real = shutil.which("espeak-ng")
    if real is None:
        pytest.skip("espeak-ng is not installed (scripts/bootstrap installs it)")
    calls = tmp_path / "calls"
    calls.touch()
    wrapper = tmp_path / "espeak-ng"
    wrapper.write_text(f'#!/bin/sh\necho run >> {shlex.quote(str(calls))}\nexec {shlex.quote(real)} "$@"\n')
    wrapper.chmod(0o755)
    return EspeakTts(str(wrapper)), calls


def runs(calls: Path) -> int:
    return len(calls.read_text().splitlines())


async def render_speech(deps: Deps, job: Job, tts: EspeakTts) -> AudioResult:
    plan = plan_video(job)
    lines = [(c.index, c.spec.narration) for c in plan.clips if c.spec.narration]
    narrated = await ActivityEnvironment().run(
        NarrationActivities(deps, tts).synthesize, NarrationWork(job.video_id, lines, job.tts_voice, job.tts_speed)
    )
    fitted = fit_narration(job, plan, narrated.takes)
    result: AudioResult = await ActivityEnvironment().run(
        AudioActivities(deps, tts).build, AudioWork(fitted, job.loudness, job.tts_voice, job.tts_speed)
    )
    return result


async def test_a_second_render_of_the_same_job_runs_no_synthesis(settings: Settings, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    deps = Deps.from_settings(settings.replace(storage={"work_uri": file_uri(work)}))  # an empty cache
    tts, calls = counting_espeak(tmp_path)
    question = {"kind": "question", "question": "Which is blue?", "answers": ["Sky", "Grass", "Sun", "Soil"]}
    raw = {
        "video_id": "cached-speech",
        "profile": {"width": 64, "height": 64},
        "clips": [{**question, "correct": 0}, {**question, "question": "Which is green?", "correct": 1}],
    }
    job = parse_job(raw)
    first = await render_speech(deps, job, tts)
    assert runs(calls) == 4  # two questions and two reveals, each spoken once
    assert len(list((work / "narration").iterdir())) == 4
    second = await render_speech(deps, job, EspeakTts(tts.binary))
    assert runs(calls) == 4  # nothing synthesized again
    assert second.loudness == first.loudness  # the same speech, from the store
    faster = parse_job({**raw, "tts_speed": 1.25})
    await render_speech(deps, faster, tts)
    assert runs(calls) == 8  # speech is cached by speed too: another speed speaks again
