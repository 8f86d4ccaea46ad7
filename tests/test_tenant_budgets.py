"""A hostile tenant's jobs against the budgets: refused at validation, each naming the limit it breaks.

Started raw (as the `temporal` CLI would), past the starter: the worker's own budget decides.
"""

from __future__ import annotations

import os
import struct
import uuid
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from temporalio.client import Client

from contracts import names
from contracts.budget import Budget, frame_seconds
from contracts.job import ClipSpec, JobError, Profile, parse_job
from engine.deps import Deps, fetch_asset
from engine.errors import BadAsset
from engine.media.images import check_image_pixels, frame_sized
from engine.media_assets import fetch_video
from engine.settings import Settings, file_uri
from engine.storage import StorageError, confine, file_path
from runtime.settings import RenderEnv, SettingsError, load
from starter import JobRefused, RenderClient
from tests.conftest import failure_of


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def job(
    video_id: str, clips: list[dict[str, Any]], width: int = 3840, height: int = 2160, fps: int = 60
) -> dict[str, Any]:
    return {"video_id": video_id, "profile": {"width": width, "height": height, "fps": fps}, "clips": clips}


def deep_zoom(duration: float, maxiter: int) -> dict[str, Any]:
    params = {"maxiter": maxiter, "start_scale": 1e-6, "end_scale": 1e-9}
    return {"kind": "recipe", "recipe": "mandelbrot", "duration": duration, "params": params}


def write_png(path: Path, width: int, height: int, rgba: bool = False) -> Path:
    """A real PNG of `width` x `height` pixels of one colour, compressed row by row: a few hundred KB."""
    channels = 4 if rgba else 3

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer = zlib.compressobj(9)
    row = b"\x00" + b"\x20" * (width * channels)
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 6 if rgba else 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


# --- the contract, with a budget ---


def test_an_83_hour_4k_job_is_refused_naming_the_per_job_budget() -> None:
    """500 clips x 600 s of 4K at 60 fps: 18 M frames."""
    huge = job("huge", [{"kind": "card", "duration": 600}] * 500)
    with pytest.raises(JobError) as err:
        parse_job(huge, Budget())
    assert err.value.field == "clips"
    assert err.value.message == (
        "18000000 frames of 3840x2160 (149299 gigapixels) exceed the per-job budget of 1000 gigapixels"
    )


def test_one_clip_over_the_job_budget_is_named_by_its_field() -> None:
    clips = [{"kind": "card", "duration": 1}] * 3 + [{"kind": "card", "duration": 300}]
    with pytest.raises(JobError) as err:
        parse_job(job("one-big", clips), Budget(job_gigapixels=100))
    assert str(err.value) == "clips[3]: 18000 frames of 3840x2160 exceed the per-job budget of 100 gigapixels"


def test_a_clip_past_the_render_time_bound_is_refused_naming_the_bound() -> None:
    with pytest.raises(JobError) as err:
        parse_job(job("slow", [{"kind": "card", "duration": 600}]), Budget())
    assert (
        str(err.value) == "clips[0]: 36000 frames of 3840x2160 may take 7200 s to render; the per-clip limit is 3600 s"
    )
    assert parse_job(job("ok", [{"kind": "card", "duration": 600}], fps=30), Budget()).clips


def test_a_deep_zoom_mandelbrot_is_priced_by_its_iterations() -> None:
    """A frame at 1080p and maxiter 8192 took 32 s: such a clip is refused, a shallow one is not."""
    profile = Profile(1920, 1080, 30)
    deep = ClipSpec(kind="recipe", duration=1, recipe="mandelbrot", params=(("maxiter", 8192.0),))
    assert frame_seconds(deep, profile) > 30
    with pytest.raises(JobError) as err:
        parse_job(job("deep", [{"kind": "card", "duration": 1}, deep_zoom(2, 8192)], 1920, 1080, 30), Budget())
    assert str(err.value).startswith("clips[1]: one frame of 1920x1080 may take ")
    assert str(err.value).endswith("the limit is 30 s a frame")
    with pytest.raises(JobError, match=r"clips\[0\]: 1800 frames of 1920x1080 may take \d+ s to render; the per-clip"):
        parse_job(job("long", [deep_zoom(60, 1024)], 1920, 1080, 30), Budget())
    assert parse_job(job("fine", [deep_zoom(60, 256)], 1920, 1080, 30), Budget()).clips


