"""A theme's looping video background: validated by field, hashed only when set, rendered over real
ffmpeg as a moving, silent picture behind the card, and resumed mid-clip frame for frame."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.render import RenderActivities
from activities.validate import job_hash
from contracts.job import JobError, parse_job
from contracts.plan import plan_video
from contracts.records import ClipWork
from contracts.themes import Background
from engine.deps import Deps
from engine.media.themed import clip_theme, regions
from engine.settings import Settings
from engine.storage import file_path
from tests.media import audio_samples
from tests.test_render_engine import make_asset
from tests.test_resume_engine import interrupt, psnr, resume

SAMPLE = Path(__file__).parent.parent / "examples" / "trivia-sample.json"
W, H, FPS = 320, 180, 30
LOOP_FRAMES = 40
"""The background: 40 frames at 25 fps, 1.6 s, so a 2 s segment ends in its second pass."""


def sample(**extra: Any) -> dict[str, Any]:
    raw: dict[str, Any] = json.loads(SAMPLE.read_text())
    return {**raw, **extra}


@pytest.mark.usefixtures("engine_2")  # the keys below were recorded at engine version 2
def test_themes_without_a_video_hash_and_key_their_clips_as_before() -> None:
    # Values from before background videos existed: a running video keeps its clips and its published output.
    named = parse_job(sample(theme={"extends": "neon", "motion": "none", "transition": "cut"}))  # neon as it was
    assert job_hash(named) == "2ab76fdda94dcfe695d900f6734947c7e91ca870894e6f4555c678ca0f766bbd"
    assert plan_video(named).clips[0].key == "trivia-sample/clips/0000-f9615c8ca7f88196.mov"
    inline = parse_job(sample(theme={"name": "mine", "background": {"image": "file:///a/b.png"}}))
    assert job_hash(inline) == "b74ea8b4cffd184b3f8c17159f8da7f7eb654c215c3590cf91e3b4619944de38"
    assert plan_video(inline).clips[0].key == "trivia-sample/clips/0000-c85ac6d3e6d439aa.mov"
    looping = parse_job(sample(theme={"name": "mine", "background": {"video": "file:///a/loop.mp4"}}))
    assert looping.theme is not None and looping.theme.background.video == "file:///a/loop.mp4"
    assert "file:///a/loop.mp4" in looping.asset_uris()
    assert plan_video(looping).clips[0].key != plan_video(inline).clips[0].key
    # A card with its own colour is drawn on it: the loop is not even fetched for it.
    card = looping.clips[-2]
    assert card.own_background and looping.theme is not None
    assert clip_theme(looping.theme, card).background == Background(colour="#0B1F4D")
    assert clip_theme(looping.theme, looping.clips[0]).background.video == "file:///a/loop.mp4"


@pytest.mark.parametrize(
    ("background", "field", "message"),
    [
        ({"video": "http://x/loop.mp4"}, "theme.background.video", "must be a file:// or s3:// URI"),
        ({"video": 3}, "theme.background.video", "expected a file:// or s3:// URI, got a number"),
        ({"video": "file:///a/loop.mp4", "colour": "black"}, "theme.background",
         "needs exactly one of colour, gradient, image or video, got colour, video"),
    ],
)  # fmt: skip
def test_a_bad_background_video_is_refused_naming_the_field(background: Any, field: str, message: str) -> None:
    with pytest.raises(JobError) as refused:
        parse_job(sample(theme={"background": background}))
    problems = dict(refused.value.problems)
    assert field in problems, problems
    assert problems[field].startswith(message), problems[field]


def loop_asset(deps: Deps, name: str) -> str:
    """testsrc2 (every frame differs) at 4:3, 25 fps, with a loud tone the card must not play."""
    return make_asset(deps, name, "-f", "lavfi", "-i", f"testsrc2=s=320x240:r=25:d={LOOP_FRAMES / 25}",
                      "-f", "lavfi", "-i", "sine=f=440:d=2", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                      "-g", "12", "-c:a", "aac", "-shortest")  # fmt: skip


def card_input(video_id: str, uri: str, seconds: float = 16.0) -> ClipWork:
    card = {"kind": "card", "duration": seconds, "lines": ["Loop"], "narration": "Loop"}
    job = parse_job({"video_id": video_id, "profile": {"width": W, "height": H, "fps": FPS},
                     "clips": [card], "theme": {"background": {"video": uri}}})  # fmt: skip
    [clip] = plan_video(job).clips
    return ClipWork(video_id, clip, job.profile, job.tts_voice, job.tts_speed, tts_engine="none")


def frames(path: Path) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         check=True, capture_output=True).stdout  # fmt: skip
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, H, W, 3).astype(np.int16)


def asset_frame(uri: str, index: int) -> np.ndarray:
    """Source frame `index`, scaled to cover the clip's frame and cropped, as the background shows it."""
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(file_path(uri)), "-vf",
                          f"select=eq(n\\,{index}),scale={W}:{H}:force_original_aspect_ratio=increase,crop={W}:{H}",
                          "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         check=True, capture_output=True).stdout  # fmt: skip
    return np.frombuffer(raw, dtype=np.uint8).reshape(H, W, 3).astype(np.int16)


