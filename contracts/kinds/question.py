"""The `question` clip: a trivia question with four answers, planned as two specs: the question, then the reveal.

`reveal` is a spec kind the question plans and a job file cannot write (`clips[].kind` is never "reveal"):
this module registers its contract too, with no model, so labels, frame counts and a theme's question numbers
come from the registry for both, and `engine.kinds.question` registers both renderers. The job's `questions`
(the trivia farm's format) are question clips written another way (`contracts.job_models.SeedQuestion`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationInfo, WithJsonSchema, field_validator

from contracts.fields import (
    URI,
    Answer,
    Colour,
    Duration,
    Number,
    Question,
    Text,
    _fail,
    _items,
    _Model,
    _Spoken,
    _unambiguous,
    default_of,
)
from contracts.kinds import JobDefaults, KindContract, register, shorten, spoken
from contracts.languages import answer_phrase, text_language
from contracts.rules import MAX_CLIP_SECONDS, ClipSpec, brief
from contracts.themes import Theme, answer_narration


def _correct(value: Any, answers: list[str]) -> int:
    """The correct answer, given as its letter (A-D), its index (0-3) or its text."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 4:
        return value
    if isinstance(value, str):
        _unambiguous(value, answers, "give the answer's index 0-3 instead")
        if value in answers:
            return answers.index(value)
        if value.upper() in ("A", "B", "C", "D"):
            return "ABCD".index(value.upper())
    _fail(f"must be one of the answers, a letter A-D or an index 0-3, got {brief(value)}")


class QuestionClip(_Model, _Spoken):
    """A trivia question with four answers; it renders as the question, then the reveal."""

    kind: Literal["question"]
    question: Question
    answers: Annotated[list[Answer], BeforeValidator(_items(4, 4)), Field(min_length=4, max_length=4)]
    correct: Annotated[
        int | str | None,
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "integer", "minimum": 0, "maximum": 3},
                    {"type": "string", "description": "a letter A-D, or the correct answer's text"},
                ]
            }
        ),
    ]
    duration: Number(1.0, MAX_CLIP_SECONDS) | None = None  # type: ignore[valid-type]
    reveal_duration: Duration | None = None
    background: Colour = default_of(ClipSpec, "background")
    image: URI | None = None
    picture: URI | None = Field(
        default=None,
        description="an image shown with the question and its reveal, beside or above the question text "
        "(`image` is the clip's full-frame background)",
    )
    audio: URI | None = None
    narration: Text() | None = None  # type: ignore[valid-type]

    @field_validator("answers")
    @classmethod
    def _different_answers(cls, answers: list[str]) -> list[str]:
        """Two equal answers make the question unanswerable, and `correct` given as text ambiguous."""
        for i, answer in enumerate(answers):
            if answer in answers[:i]:
                _fail(
                    f"answers[{i}] repeats answers[{answers.index(answer)}] ({brief(answer)}); each answer must differ"
                )
        return answers

    @field_validator("correct", mode="plain")
    @classmethod
    def _correct_answer(cls, value: Any, info: ValidationInfo) -> int:
        answers = info.data.get("answers")
        if answers is None:  # the answers have their own error
            return -1
        return _correct(value, answers)


def specs(clip: Any, job: JobDefaults) -> list[ClipSpec]:
    """A question clip renders as two: the question, then the reveal."""
    answers = tuple(clip.answers)
    correct = clip.correct if isinstance(clip.correct, int) else -1  # an int once validated
    shared: dict[str, Any] = dict(
        background=clip.background,
        image=clip.image,
        question=clip.question,
        answers=answers,
        correct=correct,
        picture=clip.picture,
    )
    if "background" in clip.model_fields_set:
        shared["own_background"] = True
    shared.update(spoken(clip, job))
    said = answer_phrase(text_language(shared["language"], shared["voice"] or job.voice))
    return [
        ClipSpec(
            kind="question",
            duration=clip.duration if clip.duration is not None else job.question_seconds,
            narration=clip.narration or clip.question,
            audio=clip.audio,
            **shared,
        ),
        ClipSpec(
            kind="reveal",
            duration=clip.reveal_duration if clip.reveal_duration is not None else job.reveal_seconds,
            narration=said.replace("{answer}", answers[correct]),
            **shared,
        ),
    ]


def label(spec: ClipSpec) -> str:
    """The spec's kind and its question; one without question text is labelled as the card it looks like."""
    if not spec.question:
        return f'card "" · {spec.duration:g} s'
    return f'{spec.kind} "{shorten(spec.question)}" · {spec.duration:g} s'


def themed_reveal(spec: ClipSpec, theme: Theme, job_voice: str) -> ClipSpec:
    """The reveal's narration in the theme's words for the answer; with the default words the spec is unchanged."""
    if not 0 <= spec.correct < len(spec.answers):
        return spec
    said = text_language(spec.language, spec.voice or job_voice)
    return replace(spec, narration=answer_narration(theme, spec.answers[spec.correct], said))


CONTRACT = register(
    KindContract(
        kind="question",
        model=QuestionClip,
        specs=specs,
        label=label,
        assets={"image": "image", "audio": "audio", "picture": "image"},
        order=1,
        counted=True,
        numbered=True,
    )
)
REVEAL = register(KindContract(kind="reveal", label=label, numbered=True, themed=themed_reveal))
