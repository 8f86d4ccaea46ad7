"""The activities alone (ActivityEnvironment) over real ffmpeg and real files."""

from __future__ import annotations

import subprocess
from typing import Any

import numpy as np
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.assemble import AssembleActivities
from activities.render import RenderActivities
from contracts import names
from contracts.job import parse_job
from contracts.plan import plan_video
from contracts.records import ClipWork, ConcatWork, UploadInput
from engine.deps import Deps
from engine.settings import file_uri
from engine.storage import file_path
from tests.media import audio_samples, frame, onsets, streams

HOSTILE = 'It\'s 100% "fine": %{pts} C:\\dir ; [x]\nnew line 🎬'


def make_asset(deps: Deps, name: str, *args: str) -> str:
    path = file_path(deps.settings.storage.asset_roots[0]) / name
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args, str(path)], check=True)
    return file_uri(path)


def tone_burst(deps: Deps, name: str) -> str:
    """50 ms of 1 kHz then silence: its onset marks where a clip's audio starts."""
    return make_asset(deps, name, "-f", "lavfi", "-i", "sine=f=1000:d=0.05", "-af", "apad=whole_dur=0.3")


def clip_inputs(video_id: str, clips: list[dict[str, Any]], **job: Any) -> list[ClipWork]:
    parsed = parse_job({"video_id": video_id, "profile": {"width": 320, "height": 180}, "clips": clips, **job})
    plan = plan_video(parsed)
    return [ClipWork(video_id, c, plan.profile, parsed.tts_voice, parsed.tts_speed) for c in plan.clips]


async def test_card_with_image_audio_and_hostile_text(deps: Deps) -> None:
    image = make_asset(deps, "bg.png", "-f", "lavfi", "-i", "testsrc2=s=640x480", "-frames:v", "1")
    audio = make_asset(deps, "music.wav", "-f", "lavfi", "-i", "sine=f=440:d=5")
    [inp] = clip_inputs(
        "engine-card", [{"kind": "card", "duration": 1.5, "image": image, "audio": audio, "lines": [HOSTILE]}]
    )
    beats: list[dict[str, Any]] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details[0])
    result = await env.run(RenderActivities(deps).render, inp)

    assert not result.skipped and result.encoder == "libx264" and result.frames == 45
    info = streams(file_path(result.uri))
    assert info["video"]["codec_name"] == "h264" and int(info["video"]["nb_read_frames"]) == 45
    assert (info["video"]["width"], info["video"]["height"]) == (320, 180)
    assert info["audio"]["codec_name"] == "pcm_s16le"
    assert int(info["audio"]["duration_ts"]) == 45 * 1600  # audio exactly as long as the frames
    rendered = [b for b in beats if b["stage"] == "rendering"]  # every phase beats; the encode reports frames
    assert rendered and rendered[-1]["frames_done"] == 45 and rendered[-1]["segments_done"] == 1
    assert beats[-1]["stage"] == "removing checkpoints"

    again = await ActivityEnvironment().run(RenderActivities(deps).render, inp)
    assert again.skipped and again.uri == result.uri


async def test_question_narration_is_spoken(deps: Deps) -> None:
    [question, _reveal] = clip_inputs(
        "engine-q",
        [{"kind": "question", "question": HOSTILE, "duration": 2, "answers": ["a", "b", "c", "d"], "correct": "B"}],
    )
    result = await ActivityEnvironment().run(RenderActivities(deps).render, question)
    assert result.narration == "tts"
    samples = audio_samples(file_path(result.uri))
    assert len(samples) == 60 * 1600
    assert float(np.sqrt(np.mean(samples**2))) > 0.01  # espeak-ng spoke, not silence
    picture = frame(file_path(result.uri), 0.5, 320, 180)
    assert picture.std() > 10  # text was drawn onto the plain background


@pytest.mark.parametrize(
    ("asset", "error_type", "needle"),
    [
        ("missing.png", names.BAD_ASSET, "does not exist"),
        ("not-an-image.png", names.BAD_ASSET, "not readable media"),
        ("/etc/hostname", names.FORBIDDEN_PATH, "outside the allowed roots"),
    ],
)
async def test_bad_assets_fail_for_good_naming_the_asset(deps: Deps, asset: str, error_type: str, needle: str) -> None:
    root = file_path(deps.settings.storage.asset_roots[0])
    (root / "not-an-image.png").write_text("this is not a PNG")
    uri = file_uri(asset if asset.startswith("/") else root / asset)
    [inp] = clip_inputs("engine-bad", [{"kind": "card", "duration": 1, "image": uri}])
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(RenderActivities(deps).render, inp)
    assert caught.value.type == error_type and caught.value.non_retryable
    assert needle in caught.value.message and uri in caught.value.message


