"""The programme's sound in one ffmpeg run: the same samples as one run per clip, at any clip count."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from temporalio.testing import ActivityEnvironment

from activities.audio import AudioActivities
from contracts.job import Profile, parse_job
from contracts.plan import plan_video, samples_for, video_only
from contracts.records import AudioWork
from engine.deps import Deps
from engine.media.graphs import MIX_GROUP, ClipInputs, clip_audio_command, concat_list, programme_audio_command
from engine.media.mp4 import read_movie
from engine.storage import file_path
from tests.media import audio_samples, onsets

PROFILE = Profile(width=64, height=64, fps=30)


def pcm(path: Path) -> np.ndarray:
    """Every decoded sample, both channels, exactly as stored."""
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:a:0", "-f", "s16le", "-"], check=True, capture_output=True
    ).stdout
    return np.frombuffer(raw, dtype=np.int16)


def tone(path: Path, source: str) -> Path:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", source, str(path)], check=True)
    return path


def one_run(clips: list[tuple[int, ClipInputs]], tmp: Path) -> Path:
    out, script = tmp / "programme.wav", tmp / "programme.graph"
    command, graph = programme_audio_command(PROFILE, clips, out, script)
    script.write_text(graph, encoding="utf-8")
    subprocess.run(command, check=True, capture_output=True)
    return out


def test_one_run_makes_the_same_samples_as_one_run_per_clip(tmp_path: Path) -> None:
    music = tone(tmp_path / "music.wav", "sine=f=220:d=3:r=44100")
    other = tone(tmp_path / "other music.wav", "sine=f=330:d=0.4:r=48000")
    voice = tone(tmp_path / "voice.wav", "sine=f=880:d=0.7:r=22050")
    clips = [
        (31, ClipInputs(audio=music, music_gain_db=-3.0)),
        (1, ClipInputs()),
        (45, ClipInputs(audio=music, narration=voice, music_gain_db=-3.0)),
        (31, ClipInputs(audio=music, music_gain_db=-3.0)),  # the same sound as the first: split, not merged
        (17, ClipInputs(narration=voice)),
        (29, ClipInputs(audio=other)),
        (31, ClipInputs()),
    ]
    parts = []
    for n, (frames, inputs) in enumerate(clips):
        parts.append(tmp_path / f"clip-{n}.wav")
        subprocess.run(clip_audio_command(PROFILE, frames, inputs, parts[-1]), check=True, capture_output=True)
    listing = tmp_path / "clips.ffconcat"
    listing.write_text(concat_list(parts, [f for f, _ in clips], PROFILE.fps), encoding="utf-8")
    separate = tmp_path / "separate.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "concat", "-safe", "0", "-i", str(listing), "-c:a", "pcm_s16le",
                    str(separate)], check=True)  # fmt: skip

    together = pcm(one_run(clips, tmp_path))
    assert len(together) == 2 * sum(samples_for(f, PROFILE.fps) for f, _ in clips)
    assert np.array_equal(together, pcm(separate))
    assert np.abs(together).max() > 1000  # not silence that happens to match


def test_hundreds_of_clips_open_each_file_once(tmp_path: Path) -> None:
    music = tone(tmp_path / "music.wav", "sine=f=440:d=1")
    voice = tone(tmp_path / "it's a voice.wav", "sine=f=660:d=0.05")
    clips = [(1 + n % 7, ClipInputs(audio=music, narration=voice if n % 5 == 0 else None)) for n in range(200)]
    command, graph = programme_audio_command(PROFILE, clips, tmp_path / "p.wav", tmp_path / "p.graph")
    assert command.count("-i") == 2 and "asplit=200" in graph and "asplit=40" in graph
    assert str(voice) in command and "-filter_complex_script" in command
    assert sum(len(arg) for arg in command) < 2000  # the graph is in the script, not on the command line
    samples = pcm(one_run(clips, tmp_path))
    assert len(samples) == 2 * sum(samples_for(f, PROFILE.fps) for f, _ in clips)
    # Every clip without narration starts its music from the top at its first sample (before its fade).
    starts = np.cumsum([0] + [2 * samples_for(f, PROFILE.fps) for f, _ in clips])
    heads = [samples[a : a + 4000] for (f, c), a in zip(clips, starts, strict=False) if f >= 3 and c.narration is None]
    assert len(heads) > 50 and np.abs(heads[0]).max() > 1000
    assert all(np.array_equal(head, heads[0]) for head in heads)


async def test_a_long_programme_is_mixed_in_groups_that_join_exactly(deps: Deps) -> None:
    """More clips than one mix run takes: every clip's tone still starts on its clip's first sample."""
    assets = file_path(deps.settings.storage.asset_roots[0])
    music = tone(assets / "group-tone.wav", "sine=f=1000:d=0.05,apad=whole_dur=0.2")
    count = MIX_GROUP + 5
    clips = [{"kind": "card", "duration": 0.4, "audio": music.as_uri(), "lines": [f"{i}"]} for i in range(count)]
    job = parse_job({"video_id": "audio-groups", "profile": {"width": 64, "height": 64}, "clips": clips})
    plan = video_only(plan_video(job))
    built = await ActivityEnvironment().run(
        AudioActivities(deps).build, AudioWork(plan, job.loudness, job.tts_voice, job.tts_speed)
    )
    track = file_path(built.uri)
    assert read_movie(track).audio.seconds == pytest.approx(count * 0.4, abs=1e-3)  # type: ignore[union-attr]
    starts = onsets(audio_samples(track), gap_s=0.1)
    assert len(starts) == count
    for n, found in enumerate(starts):
        assert abs(found - 0.4 * n) < 0.005, (n, found)


async def test_the_delivered_sound_starts_on_its_frames_within_a_tenth_of_a_millisecond(deps: Deps) -> None:
    """The loudness stage's limiter looks ahead 1 ms; its delay is compensated, so sound and picture stay together.

    Each clip's music is a loud tone from its first sample: in the delivered AAC (decoded with its priming
    removed, as players do) every tone starts on its clip's first sample, give or take 0.1 ms.
    """
    assets = file_path(deps.settings.storage.asset_roots[0])
    music = tone(assets / "sync-tone.wav", "sine=f=1000:d=0.2,apad=whole_dur=0.5")
    clips = [{"kind": "card", "duration": 0.5 + n / 30, "audio": music.as_uri(), "lines": [f"{n}"]} for n in range(6)]
    job = parse_job({"video_id": "audio-sync", "profile": {"width": 64, "height": 64}, "clips": clips})
    plan = video_only(plan_video(job))
    built = await ActivityEnvironment().run(
        AudioActivities(deps).build, AudioWork(plan, job.loudness, job.tts_voice, job.tts_speed)
    )
    samples = audio_samples(file_path(built.uri))
    starts = np.cumsum([0] + [samples_for(c.frames, PROFILE.fps) for c in plan.clips])[:-1]
    peak = np.abs(samples).max()
    offsets = []
    for start in starts:
        window = samples[max(0, start - 960) : start + 960]
        first = int(np.flatnonzero(np.abs(window) > peak / 4)[0]) + max(0, start - 960)
        offsets.append((first - int(start)) / 48)  # ms
    # A 1 kHz sine from phase 0 first passes a quarter of its peak 0.04 ms in.
    assert all(abs(offset - 0.04) <= 0.1 for offset in offsets), offsets
