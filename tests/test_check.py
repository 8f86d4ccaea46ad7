"""`render check` and `starter.check`: what the workers would refuse, found before anything starts, with no server.

Each command runs as a real process whose TEMPORAL_ADDRESS is a closed port: nothing here may need Temporal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from PIL import Image
from temporalio.client import Client

from activities.manifest import Manifest
from contracts.job import parse_job
from contracts.job_models import asset_fields
from devtools.local import free_port
from engine.settings import S3Settings, Settings, SpeechSettings, StorageSettings, file_uri
from starter import check
from starter.cli import parser, run
from starter.exits import BAD_INPUT, OK

BIN = Path(sys.executable).parent
LONG_QUESTION = "Which " + "very " * 96 + "long?"  # 491 characters: under the schema's 500, too long for 9:16


def render(data: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RENDER_DATA_DIR": str(data), "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}", **extra}
    return subprocess.run([str(BIN / "render"), *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    for sub in ("assets", "output"):
        (tmp_path / "data" / sub).mkdir(parents=True)
    return tmp_path / "data"


def write(path: Path, job: dict[str, Any]) -> str:
    path.write_text(json.dumps(job), encoding="utf-8")
    return str(path)


def tone(path: Path, seconds: float = 1.0) -> Path:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"sine=d={seconds}", str(path)], check=True)
    return path


def png(path: Path) -> Path:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "color=red:s=64x64", "-frames:v", "1",
                    str(path)], check=True)  # fmt: skip
    return path


def card(**extra: Any) -> dict[str, Any]:
    return {"kind": "card", "duration": 1, "lines": ["x"], **extra}


def test_the_adopters_four_mistakes_are_each_one_line_naming_the_field_and_exit_2(data: Path, tmp_path: Path) -> None:
    """An output outside the roots, a missing asset, an asset outside the roots and a 490-character question
    in 9:16: all `started` before; now each is a line of its own, naming the field and the setting."""
    elsewhere = png(tmp_path / "logo.png")
    job = {
        "video_id": "adopter-1",
        "output_uri": "file:///etc/out.mp4",
        "profile": {"width": 1080, "height": 1920},
        "theme": {"logo": {"uri": file_uri(elsewhere)}},
        "clips": [
            {"kind": "question", "question": LONG_QUESTION, "answers": ["a", "b", "c", "d"], "correct": 0},
            card(image=file_uri(data / "assets" / "missing.png")),
        ],
    }
    run = render(data, "check", write(tmp_path / "job.json", job))
    assert run.returncode == BAD_INPUT, run
    lines = run.stderr.strip().splitlines()
    assert "Traceback" not in run.stderr and len(lines) == 4, run.stderr
    found = {line.split(": ")[2]: line for line in lines}
    assert set(found) == {"clips[0].question", "output_uri", "clips[1].image", "theme.logo.uri"}, lines
    assert "does not fit at 1080x1920" in found["clips[0].question"]
    assert found["output_uri"].endswith("outside the allowed roots; the roots are set by RENDER_OUTPUT_ROOTS")
    assert "missing.png does not exist" in found["clips[1].image"]
    assert "outside the allowed roots" in found["theme.logo.uri"] and "RENDER_ASSET_ROOTS" in found["theme.logo.uri"]
    assert run.stdout == ""


def test_a_good_job_with_its_assets_passes_and_exits_0(data: Path, tmp_path: Path) -> None:
    music = tone(data / "assets" / "bed.wav")
    image = png(data / "assets" / "a.png")
    job = {"video_id": "good-1", "profile": {"width": 160, "height": 90},
           "theme": {"sounds": {"music": file_uri(music)}}, "clips": [card(image=file_uri(image))]}  # fmt: skip
    run = render(data, "check", write(tmp_path / "job.json", job))
    assert (run.returncode, run.stderr) == (OK, ""), run
    assert run.stdout.startswith("ok: ") and "(good-1)" in run.stdout
    as_json = render(data, "check", "--json", str(tmp_path / "job.json"))
    assert json.loads(as_json.stdout) == {"ok": True, "problems": [], "unchecked": []}


def test_an_asset_too_big_or_unreadable_is_refused_naming_its_field(data: Path, tmp_path: Path) -> None:
    big = tone(data / "assets" / "big.wav", 30)  # 2.6 MB (44.1 kHz, 16-bit mono)
    broken = data / "assets" / "broken.wav"
    broken.write_bytes(tone(tmp_path / "whole.wav", 3).read_bytes()[:10_000])
    text = data / "assets" / "text.png"
    text.write_text("not an image")
    job = {"video_id": "assets-1", "profile": {"width": 160, "height": 90},
           "clips": [card(audio=file_uri(big)), card(audio=file_uri(broken)), card(image=file_uri(text))]}  # fmt: skip
    run = render(data, "check", write(tmp_path / "job.json", job), RENDER_ASSET_MEGABYTES="1")
    assert run.returncode == BAD_INPUT, run
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 3, lines
    assert lines[0].startswith(
        f"render: {tmp_path}/job.json: clips[0].audio: {file_uri(big)} is 2.6 MB; the limit is 1 MB an asset"
    )
    assert lines[1].startswith(f"render: {tmp_path}/job.json: clips[1].audio: {file_uri(broken)} is not readable audio")
    assert f"clips[2].image: {file_uri(text)}" in lines[2]


def test_an_output_another_video_published_is_refused(data: Path, tmp_path: Path) -> None:
    output = data / "output" / "taken.mp4"
    output.write_bytes(b"a video")
    Path(f"{output}.render.json").write_bytes(Manifest("someone-else", "x").encode())
    job = {"video_id": "mine", "output_uri": file_uri(output), "clips": [card()]}
    run = render(data, "check", write(tmp_path / "job.json", job))
    assert run.returncode == BAD_INPUT
    assert run.stderr.strip().endswith(
        "output_uri: " + f"{file_uri(output)} belongs to video 'someone-else'; choose another output"
    )


def test_a_webhook_the_farm_refuses_and_text_that_does_not_fit_are_both_listed(data: Path, tmp_path: Path) -> None:
    question = {"kind": "question", "question": LONG_QUESTION, "answers": ["a", "b", "c", "d"], "correct": 1}
    job = {"video_id": "hook-1", "webhook_url": "http://10.0.0.1/hook", "profile": {"width": 1080, "height": 1920},
           "clips": [question]}  # fmt: skip
    run = render(data, "check", write(tmp_path / "job.json", job))
    fields = [line.split(": ")[2] for line in run.stderr.strip().splitlines()]
    assert (run.returncode, fields) == (BAD_INPUT, ["webhook_url", "clips[0].question"]), run


def test_submit_runs_the_same_checks_and_refuses_without_a_server(data: Path, tmp_path: Path) -> None:
    """A job `render check` refuses is never `started`: refused before any connection (none listens here)."""
    job = {"video_id": "sub-1", "clips": [card(image=file_uri(data / "assets" / "nowhere.png"))]}
    run = render(data, "submit", write(tmp_path / "job.json", job))
    assert run.returncode == BAD_INPUT, run
    assert (
        run.stderr.strip()
        == f"render: refused: clips[0].image: {file_uri(data / 'assets' / 'nowhere.png')} does not exist"
    )


async def test_check_in_python_takes_the_workers_settings(data: Path, tmp_path: Path) -> None:
    settings = Settings(
        storage=StorageSettings(
            work_uri=file_uri(data / "work"),
            output_roots=(file_uri(data / "output"),),
            asset_roots=(file_uri(tmp_path),),
            scratch_dir=data / "scratch",
        )
    )
    logo = png(tmp_path / "logo.png")
    job = {"video_id": "lib-1", "theme": {"logo": {"uri": file_uri(logo)}}, "clips": [card()]}
    report = await check(job, settings)
    assert report.ok and report.problems == [] and report.unchecked == []
    refused = await check({**job, "video_id": "x y"}, settings)
    assert str(refused.problems[0]).startswith("video_id: ")


async def test_a_language_the_jobs_speech_engine_has_no_voice_for_is_refused_naming_its_field(
    data: Path, tmp_path: Path
) -> None:
    """Polly reads a tag only in its locales: a question tagged `ko` would pass the check and fail at narration."""
    settings = Settings(
        storage=StorageSettings(
            work_uri=file_uri(data / "work"),
            output_roots=(file_uri(data / "output"),),
            asset_roots=(file_uri(tmp_path),),
            scratch_dir=data / "scratch",
        )
    )
    korean = {"question": "한국의 수도는?", "answer_a": "서울", "answer_b": "부산", "answer_c": "대구",
              "answer_d": "인천", "correct_answer": "서울", "language": "ko"}  # fmt: skip
    job = {"video_id": "polly-ko", "tts_engine": "polly", "tts_voice": "en-US", "questions": [korean],
           "clips": [card(narration="안녕", voice="ko-KR"), card(narration="Hi")]}  # fmt: skip
    report = await check(job, settings)
    assert [p.field for p in report.problems] == ["questions[0].language", "clips[0].voice"]
    assert report.problems[0].message.startswith("polly has no voice for 'ko'")
    alone = await check(
        {"video_id": "polly-ja", "language": "ko", "clips": [card(narration="안녕")]},
        settings.replace(speech={"engine": "polly"}),
    )
    assert [p.field for p in alone.problems] == ["language"]
    assert (await check({**job, "tts_engine": "espeak"}, settings)).ok  # espeak-ng speaks every tag


def test_asset_fields_name_every_asset_the_job_reads() -> None:
    """The check looks at exactly the assets the workflow's check_job does, each under its field's name."""
    job = {
        "video_id": "fields",
        "theme": {"background": {"video": "s3://b/bg.mp4"}, "logo": {"uri": "s3://b/logo.png"},
                  "sounds": {"tick": "s3://b/t.wav", "sting": "s3://b/s.wav", "music": "s3://b/m.wav"}},
        "clips": [card(image="s3://b/c.png", audio="s3://b/c.wav"),
                  {"kind": "video", "source": "s3://b/v.mp4", "out": 1, "audio": "duck"},
                  {"kind": "image", "source": "s3://b/i.png", "duration": 1},
                  {"kind": "question", "question": "q?", "answers": ["a", "b", "c", "d"], "correct": 0, "image": "s3://b/q.png"},
                  {"kind": "recipe", "recipe": "testsrc", "duration": 1, "audio": "s3://b/r.wav"},
                  {"kind": "question", "question": "q?", "answers": ["a", "b", "c", "d"], "correct": 0,
                   "picture": "s3://b/p.png"}],
        "questions": [{"question": "q?", "answer_a": "a", "answer_b": "b", "answer_c": "c", "answer_d": "d",
                       "correct_answer": "a", "image": "s3://b/s.png"}],
    }  # fmt: skip
    found = asset_fields(job)
    assert sorted({uri for _, uri, _ in found}) == parse_job(job).asset_uris()
    assert ("theme.logo.uri", "s3://b/logo.png", "image") in found
    assert ("questions[0].image", "s3://b/s.png", "image") in found
    assert ("clips[5].picture", "s3://b/p.png", "image") in found
    assert ("clips[1].source", "s3://b/v.mp4", "video") in found and (
        "clips[2].source",
        "s3://b/i.png",
        "image",
    ) in found


async def test_submit_batch_runs_the_same_checks_on_each_job(
    client: Client, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "jobs"
    folder.mkdir()
    missing = file_uri(data / "assets" / "nowhere.png")
    write(folder / "a.json", {"video_id": f"batch-{uuid.uuid4().hex[:6]}", "clips": [card(image=missing)]})
    monkeypatch.setenv("TEMPORAL_ADDRESS", client.service_client.config.target_host)
    monkeypatch.setenv("RENDER_DATA_DIR", str(data))
    assert await run(parser().parse_args(["submit-batch", str(folder), "--json"])) == BAD_INPUT
    (entry,) = json.loads(capsys.readouterr().out)["entries"]
    assert (entry["outcome"], entry["reason"]) == ("refused", f"clips[0].image: {missing} does not exist")


def test_preview_writes_one_frame_per_clip_as_the_render_draws_it(data: Path, tmp_path: Path) -> None:
    question = {"kind": "question", "question": "2 + 2?", "answers": ["3", "4", "5", "6"], "correct": 1}
    job = {"video_id": "preview-1", "profile": {"width": 320, "height": 180}, "theme": "studio",
           "clips": [question, card(image=file_uri(png(data / "assets" / "red.png")))]}  # fmt: skip
    path = write(tmp_path / "job.json", job)
    run = render(data, "preview", path, "--out", str(tmp_path / "frames"))
    assert run.returncode == OK, run.stderr
    written = [Path(line) for line in run.stdout.splitlines()]
    assert [p.name for p in written] == ["clip-001-question.png", "clip-002-reveal.png", "clip-003-card.png"]
    with Image.open(written[2]) as frame:
        assert (frame.format, frame.size) == ("PNG", (320, 180))
        pixel = frame.convert("RGB").getpixel((160, 90))  # the card's own image fills the frame
        assert isinstance(pixel, tuple) and pixel[0] > 200 and pixel[1] < 60 and pixel[2] < 60, pixel
    one = render(data, "preview", path, "--clip", "2", "--out", str(tmp_path / "two"))
    assert one.stdout.strip().endswith("clip-002-reveal.png")


def test_preview_refuses_what_the_render_would_in_one_line(data: Path, tmp_path: Path) -> None:
    job = {"video_id": "preview-2", "clips": [card(image=file_uri(data / "assets" / "nowhere.png"))]}
    path = write(tmp_path / "job.json", job)
    missing = render(data, "preview", path, "--out", str(tmp_path / "x"))
    assert missing.returncode == BAD_INPUT and "does not exist" in one_line(missing), missing.stderr
    beyond = render(data, "preview", path, "--clip", "3", "--out", str(tmp_path / "y"))
    assert one_line(beyond) == "render: refused: --clip: is 3; the video has 1 clips (a question is two)"


def one_line(run: subprocess.CompletedProcess[str]) -> str:
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr
    return lines[0]


async def test_s3_assets_are_checked_where_credentials_allow(
    s3_endpoint: str, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a real S3 API (moto): a present asset passes, a missing one is refused; without credentials the asset
    is reported as not checked, never refused: the workers may hold credentials this machine lacks."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret-value")
    bucket = f"check-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)
    s3.upload_file(str(png(tmp_path / "logo.png")), bucket, "assets/logo.png")
    settings = Settings(
        storage=StorageSettings(
            work_uri=file_uri(data / "work"),
            output_roots=(file_uri(data / "output"),),
            asset_roots=(f"s3://{bucket}/assets",),
            scratch_dir=data / "scratch",
            s3=S3Settings(endpoint_url=s3_endpoint, region="us-east-1"),
        )
    )

    def job(logo: str) -> dict[str, Any]:
        return {"video_id": "s3-check", "theme": {"logo": {"uri": f"s3://{bucket}/assets/{logo}"}}, "clips": [card()]}

    assert (await check(job("logo.png"), settings)).ok
    missing = await check(job("gone.png"), settings)
    assert [str(p) for p in missing.problems] == [f"theme.logo.uri: s3://{bucket}/assets/gone.png does not exist"]
    # A machine without credentials (a process of its own: boto3 keeps the credentials it has found).
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    path = write(tmp_path / "job.json", job("logo.png"))
    blind = render(data, "check", path, RENDER_ASSET_ROOTS=f"s3://{bucket}/assets", RENDER_S3_ENDPOINT_URL=s3_endpoint,
                   RENDER_S3_REGION="us-east-1", AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
                   AWS_CONFIG_FILE=str(tmp_path / "none"), HOME=str(tmp_path))  # fmt: skip
    assert blind.returncode == OK, blind
    assert one_line(blind).startswith("render: not checked (the workers may still reach it): theme.logo.uri: ")
    assert "no credentials found" in blind.stderr and "1 not checked" in blind.stdout


async def test_a_cloud_voice_id_read_by_espeak_is_refused_instead_of_narrated_in_silence(
    data: Path, tmp_path: Path
) -> None:
    settings = Settings(
        storage=StorageSettings(
            work_uri=file_uri(data / "work"),
            output_roots=(file_uri(data / "output"),),
            asset_roots=(file_uri(tmp_path),),
            scratch_dir=data / "scratch",
        ),
        speech=SpeechSettings(engine="espeak"),
    )
    job = {"video_id": "espeak-lucia", "tts_voice": "en-US",
           "clips": [card(narration="Hola", voice="Lucia"), card(narration="Hi")]}  # fmt: skip
    report = await check(job, settings)
    assert [p.field for p in report.problems] == ["clips[0].voice"]
    assert report.problems[0].message.startswith("espeak-ng has no voice 'Lucia'")
    assert (await check({**job, "tts_voice": "Joanna"}, settings)).problems[-1].field == "tts_voice"
    assert (await check({**job, "tts_engine": "polly"}, settings)).ok  # Polly has Lucia
