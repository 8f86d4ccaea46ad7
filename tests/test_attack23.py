"""Hostile operators and jobs against the settings, the clip kinds and the ffmpeg command builder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.testing import ActivityEnvironment

from activities.render import RenderActivities
from contracts.job import parse_job
from contracts.rules import JobError
from engine.deps import Deps
from engine.media.themed import installed_font
from engine.settings import DEJAVU
from engine.storage import file_path
from runtime.settings import SettingsError, TemporalEnv, WorkerEnv, load, render_settings
from tests.media import frame
from tests.test_render_engine import clip_inputs, make_asset


async def test_an_image_whose_name_has_a_percent_sign_renders(deps: Deps) -> None:
    """ffmpeg's image demuxer reads `%` in a file name as a frame-number pattern; an asset named so still renders."""
    image = make_asset(
        deps, "we'ird:na\\me,[x];=%{pts}%d.png", "-f", "lavfi", "-i", "color=c=red:s=64x36", "-frames:v", "1",
        "-update", "1",
    )  # fmt: skip
    [inp] = clip_inputs("attack23-percent", [{"kind": "image", "duration": 1, "source": image}])
    result = await ActivityEnvironment().run(RenderActivities(deps).render, inp)
    pixels = frame(file_path(result.uri), 0.5, 320, 180)
    assert 60 < pixels[90, 160] < 100  # red, in grey: the picture was read, not a black frame


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RENDER_RATES": "t4=-1"}, "RENDER_RATES: 't4=-1' is not a price ≥ 0 USD per hour"),
        ({"RENDER_RATES": "t4=nan"}, "RENDER_RATES: 't4=nan' is not a price ≥ 0 USD per hour"),
        ({"RENDER_RATES": "=0.3"}, "RENDER_RATES: '=0.3' names no rate (known: a100, a10g, cpu, gpu, h100, l4, l40s, "),
        ({"RENDER_RATES": "T4=0.3"}, "RENDER_RATES: 'T4=0.3' names no rate"),
        ({"RENDER_HEARTBEAT_SECONDS": "1e308"}, "RENDER_HEARTBEAT_SECONDS: must be a number > 0 and ≤ 86400, got"),
        ({"RENDER_QUEUE_WAIT_SECONDS": "1e15"}, "RENDER_QUEUE_WAIT_SECONDS: must be a number > 0 and ≤ 2592000, got"),
        ({"RENDER_OUTPUT_ROOTS": ",,,"}, "RENDER_OUTPUT_ROOTS: must name at least one root, got ',,,'"),
        ({"RENDER_FONT": "/nonexistent/font.ttf"}, "RENDER_FONT: must be a font file or an installed family, got"),
        ({"RENDER_FONT": ""}, "RENDER_FONT: must be a font file or an installed family, got ''"),
        ({"RENDER_FONT_BOLD": "/etc"}, "RENDER_FONT_BOLD: must be a font file or an installed family, got '/etc'"),
        ({"RENDER_FONT": "No Such Family 42"}, "RENDER_FONT: must be a font file or an installed family, got"),
    ],
)
def test_hostile_render_settings_are_refused_naming_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        render_settings(env)
    assert str(caught.value).startswith(message)


def test_a_drain_past_a_day_is_refused() -> None:
    """`timedelta(seconds=1e308)` overflows when the worker starts draining: refused when it is read instead."""
    with pytest.raises(SettingsError, match=r"^RENDER_DRAIN_SECONDS: must be a number ≥ 0 and ≤ 86400"):
        load(WorkerEnv, {"RENDER_DRAIN_SECONDS": "1e308"})


def test_fonts_read_from_the_environment_are_files() -> None:
    settings = render_settings({"RENDER_RATES": " t4 = 0.5 ", "RENDER_FONT": str(DEJAVU / "DejaVuSans.ttf")})
    assert settings.render.rates == {"t4": 0.5} and settings.render.font == DEJAVU / "DejaVuSans.ttf"
    family = installed_font("Noto Sans", False)
    if family is not None:  # a family name is looked up as fontconfig knows it
        assert render_settings({"RENDER_FONT": "Noto Sans"}).render.font == family
    # DejaVu names its regular face "Book": found by weight, as the regular face, not a condensed one
    named = render_settings({"RENDER_FONT": "DejaVu Sans", "RENDER_FONT_BOLD": "DejaVu Sans"}).render
    assert (named.font, named.font_bold) == (DEJAVU / "DejaVuSans.ttf", DEJAVU / "DejaVuSans-Bold.ttf")


def test_render_check_refuses_a_missing_font_in_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from starter.cli import main; main()", "check", "examples/trivia-sample.json"],
        env={**os.environ, "RENDER_FONT": "/nonexistent/font.ttf"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert (
        done.stderr == "render: RENDER_FONT: must be a font file or an installed family, got '/nonexistent/font.ttf'\n"
    )


@pytest.mark.parametrize("question", ["", "  \n "])
def test_a_question_with_no_words_is_refused(question: str) -> None:
    seed = {"question": question, "answer_a": "a", "answer_b": "b", "answer_c": "c", "answer_d": "d"}
    job = {
        "video_id": "blank-question",
        "questions": [{**seed, "correct_answer": "A"}],
        "clips": [{"kind": "question", "question": question, "answers": ["a", "b", "c", "d"], "correct": 0}],
    }
    with pytest.raises(JobError) as caught:
        parse_job(job)
    assert caught.value.problems == [
        ("questions[0].question", "expected a non-empty string"),
        ("clips[0].question", "expected a non-empty string"),
    ]


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("RENDER_SLOTS", "99999999999999999999999", "must be at most 10000, got 99999999999999999999999"),
        ("RENDER_CONTROL_SLOTS", str(2**62), f"must be at most 10000, got {2**62}"),
        ("RENDER_SESSIONS_PER_GPU", "10001", "must be at most 10000, got 10001"),
    ],
)
def test_slot_counts_temporal_cannot_take_are_refused(variable: str, value: str, message: str) -> None:
    """Temporal's worker fails to build its tuner (TypeError) or panics in its semaphore for such counts."""
    with pytest.raises(SettingsError) as caught:
        load(WorkerEnv, {variable: value})
    assert str(caught.value) == f"{variable}: {message}"


@pytest.mark.parametrize("variable", ["RENDER_GOOGLE_TTS_API_KEY", "RENDER_GOOGLE_TTS_TOKEN", "TEMPORAL_API_KEY"])
def test_a_credential_with_a_line_break_is_refused_without_being_shown(variable: str) -> None:
    """urllib refused such a header with `Invalid header value b'<the key>'`: the key went into the clip's error."""
    with pytest.raises(SettingsError) as caught:
        render_settings({variable: "SEKRIT-KEY\n"}) if variable.startswith("RENDER") else load(
            TemporalEnv, {variable: "SEKRIT-KEY\n"}
        )
    assert (
        str(caught.value)
        == f"{variable}: must be printable ASCII without spaces or line breaks (the value is not shown)"
    )
    assert "SEKRIT" not in repr(caught.value)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("RENDER_WORK_URI", "ftp://x"),
        ("RENDER_WORK_URI", "relative/path"),
        ("RENDER_ASSET_ROOTS", "file:///a,http://x"),
    ],
)
def test_a_storage_root_no_worker_can_reach_is_refused(variable: str, value: str) -> None:
    """Such a root was taken, and every clip failed later with `unsupported URI scheme`, naming no variable."""
    with pytest.raises(SettingsError, match=f"^{variable}: must be file:///absolute/path or s3://bucket/prefix, got"):
        render_settings({variable: value})
