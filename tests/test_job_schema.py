"""The job file's models: every problem at once, the seed format, and the published JSON Schema."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from contracts.job import JobError, parse_job
from contracts.job_models import CLIP_KINDS, job_schema, job_schema_text
from devtools.cli import SAMPLE_JOB
from starter.cli import parser, run

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema" / "job.schema.json"


def test_every_problem_is_reported_at_once_with_its_path() -> None:
    raw = {
        "video_id": "v",
        "tts_speed": 9,
        "profile": {"width": 641, "fps": 29},
        "clips": [
            {"kind": "card", "duration": 2},
            {"kind": "card", "duration": -1, "colour": "red"},
            {"kind": "recipe", "recipe": "mandelbrot", "duration": 1, "params": {"maxiter": 1}},
            {"kind": "movie", "duration": 1},
        ],
    }
    with pytest.raises(JobError) as caught:
        parse_job(raw)
    err = caught.value
    fields = [field for field, _ in err.problems]
    assert fields == [
        "clips[1].colour",
        "clips[1].duration",
        "clips[2].params.maxiter",
        "clips[3].kind",
        "profile.width",
        "profile.fps",
        "tts_speed",
    ]
    assert (err.field, err.message) == err.problems[0]
    assert str(err).split("\n") == [f"{field}: {message}" for field, message in err.problems]
    assert "clips[1].duration: must be between 0.1 and 600, got -1" in str(err).split("\n")
    known = ", ".join(CLIP_KINDS)  # the built-in kinds, then the registered ones (contracts.kinds)
    assert f"clips[3].kind: unknown clip kind 'movie' (known: {known})" in str(err).split("\n")


def test_a_single_problem_reads_as_before() -> None:
    with pytest.raises(JobError) as caught:
        parse_job({"video_id": "v", "clips": [{"kind": "card", "duration": -1}]})
    assert str(caught.value) == "clips[0].duration: must be between 0.1 and 600, got -1"
    assert caught.value.problems == [("clips[0].duration", "must be between 0.1 and 600, got -1")]


def test_thousands_of_problems_are_listed_in_a_few_lines() -> None:
    with pytest.raises(JobError) as caught:
        parse_job({"video_id": "v", "clips": [{"kind": "card", "duration": -1}] * 400})
    err = caught.value
    assert len(err.problems) == 400
    lines = str(err).split("\n")
    assert len(lines) == JobError.MAX_LISTED + 1 and lines[-1] == "… and 380 more problems"


def test_the_seed_format_is_a_question_clip_under_another_name(seed_job: dict[str, Any]) -> None:
    seed = seed_job["questions"][0]
    answers = [seed[f"answer_{x}"] for x in "abcd"]
    as_clip = {"kind": "question", "question": seed["question"], "answers": answers, "correct": seed["correct_answer"]}
    plain = copy.deepcopy(seed_job)
    plain["questions"], plain["total_questions"] = [], 0
    plain["clips"] = [as_clip]
    one_seed = copy.deepcopy(seed_job)
    one_seed["questions"], one_seed["total_questions"], one_seed["clips"] = [seed], 1, []
    assert parse_job(one_seed) == parse_job(plain)
    assert [c.kind for c in parse_job(one_seed).clips] == ["question", "reveal"]


def test_a_schema_key_is_accepted_and_ignored() -> None:
    job = {"video_id": "v", "clips": [{"kind": "card", "duration": 1}]}
    assert parse_job({"$schema": "./schema/job.schema.json", **job}) == parse_job(job)


def test_the_published_schema_is_current() -> None:
    """Regenerate with: render schema > schema/job.schema.json"""
    assert SCHEMA_FILE.read_text(encoding="utf-8") == job_schema_text()


def test_the_schema_accepts_the_sample_and_refuses_what_the_contract_refuses() -> None:
    validator = jsonschema.Draft202012Validator(job_schema())
    validator.check_schema(job_schema())
    sample = json.loads(SAMPLE_JOB.read_text(encoding="utf-8"))
    parse_job(sample)
    assert not list(validator.iter_errors(sample))
    for bad in (
        {**sample, "urgency": 1},
        {**sample, "priority": 9},
        {**sample, "priority": "high"},
        {**sample, "tts_speed": 9},
        {**sample, "clips": [{"kind": "movie", "duration": 1}]},
        {**sample, "clips": [{"kind": "card", "duration": -1}]},
        {**sample, "clips": [{"kind": "recipe", "recipe": "fire", "duration": 1}]},
    ):
        assert list(validator.iter_errors(bad)), bad
        with pytest.raises(JobError):
            parse_job(bad)


async def test_render_schema_prints_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert await run(parser().parse_args(["schema"])) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == job_schema()
    union = printed["properties"]["clips"]["items"]
    assert sorted(union["discriminator"]["mapping"]) == sorted(CLIP_KINDS)  # registered kinds too
    assert len(union["oneOf"]) == len(CLIP_KINDS)


def test_render_submit_refuses_a_bad_job_without_a_server(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every problem on stderr and exit code 2 before any connection is tried (none is listening here)."""
    bad = tmp_path / "job.json"
    bad.write_text(json.dumps({"video_id": "x y", "clips": [{"kind": "card", "duration": -1}]}))
    args = parser().parse_args(["submit", str(bad)])
    assert asyncio.run(run(args)) == 2
    err = capsys.readouterr().err
    assert err.startswith("render: refused: video_id: ") and "clips[0].duration: must be between 0.1 and 600" in err
