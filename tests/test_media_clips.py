"""Media clips over real ffmpeg: a video asset trimmed, fitted and with its sound kept, ducked or dropped;
an image with a slow zoom and pan; both resumed mid-clip as the same picture."""

from __future__ import annotations

import subprocess
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from PIL import Image
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.assemble import AssembleActivities
from activities.audio import AudioActivities
from activities.render import RenderActivities
from contracts import names
from contracts.job import MEDIA_DEFAULTS, JobError, parse_job
from contracts.plan import plan_video, spec_material, video_only
from contracts.records import AudioWork, ClipWork, ConcatWork
from engine.deps import Deps
from engine.settings import Settings
from engine.storage import file_path
from tests.media import audio_samples, rgb_frame, streams
from tests.test_render_engine import clip_inputs, make_asset
from tests.test_resume_engine import interrupt, psnr, resume

W, H = 320, 180


def rgb_frames(path: Path) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         check=True, capture_output=True).stdout  # fmt: skip
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, H, W, 3).astype(np.int16)


def source_frame(path: Path, seconds: float, width: int, height: int) -> np.ndarray:
    command = ["ffmpeg", "-v", "error", "-ss", f"{seconds}", "-i", str(path), "-frames:v", "1"]
    raw = subprocess.run([*command, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3).astype(np.int16)


def tone_level(samples: np.ndarray, hz: float, rate: int = 48_000) -> float:
    """Amplitude of one frequency in the samples (a windowed FFT peak), whatever else is mixed in."""
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    freqs = np.fft.rfftfreq(len(samples), 1 / rate)
    band = (freqs > hz - 5) & (freqs < hz + 5)
    return float(spectrum[band].max() / (len(samples) / 4))


def video_asset(
    deps: Deps, name: str, size: str, seconds: int = 12, audio: bool = True, pattern: str = "testsrc"
) -> str:
    """A test pattern at 25 fps (testsrc2 changes a lot from frame to frame) with a 440 Hz tone."""
    sound = ["-f", "lavfi", "-i", f"sine=f=440:d={seconds}", "-c:a", "aac"] if audio else []
    return make_asset(deps, name, "-f", "lavfi", "-i", f"{pattern}=s={size}:r=25:d={seconds}", *sound,
                      "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "50")  # fmt: skip


async def render(deps: Deps, video_id: str, clip: dict[str, Any]) -> Path:
    [inp] = clip_inputs(video_id, [clip])
    result = await ActivityEnvironment().run(RenderActivities(deps).render, inp)
    return file_path(result.uri)


async def test_video_is_trimmed_and_padded_with_its_sound_kept(deps: Deps) -> None:
    source = video_asset(deps, "pad.mp4", "240x180")
    clip = {"kind": "video", "source": source, "in": 2.5, "out": 9.0, "fit": "pad", "background": "red"}
    path = await render(deps, "media-pad", clip)

    info = streams(path)
    assert int(info["video"]["nb_read_frames"]) == 195  # 6.5 s at 30 fps, exactly
    assert int(info["audio"]["duration_ts"]) == 195 * 1600
    frames = rgb_frames(path)
    for bar in (frames[:, :, 4:36], frames[:, :, -36:-4]):  # 40 px bars either side of the 4:3 picture
        assert np.abs(bar - np.array([0xC0, 0x39, 0x2B])).max() < 12
    # The first frame is the asset at `in`: the picture sits unscaled in the middle.
    asset = file_path(source)
    middle = frames[0, :, 40:280]
    at_in, later = source_frame(asset, 2.5, 240, 180), source_frame(asset, 3.0, 240, 180)
    assert psnr(middle, at_in) > 30 and psnr(middle, later) < psnr(middle, at_in) - 5
    sound = audio_samples(path)
    assert tone_level(sound, 440) > 0.05  # the asset's tone, present


async def test_video_crop_fills_the_frame_and_dropped_sound_is_silence(deps: Deps) -> None:
    source = video_asset(deps, "crop.mp4", "320x240")
    clip = {"kind": "video", "source": source, "out": 2.0, "fit": "crop", "audio": "drop", "background": "red"}
    path = await render(deps, "media-crop", clip)

    frames = rgb_frames(path)
    assert len(frames) == 60
    # Cropped, not squeezed: the middle 320x180 of the asset, at the same scale.
    asset = source_frame(file_path(source), 0.0, 320, 240)[30:210]
    assert psnr(frames[0], asset) > 30
    assert float(np.abs(audio_samples(path)).max()) == 0.0


async def test_anamorphic_video_is_fitted_by_its_display_shape(deps: Deps) -> None:
    # 240x180 stored, 4:3 pixels: it displays as 320x180 and fills the frame without bars.
    source = make_asset(deps, "anamorphic.mp4", "-f", "lavfi", "-i", "testsrc=s=240x180:r=25:d=2",
                        "-vf", "setsar=4/3", "-c:v", "libx264", "-pix_fmt", "yuv420p")  # fmt: skip
    path = await render(deps, "media-sar", {"kind": "video", "source": source, "out": 1, "background": "red"})
    frames = rgb_frames(path)
    assert np.abs(frames[:, :, :30] - np.array([0xC0, 0x39, 0x2B])).max(axis=-1).mean() > 40  # no red bar
    widened = subprocess.run(["ffmpeg", "-v", "error", "-i", str(file_path(source)), "-frames:v", "1", "-vf",
                              "scale=320:180", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], check=True,
                             capture_output=True).stdout  # fmt: skip
    assert psnr(frames[0], np.frombuffer(widened, np.uint8).reshape(H, W, 3).astype(np.int16)) > 28


async def test_ducked_sound_sits_twelve_db_under_the_narration(deps: Deps) -> None:
    source = video_asset(deps, "duck.mp4", "320x180")
    base = {"kind": "video", "source": source, "out": 3.0, "narration": "Here is the answer."}
    kept = audio_samples(await render(deps, "media-keep", {**base, "audio": "keep"}))
    ducked = audio_samples(await render(deps, "media-duck", {**base, "audio": "duck"}))
    ratio_db = 20 * np.log10(tone_level(ducked, 440) / tone_level(kept, 440))
    assert -13 < ratio_db < -11, ratio_db
    assert np.sqrt(np.mean(ducked**2)) > 0.01  # the narration is still there


async def test_image_zooms_and_pans_smoothly(deps: Deps) -> None:
    # A white square in the middle of a dark 640x360 image: its size and place show the zoom and pan.
    image = make_asset(deps, "square.png", "-f", "lavfi", "-i", "color=c=0x202020:s=640x360",
                       "-vf", "drawbox=x=280:y=140:w=80:h=80:c=white:t=fill", "-frames:v", "1")  # fmt: skip
    clip = {"kind": "image", "source": image, "duration": 3, "zoom": [1.0, 1.5], "pan": "left"}
    path = await render(deps, "media-kenburns", clip)

    frames = rgb_frames(path)[:, :, :, 0]
    assert len(frames) == 90
    widths, centres = [], []
    for picture in frames:
        columns = np.flatnonzero((picture > 128).sum(axis=0) > 10)
        widths.append(columns[-1] - columns[0] + 1)
        centres.append((picture > 128).sum(axis=0) @ np.arange(W) / (picture > 128).sum())
    assert abs(widths[0] - 40) <= 2 and abs(widths[-1] - 60) <= 2  # 80 px at half scale, then zoomed 1.5x
    steps = np.diff(centres)
    # The view drifts toward the image's left edge, so the square moves right, a little every frame.
    assert centres[-1] - centres[0] > 30
    assert steps.min() > 0, steps  # never a step back
    assert steps.max() < 3 * np.median(steps)  # and no jumps


async def test_a_video_clip_resumes_mid_clip_as_the_same_picture(deps: Deps) -> None:
    source = video_asset(deps, "resume.mp4", "320x180", seconds=30, pattern="testsrc2")
    clip = {"kind": "video", "source": source, "in": 3.3, "out": 23.3, "fit": "pad"}
    [inp] = clip_inputs("media-resume", [clip])
    beats = await interrupt(deps, inp, after_segments=3, how="drain")
    assert 3 <= beats[-1]["segments_done"] < 10
    result = await resume(deps, inp, beats[-1])
    assert result.reused_frames == beats[-1]["segments_done"] * 60  # the retry decoded from a seek point

    [whole] = clip_inputs("media-resume-reference", [clip])
    reference = await ActivityEnvironment().run(RenderActivities(deps).render, whole)
    resumed, original = rgb_frames(file_path(result.uri)), rgb_frames(file_path(reference.uri))
    assert len(resumed) == len(original) == 600
    worst = min(psnr(a, b) for a, b in zip(resumed, original, strict=True))
    assert worst > 30, worst  # the same source frame at every index (one frame to the next: under 20 dB)
    # 25 fps shown at 30 repeats a frame now and then; where the picture changes, a shift would show.
    changes = [i for i in range(300, 320) if psnr(original[i], original[i + 1]) < 25]
    assert changes and all(psnr(resumed[i], original[i + 1]) < worst - 5 for i in changes)


async def test_image_clip_resumes_mid_clip_as_the_same_picture(deps: Deps) -> None:
    image = make_asset(deps, "resume.png", "-f", "lavfi", "-i", "testsrc2=s=640x360", "-frames:v", "1")
    clip = {"kind": "image", "source": image, "duration": 16, "zoom": [1.0, 1.3], "pan": "right"}
    [inp] = clip_inputs("media-resume-image", [clip])
    beats = await interrupt(deps, inp, after_segments=2, how="drain")
    result = await resume(deps, inp, beats[-1])
    assert result.reused_frames > 0
    [whole] = clip_inputs("media-resume-image-reference", [clip])
    reference = await ActivityEnvironment().run(RenderActivities(deps).render, whole)
    resumed, original = rgb_frames(file_path(result.uri)), rgb_frames(file_path(reference.uri))
    assert len(resumed) == len(original) == 480
    assert min(psnr(a, b) for a, b in zip(resumed, original, strict=True)) > 35


@pytest.mark.parametrize(
    ("make", "clip", "said"),
    [
        (None, {"out": 2}, "does not exist"),
        ("text", {"out": 2}, "not readable media"),
        ("short", {"in": 1, "out": 5}, "out: 5 s is past the end"),
        ("audio-only", {"out": 1}, "has no video stream"),
    ],
)
async def test_bad_video_assets_fail_at_once_naming_the_field(
    deps: Deps, make: str | None, clip: dict[str, Any], said: str
) -> None:
    root = file_path(deps.settings.storage.asset_roots[0])
    name = f"bad-{make}.mp4"
    if make == "text":
        (root / name).write_text("not a video")
    elif make == "short":
        video_asset(deps, name, "320x180", seconds=2)
    elif make == "audio-only":
        make_asset(deps, name, "-f", "lavfi", "-i", "sine=d=2", "-c:a", "aac")
    [inp] = clip_inputs(f"media-bad-{make}", [{"kind": "video", "source": f"file://{root / name}", **clip}])
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(RenderActivities(deps).render, inp)
    assert caught.value.type == names.BAD_ASSET and caught.value.non_retryable
    assert said in str(caught.value)


@pytest.mark.parametrize(
    ("clip", "problem"),
    [
        ({"kind": "video", "source": "file:///a.mp4"}, "clips[0].out: is required"),
        ({"kind": "video", "source": "file:///a.mp4", "in": 4, "out": 3}, "clips[0].out: must be at least 0.1 s after"),
        ({"kind": "video", "source": "file:///a.mp4", "out": 3, "fit": "fill"}, "clips[0].fit: expected one of pad"),
        ({"kind": "video", "source": "file:///a.mp4", "out": 3, "audio": "loud"}, "clips[0].audio: expected one of"),
        ({"kind": "video", "source": "https://x/a.mp4", "out": 3}, "clips[0].source: must be a file:// or s3://"),
        ({"kind": "image", "source": "file:///a.png", "duration": 3, "zoom": [1, 5]}, "clips[0].zoom[1]: must be"),
        ({"kind": "image", "source": "file:///a.png", "duration": 3, "pan": "in"}, "clips[0].pan: expected one of"),
        ({"kind": "image", "source": "file:///a.png"}, "clips[0].duration: is required"),
    ],
)
def test_media_fields_are_checked_by_name(clip: dict[str, Any], problem: str) -> None:
    with pytest.raises(JobError) as caught:
        parse_job({"video_id": "media-fields", "clips": [clip]})
    assert problem in str(caught.value)


def test_media_clip_assets_are_checked_before_rendering() -> None:
    job = parse_job({"video_id": "media-assets", "clips": [
        {"kind": "video", "source": "s3://media/a.mp4", "in": 1, "out": 2.5},
        {"kind": "image", "source": "file:///srv/b.png", "duration": 2},
    ]})  # fmt: skip
    assert job.asset_uris() == ["file:///srv/b.png", "s3://media/a.mp4"]
    assert job.clips[0].duration == 1.5 and job.clips[0].trim_in == 1


def test_clips_without_media_fields_keep_their_spec_hashes() -> None:
    """Clips rendered before media clips existed keep their keys, so a resubmitted video reuses them."""
    card, video = parse_job({"video_id": "media-hash", "clips": [
        {"kind": "card", "duration": 2, "lines": ["a"]},
        {"kind": "video", "source": "file:///a.mp4", "out": 2, "fit": "crop"},
    ]}).clips  # fmt: skip
    assert set(spec_material(card)) == set(asdict(card)) - set(MEDIA_DEFAULTS)
    assert {"video", "fit"} <= set(spec_material(video))


async def test_a_video_asset_on_s3_is_fetched_like_any_asset(
    settings: Settings, s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret-value")
    bucket = f"media-{uuid.uuid4().hex[:8]}"
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=bucket)
    local = tmp_path / "clip.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=s=320x180:r=30:d=3", "-f", "lavfi",
                    "-i", "sine=f=440:d=3", "-c:v", "libx264", "-c:a", "flac", str(local)], check=True)  # fmt: skip
    client.upload_file(str(local), bucket, "assets/clip.mkv")
    on_s3 = settings.replace(
        storage={"asset_roots": (f"s3://{bucket}/assets",), "s3": {"endpoint_url": s3_endpoint, "region": "us-east-1"}}
    )
    deps = Deps.from_settings(on_s3)
    [inp] = clip_inputs("media-s3", [{"kind": "video", "source": f"s3://{bucket}/assets/clip.mkv", "in": 1, "out": 2}])
    result = await ActivityEnvironment().run(RenderActivities(deps).render, inp)
    assert result.narration == "asset" and result.frames == 30
    assert tone_level(audio_samples(file_path(result.uri)), 440) > 0.05
    # Outside the asset roots is refused before anything is fetched.
    [outside] = clip_inputs("media-s3-out", [{"kind": "video", "source": f"s3://{bucket}/private/x.mkv", "out": 1}])
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(RenderActivities(deps).render, outside)
    assert caught.value.non_retryable and "source:" in str(caught.value)


