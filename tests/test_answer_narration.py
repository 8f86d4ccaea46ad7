"""The reveal's narration, worded by the theme: the answer inserted as data, timed and cached like any
narration, and hashes that change only for a theme that sets it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment

from activities.narration import NarrationActivities, narration_key
from activities.validate import job_hash
from contracts.job import Job, JobError, parse_job
from contracts.plan import fit_narration, plan_video
from contracts.records import Narration, NarrationWork
from engine.deps import Deps

SAMPLE = Path(__file__).parent.parent / "examples" / "trivia-sample.json"
BEFORE_THE_FIELDS = {
    # The sample in `midnight`, and with an inlined theme, as keyed before themes could word the reveal.
    None: (
        "7fd125f36cbef151e1b5d3fc8be352e136eb9e039cc21e20266ea17e3f999244",
        ["0000-2992186a5987a6f5", "0001-495a1db41d530a6d", "0002-e23ed7e4366f29e3"],
    ),
    "inline": (
        "0c638d3989e70ea69c7eb8b53a55303e8a3313af6e10eb08193ab70ae7db3f10",
        ["0000-2b63c8ed990dce6b", "0001-d401700e853db243", "0002-bac0b5be74221773"],
    ),
}
INLINE = {"name": "mine", "background": {"colour": "#102030"}, "sounds": {"tick": "file:///assets/t.wav"}}


def sample(theme: Any = None, **extra: Any) -> dict[str, Any]:
    job: dict[str, Any] = json.loads(SAMPLE.read_text())
    return {**job, **({"theme": theme} if theme is not None else {}), **extra}


def reveals(job: Job) -> list[str | None]:
    return [c.spec.narration for c in plan_video(job).clips if c.spec.kind == "reveal"]


@pytest.mark.usefixtures("engine_2")  # BEFORE_THE_FIELDS was recorded at engine version 2
@pytest.mark.parametrize("which", [None, "inline"])
def test_a_theme_that_leaves_the_reveal_alone_keeps_the_jobs_hash_and_its_clip_keys(which: str | None) -> None:
    themes = [INLINE, {**INLINE, "narrate_answer": True, "answer_phrase": "The answer is {answer}."}]
    still = {"extends": "midnight", "motion": "none", "transition": "cut"}  # midnight's look when these were recorded
    for theme in themes if which else [still]:
        job = parse_job(sample(theme))
        digest, keys = BEFORE_THE_FIELDS[which]
        assert job_hash(job) == digest
        assert [c.key.rsplit("/", 1)[1].removesuffix(".mov") for c in plan_video(job).clips][:3] == keys
        assert reveals(job) == [
            "The answer is Soccer.",
            "The answer is Jupiter.",
            "The answer is It is drawn exactly as typed ✅.",
        ]


def test_the_theme_words_the_reveal_with_the_answer_as_data() -> None:
    answers = ["{answer}", "{0} %s {{x}}", "C", "D"]
    question = {"kind": "question", "question": "Which?", "answers": answers, "correct": 0}
    theme = {**INLINE, "answer_phrase": "Correct: {answer}! (not {0} or %s)"}
    job = parse_job({"video_id": "worded", "theme": theme, "clips": [question, {**question, "correct": 1}]})
    assert reveals(job) == ["Correct: {answer}! (not {0} or %s)", "Correct: {0} %s {{x}}! (not {0} or %s)"]
    same = parse_job({"video_id": "worded", "theme": INLINE, "clips": [question, {**question, "correct": 1}]})
    plain_keys, worded_keys = [c.key for c in plan_video(same).clips], [c.key for c in plan_video(job).clips]
    assert job_hash(job) != job_hash(same)
    assert [a == b for a, b in zip(plain_keys, worded_keys, strict=True)] == [False] * 4  # the look is hashed


def test_a_theme_can_keep_the_reveal_silent() -> None:
    job = parse_job(sample({**INLINE, "narrate_answer": False}))
    assert reveals(job) == [None, None, None]
    questions = [c.spec.narration for c in plan_video(job).clips if c.spec.kind == "question"]
    assert questions[0] == "Which sport is known as 'the king of sports'?"  # questions still read


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("answer_phrase", "The answer!", "must hold {answer} exactly once"),
        ("answer_phrase", "{answer} or {answer}", "must hold {answer} exactly once"),
        ("answer_phrase", 7, "expected text holding {answer}, got a number"),
        ("answer_phrase", "It is\x07 {answer}", "contains control character U+0007"),
        ("answer_phrase", "x" * 200 + "{answer}", "is 208 characters long; the limit is 200"),
        ("narrate_answer", "yes", "Input should be a valid boolean"),
    ],
)
def test_a_bad_answer_setting_is_refused_naming_the_field(field: str, value: Any, message: str) -> None:
    with pytest.raises(JobError) as refused:
        parse_job(sample({**INLINE, field: value}))
    assert (f"theme.{field}", message) in [(f, m[: len(message)]) for f, m in refused.value.problems]


async def narrate(deps: Deps, job: Job) -> Narration:
    plan = plan_video(job)
    lines = [(c.index, c.spec.narration) for c in plan.clips if c.spec.narration]  # as the workflow asks
    inp = NarrationWork(job.video_id, lines, job.tts_voice, job.tts_speed)
    result: Narration = await ActivityEnvironment().run(NarrationActivities(deps).synthesize, inp)
    return result


LONG_PHRASE = "And now, after all that waiting, the one answer that was right all along, in full: {answer}."


async def test_a_worded_reveal_is_narrated_ahead_and_grows_its_clip_or_refuses_the_job(deps: Deps) -> None:
    question = {"kind": "question", "question": "Which?", "answers": ["Soccer", "B", "C", "D"], "correct": 0}
    raw = {
        "video_id": "worded-grow",
        "profile": {"width": 64, "height": 64},
        "theme": {**INLINE, "answer_phrase": LONG_PHRASE},
        "clips": [{**question, "duration": 3, "reveal_duration": 1}],
    }
    job = parse_job(raw)
    narrated = await narrate(deps, job)
    spoken = LONG_PHRASE.replace("{answer}", "Soccer")
    assert [t.index for t in narrated.takes] == [0, 1]
    assert narrated.takes[1].key == narration_key(narrated.engine, job.tts_voice, job.tts_speed, spoken)
    plan = fit_narration(job, plan_video(job), narrated.takes)
    reveal = plan.clips[1]
    assert reveal.spec.narration == spoken and reveal.narration_key == narrated.takes[1].key
    assert reveal.grown_frames > 0 and reveal.frames * (48_000 // 30) >= narrated.takes[1].samples
    refusing = parse_job({**raw, "narration_fit": "refuse"})
    with pytest.raises(JobError, match=r"clips\[1\]\.narration: .* does not fit the 1 s clip"):
        fit_narration(refusing, plan_video(refusing), (await narrate(deps, refusing)).takes)