async def test_check_job_refuses_outputs_outside_roots(deps: Deps) -> None:
    check = AssembleActivities(deps).check
    ok = await ActivityEnvironment().run(check, "v1", None, [])
    assert ok.output_uri == f"{deps.settings.storage.output_roots[0]}/v1.mp4"
    for output in ("file:///etc/cron.d/x.mp4", f"{deps.settings.storage.output_roots[0]}/../x.mp4"):
        with pytest.raises(ApplicationError) as caught:
            await ActivityEnvironment().run(check, "v1", output, [])
        assert caught.value.type == names.FORBIDDEN_PATH and "output_uri" in caught.value.message


async def test_joins_keep_audio_in_sync_and_publish_once(deps: Deps) -> None:
    """Each clip starts with a tone; after the join every tone starts where its clip's frames do."""
    durations = [1.0, 1.5, 0.7]
    clips = [
        {"kind": "card", "duration": d, "audio": tone_burst(deps, f"tone{i}.wav"), "lines": [f"clip {i}"]}
        for i, d in enumerate(durations)
    ]
    inputs = clip_inputs("engine-join", clips)
    rendered = [await ActivityEnvironment().run(RenderActivities(deps).render, i) for i in inputs]
    assemble = AssembleActivities(deps)
    joined = await ActivityEnvironment().run(
        assemble.concat, ConcatWork("engine-join", [r.uri for r in rendered], 30, 96)
    )
    assert joined.frames == 96 and not joined.reencoded
    video = file_path(joined.uri)
    info = streams(video)
    assert info["video"]["codec_name"] == "h264" and info["audio"]["codec_name"] == "aac"
    assert abs(float(info["audio"]["duration"]) - 96 / 30) < 1 / 30
    starts = onsets(audio_samples(video))
    assert len(starts) == 3
    for found, expected in zip(starts, [0.0, 1.0, 2.5], strict=True):
        assert abs(found - expected) < 0.005, (starts, expected)

    output = f"{deps.settings.storage.output_roots[0]}/engine-join.mp4"
    published = await ActivityEnvironment().run(assemble.upload_video, UploadInput("engine-join", joined.uri, output))
    assert published.bytes == file_path(output).stat().st_size > 0
    assert not file_path(deps.settings.work_uri_for("engine-join")).exists()  # intermediates cleaned
    again = await ActivityEnvironment().run(assemble.upload_video, UploadInput("engine-join", joined.uri, output))
    assert again.bytes == published.bytes  # a retried upload after success is harmless


async def test_clips_from_different_encoders_are_reencoded_at_the_join(deps: Deps) -> None:
    """As when a retry lands on a CPU worker mid-video: stream copy would glitch, so the join re-encodes."""
    [inp] = clip_inputs("engine-mixed", [{"kind": "card", "duration": 1, "lines": ["cpu"]}])
    rendered = await ActivityEnvironment().run(RenderActivities(deps).render, inp)
    other = file_path(deps.settings.storage.work_uri) / "engine-mixed" / "other.mov"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=320x180:r=30:d=1", "-f", "lavfi",
         "-i", "anullsrc=r=48000:cl=stereo:d=1", "-c:v", "libx264", "-profile:v", "baseline", "-g", "60",
         "-c:a", "pcm_s16le", "-shortest", str(other)],
        check=True,
    )  # fmt: skip
    uris = [rendered.uri, file_uri(other)]
    assemble = AssembleActivities(deps)
    same = await ActivityEnvironment().run(
        assemble.concat, ConcatWork("engine-mixed", uris, 30, 60, clip_encoders=["libx264", "libx264"])
    )
    assert not same.reencoded  # one encoder reported: trusted, no probing
    mixed = await ActivityEnvironment().run(
        assemble.concat, ConcatWork("engine-mixed", uris, 30, 60, clip_encoders=["libx264", "h264_nvenc"])
    )
    assert mixed.reencoded and mixed.frames == 60
    assert int(streams(file_path(mixed.uri))["video"]["nb_read_frames"]) == 60
