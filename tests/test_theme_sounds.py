"""A theme's sounds, measured back from a real soundtrack: ticks on the countdown, a sting at the reveal,
the music bed under clips with no sound of their own, and silence everywhere else."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

import engine.sound_assets
from activities.audio import AudioActivities
from contracts import names
from contracts.job import Job, Profile, parse_job
from contracts.plan import plan_video
from contracts.records import AudioWork, VideoResult
from contracts.themes import BUILTIN_THEMES
from engine.deps import Deps, fetch_asset
from engine.media.effects import countdown_starts, tick_samples
from engine.media.layers import Fonts, countdown_frames
from engine.media.themed import countdown_rings
from engine.storage import file_path
from starter import RenderClient
from tests.media import audio_samples, onsets, streams

RATE = 48_000


def tone(deps: Deps, name: str, source: str) -> str:
    """A small WAV made by ffmpeg's lavfi `sine`, in the asset root."""
    path = file_path(deps.settings.storage.asset_roots[0]) / name
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", source, str(path)], check=True)
    return path.as_uri()


def themed_job(video_id: str, sounds: dict[str, str], clips: list[dict[str, Any]]) -> Job:
    theme = {"name": "sounding", "background": {"colour": "#102030"}, "sounds": sounds}
    return parse_job({"video_id": video_id, "profile": {"width": 64, "height": 64}, "theme": theme, "clips": clips})


async def soundtrack(deps: Deps, job: Job, engine: str = "none") -> np.ndarray:
    """The job's soundtrack as build_audio makes it; speechless unless an engine is named, so only the
    theme's sounds are heard."""
    plan = plan_video(job)
    built = await ActivityEnvironment().run(
        AudioActivities(deps).build,
        AudioWork(plan, job.loudness, job.tts_voice, job.tts_speed, tts_engine=engine),
    )
    return audio_samples(file_path(built.uri))


def level(samples: np.ndarray, start: float, end: float, frequency: float | None = None) -> float:
    """Peak level of a window, or the level of one frequency in it (a Hann-windowed spectrum's peak)."""
    part = samples[int(start * RATE) : int(end * RATE)]
    if frequency is None:
        return float(np.abs(part).max())
    spectrum = np.abs(np.fft.rfft(part * np.hanning(len(part))))
    at = round(frequency * len(part) / RATE)
    return float(spectrum[at - 2 : at + 3].max()) * 4 / len(part)


@pytest.mark.parametrize("seconds", [1, 2.5, 3, 4.2, 0.1 + 0.2 + 2])
@pytest.mark.parametrize("fps", [24, 25, 30, 60])
def test_ticks_fall_on_the_frames_where_the_countdown_shows_its_next_number(
    deps: Deps, seconds: float, fps: int
) -> None:
    """The ring and the plain countdown start each number at the times the ticks are placed from."""
    profile = Profile(320, 320, fps)
    fonts = Fonts(deps.settings.render.font, deps.settings.render.font_bold)
    rings = [start for start, _ in countdown_rings(seconds, profile, fonts, BUILTIN_THEMES["midnight"])]
    plain = [start for start, _ in countdown_frames(seconds, profile, fonts)]
    assert rings == plain == countdown_starts(seconds)
    ticks = tick_samples(seconds, fps)
    assert len(ticks) == len(rings) and ticks[0] == 0
    step = RATE // fps
    for start, tick in zip(rings, ticks, strict=True):
        # The first frame at or after the number's start: the frame the overlay first shows it on.
        assert tick % step == 0 and start - 1e-6 <= tick / RATE < start + 1 / fps


async def test_ticks_on_the_countdown_and_a_sting_at_the_reveal_and_silence_between(deps: Deps) -> None:
    tick = tone(deps, "tick-2k.wav", "sine=f=2000:d=0.05")
    sting = tone(deps, "sting-700.wav", "sine=f=700:d=0.3")
    question = {"kind": "question", "question": "Which?", "answers": ["A", "B", "C", "D"], "correct": 0}
    clips = [
        {**question, "duration": 2.5, "reveal_duration": 1.5},
        {"kind": "card", "duration": 1.0, "lines": ["quiet"]},
    ]
    samples = await soundtrack(deps, themed_job("theme-ticks", {"tick": tick, "sting": sting}, clips))
    assert 0 <= len(samples) - 5 * RATE < 1024  # and the padding of the last AAC frame
    # The countdown shows 3 at 0 s, 2 at 0.5 s, 1 at 1.5 s; the reveal starts at 2.5 s.
    found = onsets(samples, threshold=0.02)
    assert len(found) == 4, found
    for at, expected in zip(found, [0.0, 0.5, 1.5, 2.5], strict=True):
        assert abs(at - expected) < 0.005, (found, expected)
    for start in (0.0, 0.5, 1.5):
        assert level(samples, start, start + 0.05, 2000) > 0.05, start
        assert level(samples, start + 0.1, start + 0.4) < 0.003, start  # each tick is short, then quiet
    assert level(samples, 2.55, 2.75, 700) > 0.1  # the sting, through its 0.3 s
    assert level(samples, 2.55, 2.75, 2000) < 0.01  # and no tick in the reveal
    assert level(samples, 2.9, 5.0) < 0.003  # the rest of the reveal and the card are silent


