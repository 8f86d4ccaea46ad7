"""Hostile jobs against the contract: any JSON validates or is refused with a field path, never anything else."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from temporalio.converter import DataConverter

from contracts.budget import attempt_seconds
from contracts.job import JOB_FIELDS, MAX_CLIPS, MAX_JOB_BYTES, Job, JobError, parse_job
from contracts.plan import plan_video
from contracts.records import ClipTicket, RenderClipInput
from tests.hostile import TEMPLATE, hostile_text, json_values, mutated_jobs
from workflows.render_video import CLIP_PAGE

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def outcome(raw: Any) -> Job | JobError:
    """parse_job's answer; any exception other than JobError fails the test."""
    try:
        return parse_job(raw)
    except JobError as err:
        return err


def check_refusal(err: JobError) -> None:
    """A refusal names a field path that is short and printable, then says what is wrong, briefly.

    Every problem found is listed, one per line, the first one (`field`, `message`) first.
    """
    lines = str(err).split("\n")
    assert lines[0] == f"{err.field}: {err.message}"
    assert err.problems[0] == (err.field, err.message)
    assert len(lines) <= JobError.MAX_LISTED + 1 and len(str(err)) <= 20_000
    for field, message in err.problems:
        assert field and len(field) <= 120 and field.isprintable(), field
        head = field.split(".", 1)[0].split("[", 1)[0]
        assert head in JOB_FIELDS or head == "job" or message.startswith("unknown field"), field
        assert 0 < len(message) <= 600 and message.isprintable(), message


def check_usable(job: Job) -> None:
    """An accepted job plans, and everything it carries can be written as UTF-8 and sent as JSON."""
    plan = plan_video(job)
    assert 1 <= len(plan.clips) <= MAX_CLIPS
    for clip in job.clips:
        for text in (*clip.lines, *clip.answers, clip.question or "", clip.narration or "", clip.image or ""):
            text.encode("utf-8")  # a lone surrogate would only fail later, on a worker
    json.dumps([job.video_id, job.channel, [c.spec for c in plan.clips]], default=repr).encode("utf-8")


@PROPERTY
@given(json_values)
@example(10**400)
@example({"video_id": "v", "clips": [{"kind": "card", "duration": 10**400}]})
@example({"video_id": "v", "clips": [{"kind": "card", "duration": 1, "lines": ["\ud800"]}]})
@example({"video_id": "v", "clips": [{"kind": "card", "duration": 1, "x" * 5000: 1}]})
@example({"video_id": "v", "tts_speed": -(10**5000)})
def test_any_json_validates_or_names_a_field(raw: Any) -> None:
    result = outcome(raw)
    if isinstance(result, JobError):
        check_refusal(result)
    else:
        check_usable(result)


@PROPERTY
@given(mutated_jobs())
def test_a_valid_job_made_hostile_validates_or_names_a_field(raw: Any) -> None:
    result = outcome(raw)
    if isinstance(result, JobError):
        check_refusal(result)
    else:
        check_usable(result)


def test_template_is_valid() -> None:
    assert len(parse_job(TEMPLATE).clips) == 6


@PROPERTY
@given(hostile_text)
def test_hostile_text_is_kept_verbatim_or_refused_with_a_reason(text: str) -> None:
    result = outcome({"video_id": "v", "clips": [{"kind": "card", "duration": 1, "lines": [text]}]})
    if isinstance(result, JobError):
        assert result.field == "clips[0].lines[0]"
        assert any(word in result.message for word in ("control character", "surrogate", "limit is")), result
    else:
        assert result.clips[0].lines == (text,)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("x" * 10_000, "10000 characters long; the limit is 500"),
        ("a\x00b", "control character U+0000"),
        ("line\r\nbreak", "control character U+000D"),
        ("bad \ud83c half of an emoji", "unpaired surrogate U+D83C"),
    ],
)
def test_text_limits_are_named(text: str, needle: str) -> None:
    with pytest.raises(JobError) as caught:
        parse_job({"video_id": "v", "clips": [{"kind": "card", "duration": 1, "lines": [text]}]})
    assert caught.value.field == "clips[0].lines[0]" and needle in caught.value.message


def test_quality_zero_is_refused() -> None:
    """CRF 0 is lossless, which libx264's high profile refuses: every attempt would fail the same way."""
    with pytest.raises(JobError, match=r"profile\.quality: must be between 1 and 51, got 0"):
        parse_job({"video_id": "v", "profile": {"quality": 0}, "clips": [{"kind": "card", "duration": 1}]})