def outside_text(frame: np.ndarray, inp: ClipWork) -> np.ndarray:
    """The frame above the card's text region: background only."""
    assert inp.clip.theme is not None
    return frame[: regions(inp.profile, inp.clip.theme).card.y]


@pytest.mark.parametrize(("container", "how"), [("mp4", "drain"), ("ts", "cancel")])
async def test_a_card_on_a_looping_video_resumes_mid_clip_frame_for_frame(deps: Deps, container: str, how: str) -> None:
    """Stopped by a draining worker, or cancelled (its ffmpeg killed mid-segment), then resumed by the retry.

    MPEG-TS has no index: its picture is copied into one that has, and loops and seeks the same.
    """
    uri = loop_asset(deps, f"loop-{uuid.uuid4().hex[:6]}.{container}")
    inp = card_input(f"loop-resume-{container}-{uuid.uuid4().hex[:6]}", uri)
    beats = await interrupt(deps, inp, after_segments=1, how=how)
    done = beats[-1]["segments_done"]
    assert 1 <= done < 8
    result = await resume(deps, inp, beats[-1])
    assert result.reused_frames == done * 60
    reference = await ActivityEnvironment().run(
        RenderActivities(deps).render, card_input(f"loop-whole-{container}-{uuid.uuid4().hex[:6]}", uri)
    )
    resumed, whole = frames(file_path(result.uri)), frames(file_path(reference.uri))
    assert len(resumed) == len(whole) == 480
    worst = min(psnr(a, b) for a, b in zip(resumed, whole, strict=True))
    assert worst > 30, worst  # the same source frame at every index (one frame to the next: under 20 dB)
    # 25 fps shown at 30 repeats a frame now and then; where the picture changes, a shift would show.
    changes = [i for i in range(done * 60, done * 60 + 12) if psnr(whole[i], whole[i + 1]) < 25]
    assert changes and all(psnr(resumed[i], whole[i + 1]) < worst - 5 for i in changes)

    # The background moves, shows the asset's frames scaled to cover, and loops: card frame i shows
    # the source frame nearest its time, i * 25 / 30, in the pass it has reached (mod 40).
    for i in (0, 7, 61, 130, 479):
        source = asset_frame(uri, round(i * 25 / 30) % LOOP_FRAMES)
        assert psnr(outside_text(whole[i], inp), outside_text(source, inp)) > 28, i
    assert psnr(outside_text(whole[0], inp), outside_text(whole[12], inp)) < 20
    assert psnr(whole[0], whole[48]) > 35  # 1.6 s later: the same source frame, the next pass
    # Its sound is not played.
    assert np.abs(audio_samples(file_path(reference.uri))).max() < 1e-3


async def test_a_background_video_that_is_not_a_video_fails_naming_the_field(deps: Deps) -> None:
    path = file_path(deps.settings.storage.asset_roots[0]) / "not-a-video.mp4"
    path.write_text("not a video")
    inp = card_input(f"loop-bad-{uuid.uuid4().hex[:6]}", f"file://{path}", seconds=1)
    with pytest.raises(ApplicationError) as failed:
        await ActivityEnvironment().run(RenderActivities(deps).render, inp)
    said = str(failed.value)
    assert said.startswith(f"BadAsset: theme.background.video: video asset file://{path} is not readable media"), said


async def test_a_background_video_on_s3_is_fetched_like_any_asset_and_confined_to_the_roots(
    settings: Settings, s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret-value")
    bucket = f"loops-{uuid.uuid4().hex[:8]}"
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=bucket)
    local = tmp_path / "loop.webm"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=320x180:r=24:d=1",
                    "-c:v", "libvpx-vp9", "-deadline", "realtime", str(local)], check=True)  # fmt: skip
    client.upload_file(str(local), bucket, "assets/loop.webm")
    on_s3 = settings.replace(
        storage={"asset_roots": (f"s3://{bucket}/assets",), "s3": {"endpoint_url": s3_endpoint, "region": "us-east-1"}}
    )
    deps = Deps.from_settings(on_s3)
    inp = card_input(f"loop-s3-{uuid.uuid4().hex[:6]}", f"s3://{bucket}/assets/loop.webm", seconds=2)
    result = await ActivityEnvironment().run(RenderActivities(deps).render, inp)
    shown = frames(file_path(result.uri))
    assert len(shown) == 60
    assert psnr(outside_text(shown[0], inp), outside_text(shown[30], inp)) > 30  # 1 s later: the next pass
    assert psnr(outside_text(shown[0], inp), outside_text(shown[6], inp)) < 20
    outside = card_input(f"loop-s3-out-{uuid.uuid4().hex[:6]}", f"s3://{bucket}/private/loop.webm", seconds=1)
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(RenderActivities(deps).render, outside)
    assert caught.value.non_retryable and "theme.background.video: s3://" in str(caught.value), str(caught.value)