def test_a_costly_clip_gets_a_start_to_close_budget_that_covers_its_estimate() -> None:
    """Accepted means it can finish: the attempt's deadline is at least its estimated render time."""
    from contracts.budget import RENDER_ALLOWANCE_SECONDS, SLOWEST_EXPECTED_FPS, attempt_seconds, clip_seconds
    from contracts.plan import plan_video

    accepted = parse_job(job("fine", [deep_zoom(60, 256)], 1920, 1080, 30), Budget())
    (clip,) = plan_video(accepted).clips
    estimate = clip_seconds(clip.spec, clip.frames, accepted.profile)
    assert estimate > clip.frames / SLOWEST_EXPECTED_FPS  # frames at the slowest rate alone would not cover it
    assert attempt_seconds(clip.spec, clip.frames, accepted.profile) == estimate + RENDER_ALLOWANCE_SECONDS


def test_questions_are_named_by_their_own_field() -> None:
    question = {"question": "Q?", "answer_a": "a", "answer_b": "b", "answer_c": "c", "answer_d": "d",
                "correct_answer": "a"}  # fmt: skip
    raw = {"video_id": "q", "profile": {"width": 1920, "height": 1080, "fps": 60}, "question_seconds": 600,
           "questions": [question]}  # fmt: skip
    with pytest.raises(JobError) as err:
        parse_job(raw, Budget(clip_render_seconds=600))
    assert err.value.field == "questions[0]"


def test_the_budget_is_configured_by_settings() -> None:
    budget = load(RenderEnv, {"RENDER_JOB_GIGAPIXELS": "5", "RENDER_CLIP_RENDER_SECONDS": "60",
                              "RENDER_IMAGE_MEGAPIXELS": "4"}).limits.budget  # fmt: skip
    assert budget == Budget(5.0, 60.0, 4.0)
    assert load(RenderEnv, {"RENDER_ASSET_MEGABYTES": "10"}).limits.budget.asset_megabytes == 10.0
    assert load(RenderEnv, {}).limits.budget == Budget()
    with pytest.raises(SettingsError, match="RENDER_JOB_GIGAPIXELS: must be a number > 0, got '0'"):
        load(RenderEnv, {"RENDER_JOB_GIGAPIXELS": "0"})


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("file://var/x.png", "must be an absolute file:///path URI"),
        ("file://assets/x.png", "must be an absolute file:///path URI"),
        ("s3:///key.png", "must be an s3://bucket/key URI"),
        ("s3://bucket", "must be an s3://bucket/key URI"),
    ],
)
def test_only_absolute_uris_are_accepted(uri: str, message: str) -> None:
    with pytest.raises(JobError) as err:
        parse_job({"video_id": "rel", "clips": [{"kind": "card", "duration": 1}, {"kind": "card", "duration": 1,
                                                                                  "image": uri}]})  # fmt: skip
    assert err.value.field == "clips[1].image" and message in err.value.message


def test_a_path_error_names_the_root_it_was_checked_against_never_the_list() -> None:
    roots = ("s3://tenant-a/assets", "s3://tenant-b/assets", "file:///srv/assets")
    with pytest.raises(StorageError) as err:
        confine("s3://tenant-b/other/x.png", roots, "image asset")
    assert str(err.value) == (
        "image asset: s3://tenant-b/other/x.png is outside the allowed roots (checked against s3://tenant-b/assets)"
    )
    with pytest.raises(StorageError) as err:
        confine("s3://tenant-c/x.png", roots, "asset")
    assert "tenant-a" not in str(err.value) and "tenant-b" not in str(err.value) and "/srv" not in str(err.value)


# --- through the workers: the worker's budget is the one that counts ---


@pytest.mark.usefixtures("workers")
async def test_a_raw_start_over_budget_fails_at_validation_naming_the_limit(client: Client) -> None:
    video_id = unique("budget")
    await client.start_workflow(names.WORKFLOW_NAME, job(video_id, [{"kind": "card", "duration": 600}] * 500),
                                id=video_id, task_queue=names.CONTROL_QUEUE)  # fmt: skip
    error = await failure_of(client, video_id)
    assert error.type == names.INVALID_JOB and error.non_retryable
    assert error.message.startswith("clips: 18000000 frames of 3840x2160")
    assert "per-job budget of 1000 gigapixels" in error.message


async def test_the_starter_refuses_over_budget_before_connecting_anywhere(client: Client) -> None:
    renders = RenderClient(client, budget=Budget(job_gigapixels=1))
    with pytest.raises(JobRefused) as err:
        await renders.submit(job(unique("starter"), [{"kind": "card", "duration": 60}]))
    assert err.value.field == "clips[0]" and "per-job budget of 1 gigapixels" in str(err.value)