async def test_media_clips_join_other_clips_by_stream_copy(deps: Deps) -> None:
    video = video_asset(deps, "join.mp4", "320x240")
    image = make_asset(deps, "join.png", "-f", "lavfi", "-i", "testsrc2=s=400x300", "-frames:v", "1")
    inputs = clip_inputs("media-join", [
        {"kind": "card", "duration": 1, "lines": ["Next: the goal"]},
        {"kind": "video", "source": video, "in": 0.5, "out": 2.0, "fit": "crop"},
        {"kind": "image", "source": image, "duration": 1.5, "pan": "up"},
    ])  # fmt: skip
    rendered = [await ActivityEnvironment().run(RenderActivities(deps).render, inp) for inp in inputs]
    joined = await ActivityEnvironment().run(
        AssembleActivities(deps).concat, ConcatWork("media-join", [r.uri for r in rendered], 30, 120)
    )
    assert joined.frames == 120 and not joined.reencoded  # same codec parameters as every other clip
    info = streams(file_path(joined.uri))
    assert int(info["video"]["nb_read_frames"]) == 120
    assert abs(float(info["audio"]["duration"]) - 4.0) < 1 / 30


async def test_colours_survive_fitting_and_zooming_in_hd(deps: Deps) -> None:
    """A BT.709-tagged asset and a #1E8449 PNG render at 720p (BT.709) and measure back; so do the bars."""
    green = "0x1E8449"
    video = make_asset(deps, "green.mp4", "-f", "lavfi", "-i", f"color=c={green}:s=960x720:r=25:d=2", "-vf",
                       "scale=out_color_matrix=bt709:out_range=tv", "-colorspace", "bt709", "-color_primaries",
                       "bt709", "-color_trc", "bt709", "-c:v", "libx264", "-pix_fmt", "yuv420p")  # fmt: skip
    png = file_path(deps.settings.storage.asset_roots[0]) / "green.png"
    Image.new("RGB", (640, 480), (0x1E, 0x84, 0x49)).save(png)  # exact: lavfi's colour source rounds through YUV
    image = f"file://{png}"
    hd = {"profile": {"width": 1280, "height": 720}}
    clips = [{"kind": "video", "source": video, "out": 1, "background": "#C0392B"},
             {"kind": "image", "source": image, "duration": 1}]  # fmt: skip
    # The asset as a player reading its tags shows it (its own encode moved it a few levels from #1E8449).
    shown = rgb_frame(file_path(video), 0.5, 960, 720, "bt709")[300:420, 420:540].reshape(-1, 3).mean(axis=0)
    for n, inp in enumerate(clip_inputs("media-colour", clips, **hd)):
        result = await ActivityEnvironment().run(RenderActivities(deps).render, inp)
        frame = rgb_frame(file_path(result.uri), 0.5, 1280, 720, "bt709").astype(int)
        centre = frame[300:420, 580:700].reshape(-1, 3).mean(axis=0)
        expected = shown if n == 0 else np.array([0x1E, 0x84, 0x49])
        assert np.abs(centre - expected).max() <= 3, (n, centre, expected)
        if n == 1:  # a 4:3 image fills the 16:9 frame: cut to its shape, never letterboxed
            edge = frame[300:420, 4:40].reshape(-1, 3).mean(axis=0)
            assert np.abs(edge - [0x1E, 0x84, 0x49]).max() <= 3, edge
        if n == 0:  # 960 wide in 1280: 160 px bars either side
            bar = frame[100:600, 20:140].reshape(-1, 3).mean(axis=0)
            assert np.abs(bar - [0xC0, 0x39, 0x2B]).max() <= 4, bar