@pytest.mark.parametrize(
    ("uri", "needle"),
    [
        ("file:///srv/assets/../../etc/passwd", "'..'"),
        ("file:///srv/assets/%2e%2e/%2E%2E/etc/passwd", "'..'"),
        ("file:///srv/assets/a%00.png", "control character"),
        ("file:///srv/assets/a%0A.png", "control character"),
        ("/etc/passwd", "file:// or s3://"),
        ("http://169.254.169.254/latest/meta-data", "file:// or s3://"),
        ("s3://media/assets/../secrets/key.png", "'..'"),
        ("file:///srv/assets/a.png\n", "control character"),
    ],
)
def test_asset_uris_that_could_escape_are_refused_by_the_contract(uri: str, needle: str) -> None:
    with pytest.raises(JobError) as caught:
        parse_job({"video_id": "v", "clips": [{"kind": "card", "duration": 1, "image": uri}]})
    assert caught.value.field == "clips[0].image" and needle in caught.value.message


def test_thousands_of_clips_are_refused_with_the_limit_named() -> None:
    card = {"kind": "card", "duration": 1}
    question = {
        "question": "Q",
        "answer_a": "a",
        "answer_b": "b",
        "answer_c": "c",
        "answer_d": "d",
        "correct_answer": "a",
    }
    with pytest.raises(JobError, match=f"between 0 and {MAX_CLIPS} items, got 5000") as many:
        parse_job({"video_id": "v", "clips": [card] * 5000})
    assert many.value.field == "clips"
    # Questions expand into two clips each: the planned total is what counts.
    with pytest.raises(JobError, match=f"plans 2500 clips; the limit is {MAX_CLIPS}"):
        parse_job({"video_id": "v", "questions": [question] * 1000, "clips": [card] * 500})


def big_job(clips: int, chars: int) -> dict[str, Any]:
    """`clips` cards of twelve lines, `chars` characters each, half of them emoji (twelve bytes each as JSON)."""
    line = ("🎬" * chars)[: chars // 2] + "x" * (chars - chars // 2)
    return {"video_id": "v", "clips": [{"kind": "card", "duration": 1, "lines": [line] * 12} for _ in range(clips)]}


def test_a_job_too_big_for_its_history_is_refused_with_the_limit() -> None:
    with pytest.raises(JobError) as caught:
        parse_job(big_job(MAX_CLIPS, 499))  # every clip and every line at its own limit: 25 MB as JSON
    assert caught.value.field == "job"
    assert f"the limit is {MAX_JOB_BYTES}" in caught.value.message and "history" in caught.value.message


def test_the_largest_job_accepted_records_nothing_that_grows_with_it() -> None:
    """At the limit, with every clip allowed: what the workflow records per clip (its render input, a page of
    clip tickets) is of a fixed size, whatever the job's text."""
    chars = 0
    while len(json.dumps(big_job(MAX_CLIPS, chars + 1))) <= MAX_JOB_BYTES:
        chars += 1
    job = parse_job(big_job(MAX_CLIPS, chars))
    plan = plan_video(job)
    converter = DataConverter.default.payload_converter
    key = f"{job.video_id}/plans/{'0' * 24}"
    inputs = [
        converter.to_payloads([RenderClipInput(job.video_id, key, c.index, "en", 1.0, None, "default")])[0]
        for c in plan.clips
    ]
    page = [ClipTicket(c.index, c.label, c.frames, attempt_seconds(c.spec, c.frames, job.profile)) for c in plan.clips]
    page_size = converter.to_payloads([page[-CLIP_PAGE:]])[0].ByteSize()
    sizes = [p.ByteSize() for p in inputs]
    assert len(sizes) == MAX_CLIPS and max(sizes) < 256
    assert page_size < 32 * 1024, page_size  # the largest record a workflow task decodes while it fans out


@given(st.integers(min_value=MAX_CLIPS - 2, max_value=MAX_CLIPS + 2))
@settings(max_examples=5, deadline=None)
def test_the_clip_limit_is_exact(count: int) -> None:
    result = outcome({"video_id": "v", "clips": [{"kind": "card", "duration": 1}] * count})
    assert isinstance(result, Job) == (count <= MAX_CLIPS)