# --- image assets: capped from the header, before ffmpeg sees them ---


@pytest.fixture
def no_ffmpeg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PATH where ffmpeg and ffprobe do not exist: any attempt to run them fails loudly."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


@pytest.mark.usefixtures("no_ffmpeg")
@pytest.mark.parametrize("rgba", [False, True], ids=["rgb", "rgba"])
async def test_a_16000x16000_png_is_refused_before_ffmpeg_runs(deps: Deps, settings: Settings, rgba: bool) -> None:
    folder = file_path(settings.storage.asset_roots[0])
    bomb = write_png(folder / f"bomb-{uuid.uuid4().hex[:6]}.png", 16000, 16000, rgba)
    assert bomb.stat().st_size < 2_000_000  # small on disk, 1 GB (RGBA: 4 GB) decoded
    uri = file_uri(bomb)
    with pytest.raises(BadAsset) as err:
        await fetch_asset(deps, uri, bomb.parent / "unused", "image")
    assert str(err.value) == f"image asset {uri}: 256000000 pixels exceed the 36 MP cap"


@pytest.mark.usefixtures("no_ffmpeg")
async def test_an_image_just_over_the_cap_is_named_with_its_size(deps: Deps, settings: Settings) -> None:
    image = write_png(file_path(settings.storage.asset_roots[0]) / f"big-{uuid.uuid4().hex[:6]}.png", 7000, 6000)
    with pytest.raises(BadAsset, match=r": 7000x6000 pixels exceed the 36 MP cap$"):
        await fetch_asset(deps, file_uri(image), image.parent / "unused", "image")


@pytest.mark.usefixtures("no_ffmpeg")
@pytest.mark.parametrize("kind", ["audio", "video"])
async def test_an_asset_over_the_size_budget_is_refused_before_it_is_fetched(settings: Settings, kind: str) -> None:
    """Sized from the store: a sparse 3 MB file against a 2 MB budget, and nothing reads it."""
    big = file_path(settings.storage.asset_roots[0]) / f"long-{uuid.uuid4().hex[:6]}.wav"
    with big.open("wb") as out:
        out.truncate(3_000_000)
    tight = Deps.from_settings(settings.replace(limits={"asset_megabytes": 2}))
    uri = file_uri(big)
    with pytest.raises(BadAsset) as err:
        if kind == "audio":
            await fetch_asset(tight, uri, big.parent / "unused", "audio")
        else:
            spec = ClipSpec(kind="video", duration=1.0, video=uri)
            await fetch_video(tight, spec, big.parent / "unused")
    what = "audio asset" if kind == "audio" else "source: video asset"
    assert str(err.value) == f"{what} {uri} is 3.0 MB; the limit is 2 MB an asset"


@pytest.mark.usefixtures("workers")
async def test_a_pixel_bomb_card_fails_the_video_naming_the_image(client: Client, settings: Settings) -> None:
    name = f"bomb-{uuid.uuid4().hex[:6]}.png"
    write_png(file_path(settings.storage.asset_roots[0]) / name, 16000, 16000)
    video_id = unique("bomb")
    clips = [{"kind": "card", "duration": 0.5, "image": f"{settings.storage.asset_roots[0]}/{name}"}]
    await client.start_workflow(names.WORKFLOW_NAME, job(video_id, clips, 160, 90, 30), id=video_id,
                                task_queue=names.CONTROL_QUEUE)  # fmt: skip
    error = await failure_of(client, video_id)
    assert error.type == names.BAD_ASSET and error.non_retryable
    assert f"{name}: 256000000 pixels exceed the 36 MP cap" in error.message


@pytest.mark.usefixtures("no_ffmpeg")
async def test_a_format_the_header_check_cannot_read_never_reaches_ffmpeg(deps: Deps, settings: Settings) -> None:
    """ffmpeg decodes formats (EXR, DPX…) whose size nothing checked: such an 'image' is refused."""
    odd = file_path(settings.storage.asset_roots[0]) / f"odd-{uuid.uuid4().hex[:6]}.png"
    odd.write_bytes(b"\x76\x2f\x31\x01" + b"\x02\x00\x00\x00" + b"\x00" * 256)  # an OpenEXR header
    with pytest.raises(BadAsset, match="is not readable media: not a still image"):
        await fetch_asset(deps, file_uri(odd), odd.parent / "unused", "image")