@pytest.mark.parametrize("mode", ["keep", "drop"])
async def test_a_video_clips_sound_reaches_the_track_built_once(deps: Deps, mode: str) -> None:
    """With the sound built beside the renders, a video clip renders picture only and its asset's sound
    (cut to in..out) is mixed into the video's one track, or left out when dropped."""
    source = video_asset(deps, f"track-{mode}.mp4", "160x120", seconds=6)
    clip = {"kind": "video", "source": source, "in": 1.0, "out": 4.0, "audio": mode}
    job = parse_job({"video_id": f"track-{mode}", "profile": {"width": 160, "height": 120}, "clips": [clip]})
    plan = video_only(plan_video(job))
    [planned] = plan.clips
    rendered = await ActivityEnvironment().run(
        RenderActivities(deps).render,
        ClipWork(job.video_id, planned, plan.profile, "en", 1.0, video_only=True),
    )
    assert int(streams(file_path(rendered.uri))["video"]["nb_read_frames"]) == 90
    assert "audio" not in streams(file_path(rendered.uri))  # picture only
    built = await ActivityEnvironment().run(
        AudioActivities(deps).build, AudioWork(plan, job.loudness, job.tts_voice, job.tts_speed)
    )
    level = tone_level(audio_samples(file_path(built.uri)), 440)
    assert level > 0.05 if mode == "keep" else level < 0.001
