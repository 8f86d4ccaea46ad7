"""The delivered sound and timeline, measured back from real renders: exact lengths, fades, loudness."""

from __future__ import annotations

import itertools
import json
import subprocess
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment

from activities.assemble import AssembleActivities
from activities.audio import AudioActivities
from activities.narration import NarrationActivities
from activities.render import RenderActivities
from contracts import names
from contracts.job import LOUDNESS_TARGETS, Job, JobError, parse_job
from contracts.plan import NARRATION_TAIL_SECONDS, fit_narration, plan_video, video_only
from contracts.records import AudioWork, ClipWork, ConcatWork, Narration, NarrationWork
from engine.deps import Deps
from engine.media.graphs import concat_list
from engine.settings import Settings
from engine.storage import file_path
from starter import RenderClient
from tests.conftest import failure_of
from tests.media import audio_samples, onsets, streams


def packet_steps(path: Path, stream: str) -> set[int]:
    """The distinct gaps between consecutive presentation timestamps of one stream."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", stream, "-show_entries", "packet=pts", "-of", "json", str(path)],
        check=True,
        capture_output=True,
    ).stdout
    pts = sorted(int(p["pts"]) for p in json.loads(out)["packets"])
    return {b - a for a, b in itertools.pairwise(pts)}


async def test_sixty_odd_length_clips_last_exactly_their_frames(deps: Deps) -> None:
    """31 frames at 30 fps lasts 1.0333… s, which no millisecond container duration holds."""
    clips = [{"kind": "card", "duration": 31 / 30, "lines": [f"{i}"]} for i in range(60)]
    job = parse_job({"video_id": "timing-60", "profile": {"width": 64, "height": 64}, "clips": clips})
    plan = plan_video(job)
    assert {c.frames for c in plan.clips} == {31}
    render = RenderActivities(deps).render
    rendered = [
        await ActivityEnvironment().run(render, ClipWork(job.video_id, c, plan.profile, "en", 1.0)) for c in plan.clips
    ]
    joined = await ActivityEnvironment().run(
        AssembleActivities(deps).concat,
        ConcatWork(job.video_id, [r.uri for r in rendered], 30, plan.frames, [r.encoder for r in rendered]),
    )
    video = file_path(joined.uri)
    info = streams(video)
    for kind in ("video", "audio"):
        assert abs(float(info[kind]["duration"]) - 62.0) < 1 / 30, (kind, info[kind]["duration"])
    assert int(info["video"]["nb_read_frames"]) == 1860
    assert len(packet_steps(video, "v")) == 1  # every frame lasts the same
    assert packet_steps(video, "a") == {1024}  # no AAC frame inserted or dropped at a join
    # No silence inserted: the planned samples, plus the padding of the last AAC frame (decoders keep it).
    assert 0 <= len(audio_samples(video)) - 62 * 48_000 < 1024


def test_concat_durations_add_up_exactly_at_any_clip_count() -> None:
    """Each duration is whole microseconds, yet their running sum never drifts from the frames' time."""
    frames = [31, 29, 1, 301] * 125
    listing = concat_list([Path(f"/w/{n}.mov") for n in range(len(frames))], frames, 30)
    durations = [
        int(line.split()[1].removesuffix("us")) for line in listing.splitlines() if line.startswith("duration")
    ]
    running = 0
    for n, duration in enumerate(durations):
        running += duration
        assert abs(running - sum(frames[: n + 1]) * 1_000_000 / 30) <= 0.5


async def test_a_clip_ends_in_a_fade_not_a_cut(deps: Deps) -> None:
    """A tone longer than its clip is faded out over the last frames instead of stopping at full level."""
    music = file_path(deps.settings.storage.asset_roots[0]) / "long-tone.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=f=440:d=3", str(music)], check=True)
    clips = [{"kind": "card", "duration": 1.0, "audio": music.as_uri(), "lines": ["fade"]}]
    job = parse_job({"video_id": "fade-out", "profile": {"width": 64, "height": 64}, "clips": clips})
    [clip] = plan_video(job).clips
    result = await ActivityEnvironment().run(
        RenderActivities(deps).render, ClipWork(job.video_id, clip, job.profile, "en", 1.0)
    )
    samples = audio_samples(file_path(result.uri))
    assert len(samples) == 48_000
    before = np.abs(samples[-4800:-2400]).max()  # 100 to 50 ms before the end
    last = np.abs(samples[-48:]).max()  # the last millisecond
    assert before > 0.05 and last < before / 20, (before, last)


LONG_NARRATION = (
    "Eight seconds of speech is a long sentence for a short card, and it keeps on going well past the "
    "point where the card would have ended, so that nothing of it may be cut."
)


def narrated_job(video_id: str, fit: str = "grow", **clip: Any) -> Job:
    card = {"kind": "card", "duration": 6, "lines": ["narrated"], "narration": LONG_NARRATION, **clip}
    return parse_job(
        {"video_id": video_id, "profile": {"width": 64, "height": 64}, "clips": [card], "narration_fit": fit}
    )