async def test_the_bed_runs_under_clips_without_sound_and_a_clips_own_music_replaces_it(
    deps: Deps, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One fetch for a tick heard four times, and a 6 kHz bed under the first and last cards only."""
    fetched: list[str] = []

    async def counted(deps: Deps, uri: str, dest: Path, kind: str) -> Path:
        fetched.append(uri)
        return await fetch_asset(deps, uri, dest, kind)

    monkeypatch.setattr(engine.sound_assets, "fetch_asset", counted)
    bed = tone(deps, "bed-6k-loop.wav", "sine=f=6000:d=0.7")
    own = tone(deps, "own-440.wav", "sine=f=440:d=2")
    tick = tone(deps, "tick-3k.wav", "sine=f=3000:d=0.03")
    clips = [
        {"kind": "card", "duration": 1.5, "lines": ["one"]},
        {"kind": "card", "duration": 1.5, "lines": ["two"], "audio": own},
        {"kind": "question", "duration": 4, "question": "Q?", "answers": ["A", "B", "C", "D"], "correct": 1},
    ]
    samples = await soundtrack(deps, themed_job("theme-bed", {"music": bed, "tick": tick}, clips))
    assert sorted(fetched) == sorted([bed, own, tick])
    under_first, under_own = level(samples, 0.2, 1.2, 6000), level(samples, 1.7, 2.7, 6000)
    under_last = level(samples, 3.2, 3.9, 6000)  # the bed looped on: 0.7 s long, still sounding at 3.2 s
    assert under_first > 0.02 and under_last > 0.02, (under_first, under_last)
    assert under_own < under_first / 30, (under_own, under_first)
    assert level(samples, 1.7, 2.7, 440) > 0.05
    assert level(samples, 5.0, 5.03, 3000) > level(samples, 5.3, 5.33, 3000) * 3  # a tick at 5 s (the '3')


async def test_a_theme_sound_outside_the_asset_roots_is_refused_naming_its_field(deps: Deps, tmp_path: Path) -> None:
    outside = tmp_path / "tick.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=d=0.05", str(outside)], check=True)
    clips = [{"kind": "question", "duration": 1, "question": "Q?", "answers": ["A", "B", "C", "D"], "correct": 1}]
    job = themed_job("theme-outside", {"tick": outside.as_uri()}, clips)
    assert outside.as_uri() in job.asset_uris()  # the pre-flight check sees it too
    with pytest.raises(ApplicationError, match=r"theme\.sounds\.tick: .* is outside the allowed roots") as refused:
        await soundtrack(deps, job)
    assert refused.value.type == names.FORBIDDEN_PATH and refused.value.non_retryable


@pytest.mark.usefixtures("workers")
async def test_a_themed_video_rendered_by_the_service_has_its_ticks_and_sting_in_sync(
    client: Client, deps: Deps
) -> None:
    """Through the workflow: pre-flight, video-only clips, the sound built once, the mux, the published file."""
    tick = tone(deps, "e2e-tick.wav", "sine=f=2000:d=0.05")
    sting = tone(deps, "e2e-sting.wav", "sine=f=700:d=0.3")
    theme = {"name": "sounding", "background": {"colour": "#102030"}, "sounds": {"tick": tick, "sting": sting}}
    question = {"kind": "question", "question": "Which?", "answers": ["A", "B", "C", "D"], "correct": 2}
    job = {
        "video_id": "theme-sounds-e2e",
        "profile": {"width": 320, "height": 180},
        "tts_engine": "none",  # no speech: only the theme's sounds are heard
        "theme": theme,
        "clips": [{**question, "duration": 2, "reveal_duration": 1}],
    }
    await RenderClient(client).submit(job)
    handle = client.get_workflow_handle("theme-sounds-e2e", result_type=VideoResult)
    video = file_path((await asyncio.wait_for(handle.result(), timeout=240)).output_uri)
    info = streams(video)
    assert int(info["video"]["nb_read_frames"]) == 90
    found = onsets(audio_samples(video), threshold=0.02)
    assert len(found) == 3, found  # '2' at 0 s, '1' at 1 s, the reveal at 2 s
    for at, expected in zip(found, [0.0, 1.0, 2.0], strict=True):
        assert abs(at - expected) < 0.005, (found, expected)


async def test_the_bed_runs_on_across_clips_instead_of_restarting(deps: Deps) -> None:
    """A bed that clicks once a second clicks every second of the video, not again at the 1.5 s cut."""
    click = file_path(deps.settings.storage.asset_roots[0]) / "bed-click-1s.wav"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=f=3000:d=0.05", "-af", "apad=whole_dur=1",
         str(click)],
        check=True,
    )  # fmt: skip
    clips = [{"kind": "card", "duration": 1.5, "lines": ["one"]}, {"kind": "card", "duration": 1.5, "lines": ["two"]}]
    samples = await soundtrack(deps, themed_job("theme-bed-runs-on", {"music": click.as_uri()}, clips))
    found = onsets(samples, threshold=0.02)
    assert len(found) == 3, found
    for at, expected in zip(found, [0.0, 1.0, 2.0], strict=True):
        assert abs(at - expected) < 0.005, (found, expected)


async def test_the_bed_ducks_under_narration(deps: Deps) -> None:
    """A 6 kHz bed (above the voice's formants) is clearly quieter while the voice speaks than after it."""
    bed = tone(deps, "duck-bed-6k.wav", "sine=f=6000:d=3")
    clips = [{"kind": "card", "duration": 6, "lines": ["spoken"], "narration": "A few words, spoken clearly."}]
    samples = await soundtrack(deps, themed_job("theme-bed-ducks", {"music": bed}, clips), engine="espeak")
    during, after = level(samples, 0.5, 1.3, 6000), level(samples, 4.5, 5.5, 6000)
    assert 20 * np.log10(after / during) >= 6, (during, after)