async def test_an_image_is_scaled_once_to_the_frame(tmp_path: Path) -> None:
    """The render loops a frame-sized PNG, not the asset: a large photo is decoded once."""
    source = tmp_path / "photo.png"
    Image.new("RGB", (3000, 1000), "teal").save(source)
    out = await frame_sized(source, Profile(320, 180, 30), "#102030", tmp_path / "frame.png")
    with Image.open(out) as frame:
        assert frame.size == (320, 180)
        assert frame.convert("RGB").getpixel((160, 5)) == (0x10, 0x20, 0x30)  # padded with the background
        assert frame.convert("RGB").getpixel((160, 90)) == (0, 128, 128)
    assert os.path.getsize(out) < os.path.getsize(source) * 10


@pytest.mark.parametrize("module", ["contracts.budget", "contracts.plan", "starter.client", "runtime.settings"])
def test_each_module_that_reads_the_budget_imports_first(module: str) -> None:
    """Imported first in a fresh interpreter (as `render` does): no import cycle through the contract."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parent.parent)  # fmt: skip
    assert done.returncode == 0, done.stderr[-500:]


@pytest.mark.parametrize("variable", ["RENDER_JOB_GIGAPIXELS", "RENDER_CLIP_RENDER_SECONDS",
                                      "RENDER_IMAGE_MEGAPIXELS", "RENDER_JOB_RENDER_SECONDS"])  # fmt: skip
@pytest.mark.parametrize("value", ["inf", "Infinity", "nan"])
def test_a_budget_is_never_infinite(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"^{variable}: must be a number > 0, got '{value}'$"):
        load(RenderEnv, {variable: value})


def test_many_costly_clips_are_refused_naming_the_per_job_render_time() -> None:
    """Each clip under the per-clip bound, 500 of them: hundreds of render-hours, refused for the job."""
    clips = [deep_zoom(15.8, 8192) for _ in range(500)]
    with pytest.raises(JobError) as err:
        parse_job(job("many-deep", clips, 1280, 720, 10), Budget())
    assert err.value.field == "clips"
    assert "the per-job limit is 86400 s" in str(err.value)
    few = [deep_zoom(15.8, 8192) for _ in range(10)]
    assert parse_job(job("few-deep", few, 1280, 720, 10), Budget()).clips
    with pytest.raises(JobError, match="the per-job limit is 3600 s"):
        parse_job(job("few-deep", few, 1280, 720, 10), Budget(job_render_seconds=3600))


def test_the_job_render_time_is_configured_by_settings() -> None:
    assert load(RenderEnv, {"RENDER_JOB_RENDER_SECONDS": "7200"}).limits.budget.job_render_seconds == 7200.0


def stacked_jpeg(path: Path, small: int, large: int) -> Path:
    """A dark small JPEG followed directly by a light large one: the header says `small`."""
    for size, shade, name in ((small, 40, "a.jpg"), (large, 220, "b.jpg")):
        Image.new("L", (size, size), shade).save(path.parent / name, quality=90)
    path.write_bytes((path.parent / "a.jpg").read_bytes() + (path.parent / "b.jpg").read_bytes())
    return path


async def test_ffmpeg_never_sees_a_second_image_hidden_after_the_first(tmp_path: Path) -> None:
    """Only what Pillow decoded at the header's size reaches ffmpeg: the frame is the first image's."""
    source = stacked_jpeg(tmp_path / "stacked.jpg", 64, 3000)
    assert check_image_pixels(source, "stacked", 1.0) == (64, 64)
    out = await frame_sized(source, Profile(320, 180, 30), "#000000", tmp_path / "frame.png")
    with Image.open(out) as frame:
        assert frame.size == (320, 180)
        shade = frame.convert("L").getpixel((160, 90))
    assert isinstance(shade, int) and abs(shade - 40) < 8, shade


async def test_a_16_bit_grey_image_keeps_its_shade(tmp_path: Path) -> None:
    """Pillow scales 16-bit grey to 8 bits as ffmpeg did, rather than clipping it to white."""
    source = tmp_path / "deep.png"
    Image.new("I;16", (64, 48), 40000).save(source)
    out = await frame_sized(source, Profile(160, 90, 30), "#000000", tmp_path / "frame.png")
    with Image.open(out) as frame:
        shade = frame.convert("L").getpixel((80, 45))
    assert isinstance(shade, int) and abs(shade - 40000 // 257) <= 2, shade