async def narrate(deps: Deps, job: Job) -> Narration:
    lines = [(i, c.narration) for i, c in enumerate(job.clips) if c.narration]
    inp = NarrationWork(job.video_id, lines, job.tts_voice, job.tts_speed)
    result: Narration = await ActivityEnvironment().run(NarrationActivities(deps).synthesize, inp)
    return result


async def test_a_narration_longer_than_its_clip_grows_the_clip_and_is_never_cut(deps: Deps) -> None:
    job = narrated_job("narration-grows")
    narrated = await narrate(deps, job)
    [take] = narrated.takes
    assert take.samples > 8 * 48_000, take.samples / 48_000  # the engine really speaks for more than 8 s
    plan = fit_narration(job, plan_video(job), narrated.takes)
    [clip] = plan.clips
    assert clip.frames * 1600 >= take.samples + NARRATION_TAIL_SECONDS * 48_000
    assert clip.grown_frames == clip.frames - 180 > 0 and clip.narration_key == take.key
    assert clip.key != plan_video(job).clips[0].key  # a longer clip is another intermediate

    result = await ActivityEnvironment().run(
        RenderActivities(deps).render, ClipWork(job.video_id, clip, plan.profile, "en", 1.0)
    )
    assert result.grown_frames == clip.grown_frames and result.frames == clip.frames
    samples = audio_samples(file_path(result.uri))
    assert len(samples) == clip.frames * 1600
    speech = np.flatnonzero(np.abs(samples) > 0.02)
    assert speech[-1] / 48_000 > 7.5  # speech goes on after the 6 s the job asked for...
    assert len(samples) - speech[-1] > 0.1 * 48_000  # ...and ends before the clip does


async def test_a_narration_that_does_not_fit_refuses_the_job_when_asked(deps: Deps) -> None:
    job = narrated_job("narration-refused", fit="refuse")
    narrated = await narrate(deps, job)
    with pytest.raises(JobError) as caught:
        fit_narration(job, plan_video(job), narrated.takes)
    assert caught.value.field == "clips[0].narration"
    assert "does not fit the 6 s clip" in caught.value.message


def r128(path: Path) -> tuple[float, float]:
    """Integrated loudness and true peak, as ffmpeg's EBU R128 meter reports them."""
    err = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostats", "-i", str(path), "-map", "0:a", "-af",
         "ebur128=peak=true:framelog=verbose", "-f", "null", "-"],
        check=True, capture_output=True, text=True,
    ).stderr  # fmt: skip
    summary = err[err.rfind("Summary:") :]
    integrated = float(summary.split("I:")[1].split("LUFS")[0])
    peak = float(summary.split("Peak:")[1].split("dBFS")[0])
    return integrated, peak


async def test_music_and_narration_meet_the_loudness_target(deps: Deps) -> None:
    """A loud music bed (peaking at full scale) under narration, then a music-only clip."""
    music = file_path(deps.settings.storage.asset_roots[0]) / "loud-bed.wav"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "anoisesrc=c=pink:a=0.9:d=12", "-f", "lavfi",
         "-i", "sine=f=220:d=12", "-filter_complex", "amix=inputs=2:normalize=0,alimiter=limit=1", str(music)],
        check=True,
    )  # fmt: skip
    clips = [
        {"kind": "card", "duration": 9, "lines": ["one"], "audio": music.as_uri(), "narration": LONG_NARRATION},
        {"kind": "card", "duration": 3, "lines": ["two"], "audio": music.as_uri()},
    ]
    job = parse_job({"video_id": "loudness", "profile": {"width": 64, "height": 64}, "clips": clips})
    plan = fit_narration(job, plan_video(job), (await narrate(deps, job)).takes)
    render = RenderActivities(deps).render
    rendered = [
        await ActivityEnvironment().run(render, ClipWork(job.video_id, c, plan.profile, "en", 1.0)) for c in plan.clips
    ]
    concat = AssembleActivities(deps).concat
    for name, target in LOUDNESS_TARGETS.items():
        inp = ConcatWork(job.video_id, [r.uri for r in rendered], 30, plan.frames, loudness=name)
        joined = await ActivityEnvironment().run(concat, inp)
        integrated, peak = r128(file_path(joined.uri))
        assert abs(integrated - target.integrated_lufs) <= 1.0, (name, integrated)
        assert peak <= target.true_peak_dbtp + 0.1, (name, peak)
        assert joined.loudness is not None and joined.loudness.integrated_lufs is not None
        assert abs(joined.loudness.integrated_lufs - integrated) <= 0.1  # what the result reports is measured
        assert joined.loudness.target_lufs == target.integrated_lufs


