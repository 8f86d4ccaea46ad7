"""The job contract: good jobs plan exactly, bad jobs get an error naming the field."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from contracts.job import MAX_CLIPS, JobError, parse_job
from contracts.plan import frames_for, plan_video, samples_for


def test_seed_trivia_job_expands_to_question_and_reveal_pairs(seed_job: dict[str, Any]) -> None:
    job = parse_job(seed_job)
    kinds = [c.kind for c in job.clips]
    assert kinds == ["question", "reveal", "question", "reveal", "recipe"]
    first = job.clips[0]
    assert first.answers == ("Basketball", "Baseball", "Tennis", "Soccer")
    assert first.correct == 3  # "Soccer", given as the answer text
    assert job.clips[1].narration == "The answer is Soccer."
    assert job.tts_voice == "en-US-Neural2-F"


def test_plan_rounds_to_whole_frames_and_exact_audio(seed_job: dict[str, Any]) -> None:
    plan = plan_video(parse_job(seed_job))
    assert [c.frames for c in plan.clips] == [45, 30, 45, 30, 15]
    assert plan.frames == 165
    assert frames_for(0.0166, 30) == 1
    assert samples_for(45, 30) == 45 * 1600


def test_keys_are_deterministic_and_follow_the_spec(seed_job: dict[str, Any]) -> None:
    first = plan_video(parse_job(seed_job))
    again = plan_video(parse_job(copy.deepcopy(seed_job)))
    assert [c.key for c in first.clips] == [c.key for c in again.clips]
    assert len({c.spec_hash for c in first.clips}) == len(first.clips)
    seed_job["questions"][0]["answer_a"] = "Cricket"
    changed = plan_video(parse_job(seed_job))
    assert changed.clips[0].spec_hash != first.clips[0].spec_hash
    assert changed.clips[2].spec_hash == first.clips[2].spec_hash
    assert first.clips[0].key.startswith(f"{seed_job['video_id']}/clips/0000-")


def test_correct_answer_as_letter() -> None:
    job = parse_job(
        {
            "video_id": "v",
            "clips": [{"kind": "question", "question": "Q?", "answers": ["a", "b", "c", "d"], "correct": "c"}],
        }
    )
    assert job.clips[0].correct == 2


def test_hostile_text_is_accepted_verbatim() -> None:
    text = "It's 100% \"fine\": %{pts} \\ ; [x] 'quoted'\nnext line 🎬 שלום"
    job = parse_job({"video_id": "v", "clips": [{"kind": "card", "duration": 1, "lines": [text]}]})
    assert job.clips[0].lines == (text,)


def test_priority_defaults_to_temporals_middle_key() -> None:
    assert parse_job({"video_id": "v", "clips": [card()]}).priority == 3
    assert parse_job({"video_id": "v", "priority": 1, "clips": [card()]}).priority == 1


def card(**overrides: Any) -> dict[str, Any]:
    return {"kind": "card", "duration": 2, "lines": ["hi"], **overrides}


BAD_JOBS: list[tuple[Any, str, str]] = [
    ([], "job", "expected a JSON object"),
    ({"clips": [card()]}, "video_id", "is required"),
    ({"video_id": 42, "clips": [card()]}, "video_id", "expected a string"),
    ({"video_id": "../etc", "clips": [card()]}, "video_id", "letters, digits"),
    ({"video_id": "v"}, "clips", "at least one clip"),
    ({"video_id": "v", "clips": []}, "clips", "at least one clip"),
    ({"video_id": "v", "clips": "card"}, "clips", "expected a list"),
    ({"video_id": "v", "clips": [card(duration=-1)]}, "clips[0].duration", "between"),
    ({"video_id": "v", "clips": [card(duration=86400)]}, "clips[0].duration", "between"),
    ({"video_id": "v", "clips": [card(duration="5")]}, "clips[0].duration", "expected a number"),
    ({"video_id": "v", "clips": [card(duration=float("nan"))]}, "clips[0].duration", "between"),
    ({"video_id": "v", "clips": [card(duration=True)]}, "clips[0].duration", "expected a number"),
    ({"video_id": "v", "clips": [{"kind": "movie", "duration": 1}]}, "clips[0].kind", "unknown clip kind"),
    ({"video_id": "v", "clips": [card(colour="red")]}, "clips[0].colour", "unknown field"),
    ({"video_id": "v", "clips": [card(background="chartreuse")]}, "clips[0].background", "#RRGGBB"),
    ({"video_id": "v", "clips": [card(lines=["ok", 3])]}, "clips[0].lines[1]", "expected a string"),
    ({"video_id": "v", "clips": [card(lines=["a\x00b"])]}, "clips[0].lines[0]", "control character"),
    ({"video_id": "v", "clips": [card(lines=["x" * 10_000])]}, "clips[0].lines[0]", "limit is 500"),
    ({"video_id": "v", "clips": [card(image="/etc/passwd")]}, "clips[0].image", "file:// or s3://"),
    ({"video_id": "v", "clips": [card(image="file:///a/../etc/passwd")]}, "clips[0].image", "'..'"),
    ({"video_id": "v", "clips": [card()] * (MAX_CLIPS + 1)}, "clips", f"between 0 and {MAX_CLIPS}"),
    ({"video_id": "v", "output_uri": "http://x/y.mp4", "clips": [card()]}, "output_uri", "file:// or s3://"),
    ({"video_id": "v", "profile": {"width": 641}, "clips": [card()]}, "profile.width", "even"),
    ({"video_id": "v", "profile": {"fps": 29}, "clips": [card()]}, "profile.fps", "divide 48000"),
    ({"video_id": "v", "profile": {"height": 100000}, "clips": [card()]}, "profile.height", "between"),
    ({"video_id": "v", "tts_speed": 9, "clips": [card()]}, "tts_speed", "between"),
    ({"video_id": "v", "tts_voice": "en; rm -rf /", "clips": [card()]}, "tts_voice", "voice name"),
    (
        {"video_id": "v", "tts_engine": "festival", "clips": [card()]},
        "tts_engine",
        "unknown TTS engine 'festival' (known: espeak, google, none, polly)",
    ),
    ({"video_id": "v", "tts_engine": 3, "clips": [card()]}, "tts_engine", "expected a string"),
    ({"video_id": "v", "urgency": 1, "clips": [card()]}, "urgency", "unknown field"),
    ({"video_id": "v", "priority": 0, "clips": [card()]}, "priority", "between 1 and 5"),
    ({"video_id": "v", "priority": 6, "clips": [card()]}, "priority", "between 1 and 5"),
    ({"video_id": "v", "priority": "high", "clips": [card()]}, "priority", "expected an integer"),
    (
        {"video_id": "v", "clips": [{"kind": "recipe", "recipe": "fire", "duration": 1}]},
        "clips[0].recipe",
        "unknown recipe",
    ),
    (
        {
            "video_id": "v",
            "clips": [{"kind": "recipe", "recipe": "mandelbrot", "duration": 1, "params": {"maxiter": 10**9}}],
        },
        "clips[0].params.maxiter",
        "between",
    ),
    (
        {"video_id": "v", "clips": [{"kind": "question", "question": "Q", "answers": ["a", "b"], "correct": "a"}]},
        "clips[0].answers",
        "between 4 and 4",
    ),
    (
        {
            "video_id": "v",
            "clips": [{"kind": "question", "question": "Q", "answers": ["a", "b", "c", "d"], "correct": "z"}],
        },
        "clips[0].correct",
        "one of the answers",
    ),
    (
        {
            "video_id": "v",
            "questions": [{"question": "Q", "answer_a": "a", "answer_b": "b", "answer_c": "c", "correct_answer": "a"}],
        },
        "questions[0].answer_d",
        "is required",
    ),
    (
        {
            "video_id": "v",
            "questions": [
                {
                    "question": "Q",
                    "answer_a": "a",
                    "answer_b": "b",
                    "answer_c": "c",
                    "answer_d": "d",
                    "correct_answer": "e",
                }
            ],
        },
        "questions[0].correct_answer",
        "must equal one of",
    ),
    ({"video_id": "v", "total_questions": 3, "questions": []}, "total_questions", "between 0 and 0"),
]


@pytest.mark.parametrize(("raw", "field", "message"), BAD_JOBS, ids=[f for _, f, _ in BAD_JOBS])
def test_bad_jobs_name_the_field(raw: Any, field: str, message: str) -> None:
    with pytest.raises(JobError) as caught:
        parse_job(raw)
    assert caught.value.field == field
    assert message in caught.value.message
    assert str(caught.value).startswith(f"{field}: ")


def test_a_question_with_the_same_answer_twice_is_refused_naming_the_field() -> None:
    clip = {"kind": "question", "question": "Q?", "answers": ["a", "a", "b", "c"], "correct": "a"}
    with pytest.raises(JobError) as err:
        parse_job({"video_id": "v", "clips": [clip]})
    assert err.value.field == "clips[0].answers" and "answers[1] repeats answers[0]" in err.value.message
    seed = {"question": "Q?", "answer_a": "x", "answer_b": "y", "answer_c": "x", "answer_d": "z", "correct_answer": "y"}
    with pytest.raises(JobError) as err:
        parse_job({"video_id": "v", "questions": [seed]})
    assert err.value.field == "questions[0].answer_c" and "repeats answer_a" in err.value.message
