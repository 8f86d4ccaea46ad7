"""The correct answer given as a letter that is also another answer's text is refused, naming the field."""

from __future__ import annotations

import pytest

from contracts.job import JobError, parse_job


@pytest.mark.parametrize(
    ("clip", "field"),
    [
        ({"kind": "question", "question": "Q?", "answers": ["B", "A", "C", "D"], "correct": "A"}, "clips[0].correct"),
        ({"kind": "question", "question": "Q?", "answers": ["x", "y", "z", "b"], "correct": "b"}, "clips[0].correct"),
    ],
)
def test_a_letter_that_is_another_answers_text_is_refused_naming_the_field(clip: dict[str, object], field: str) -> None:
    with pytest.raises(JobError) as caught:
        parse_job({"video_id": "v", "clips": [{**clip, "duration": 1}]})
    assert caught.value.field == field
    assert "give the answer's index" in caught.value.message


def test_a_seed_whose_letter_is_another_answers_text_is_refused_naming_the_field() -> None:
    seed = {"question": "Q?", "answer_a": "B", "answer_b": "A", "answer_c": "C", "answer_d": "D", "correct_answer": "A"}
    with pytest.raises(JobError) as caught:
        parse_job({"video_id": "v", "questions": [seed]})
    assert caught.value.field == "questions[0].correct_answer"
    assert "reword that answer" in caught.value.message


def test_a_letter_that_is_its_own_answers_text_is_accepted() -> None:
    job = parse_job({"video_id": "v", "clips": [{"kind": "question", "question": "Q?", "duration": 1,
                                                 "answers": ["A", "B", "C", "D"], "correct": "B"}]})  # fmt: skip
    assert job.clips[0].correct == 1