async def test_music_ducks_under_the_narration(deps: Deps) -> None:
    """A 6 kHz tone as the bed (above the voice's formants): it is clearly quieter while the voice speaks."""
    tone = file_path(deps.settings.storage.asset_roots[0]) / "bed-6k.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=f=6000:d=14", str(tone)], check=True)
    job = narrated_job("ducked", duration=11, audio=tone.as_uri())
    narrated = await narrate(deps, job)
    plan = fit_narration(job, plan_video(job), narrated.takes)
    [clip] = plan.clips
    assert clip.grown_frames == 0
    result = await ActivityEnvironment().run(
        RenderActivities(deps).render, ClipWork(job.video_id, clip, plan.profile, "en", 1.0)
    )
    samples = audio_samples(file_path(result.uri))
    spoken = narrated.takes[0].samples / 48_000

    def tone_level(start: float, end: float) -> float:
        part = samples[int(start * 48_000) : int(end * 48_000)]
        spectrum = np.abs(np.fft.rfft(part * np.hanning(len(part))))
        at = round(6000 * len(part) / 48_000)
        return float(spectrum[at - 2 : at + 3].max()) / len(part)

    during, after = tone_level(2, 4), tone_level(spoken + 0.6, 10.9)
    assert 20 * np.log10(after / during) >= 6, (during, after)


async def test_the_sound_built_once_is_muxed_in_sync_with_video_only_clips(deps: Deps) -> None:
    """Each clip's music starts with a tone; in the muxed video every tone starts where its clip's frames do."""
    assets = file_path(deps.settings.storage.asset_roots[0])
    clips = []
    for i, duration in enumerate([1.0, 1.5, 0.7]):
        tone = assets / f"once-tone{i}.wav"
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=f=1000:d=0.05", "-af", "apad=whole_dur=0.3",
             str(tone)],
            check=True,
        )  # fmt: skip
        clips.append({"kind": "card", "duration": duration, "audio": tone.as_uri(), "lines": [f"{i}"]})
    job = parse_job({"video_id": "audio-once", "profile": {"width": 64, "height": 64}, "clips": clips})
    plan = video_only(plan_video(job))
    render = RenderActivities(deps).render
    rendered = [
        await ActivityEnvironment().run(render, ClipWork(job.video_id, c, plan.profile, "en", 1.0, video_only=True))
        for c in plan.clips
    ]
    assert all(r.narration == "track" and "audio" not in streams(file_path(r.uri)) for r in rendered)
    built = await ActivityEnvironment().run(
        AudioActivities(deps).build, AudioWork(plan, job.loudness, job.tts_voice, job.tts_speed)
    )
    assert built.loudness.target_lufs == -14.0
    joined = await ActivityEnvironment().run(
        AssembleActivities(deps).concat,
        ConcatWork(job.video_id, [r.uri for r in rendered], 30, 96, [r.encoder for r in rendered], audio_uri=built.uri),
    )
    video = file_path(joined.uri)
    info = streams(video)
    assert info["audio"]["codec_name"] == "aac" and int(info["video"]["nb_read_frames"]) == 96
    for kind in ("video", "audio"):
        assert abs(float(info[kind]["duration"]) - 96 / 30) < 1 / 30
    starts = onsets(audio_samples(video))
    assert len(starts) == 3
    for found, expected in zip(starts, [0.0, 1.0, 2.5], strict=True):
        assert abs(found - expected) < 0.005, (starts, expected)


@pytest.mark.usefixtures("workers")
async def test_a_failed_sound_track_stops_the_clip_renders(client: Client, settings: Settings) -> None:
    """Music ffmpeg cannot mix fails the video at once, naming its clip; the long clip beside it is stopped."""
    bad = file_path(settings.storage.asset_roots[0]) / "ten-channels-once.wav"
    with wave.open(str(bad), "wb") as out:
        out.setnchannels(10)
        out.setsampwidth(2)
        out.setframerate(48_000)
        out.writeframes(b"\0\0" * 10 * 4800)
    job = {
        "video_id": "track-fails-first",
        "profile": {"width": 64, "height": 64},
        "max_parallel_clips": 1,
        "clips": [
            {"kind": "recipe", "recipe": "mandelbrot", "duration": 300},
            {"kind": "card", "duration": 0.5, "lines": ["x"], "audio": bad.as_uri()},
        ],
    }
    await RenderClient(client).submit(job)
    error = await failure_of(client, "track-fails-first")
    assert error.type == names.FFMPEG_REJECTED and error.message.startswith("clip 2/2")
    history = await client.get_workflow_handle("track-fails-first").fetch_history()
    kinds = [e.event_type for e in history.events]
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED in kinds  # the 300 s clip was stopped
    rendered = [
        e
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
        and e.activity_task_completed_event_attributes.result.payloads
        and b"/clips/0000-" in e.activity_task_completed_event_attributes.result.payloads[0].data
    ]
    assert not rendered
