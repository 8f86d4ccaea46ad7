"""The poster's frame: the first question's middle by default, never a reveal (the thumbnail keeps the answer), or
the job's own `poster: {clip, at}`; checked at submit like every other field."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import numpy as np
import pytest
from PIL import Image
from temporalio.client import Client

from activities.validate import job_hash
from contracts.job import JobError, Poster, parse_job
from contracts.plan import plan_video
from engine.storage import file_path
from starter import RenderClient
from tests.media import rgb_frame


def job(**extra: Any) -> dict[str, Any]:
    return {
        "video_id": "poster",
        "clips": [
            {"kind": "card", "duration": 2, "lines": ["Intro"]},
            {"kind": "question", "question": "2 + 2?", "answers": ["3", "4", "5", "6"], "correct": 1,
             "duration": 5, "reveal_duration": 3},
            {"kind": "question", "question": "3 + 3?", "answers": ["5", "6", "7", "8"], "correct": 1},
        ],
        **extra,
    }  # fmt: skip


def test_the_default_poster_is_the_first_questions_middle_never_its_reveal() -> None:
    plan = plan_video(parse_job(job()))
    assert [c.spec.kind for c in plan.clips] == ["card", "question", "reveal", "question", "reveal"]
    assert plan.poster_seconds == 2 + 2.5  # after the 2 s card, the middle of the 5 s question


def test_a_video_without_questions_shows_its_first_clips_middle() -> None:
    plan = plan_video(parse_job({"video_id": "cards", "clips": [{"kind": "card", "duration": 3, "lines": ["a"]}]}))
    assert plan.poster_seconds == 1.5


def test_the_job_chooses_its_clip_and_time() -> None:
    chosen = parse_job(job(poster={"clip": 3, "at": 0.5}))
    assert chosen.poster == Poster(3, 0.5)
    assert plan_video(chosen).poster_seconds == 2 + 5 + 0.5  # clip 3 is the first reveal: the job's choice
    assert plan_video(parse_job(job(poster={"clip": 1}))).poster_seconds == 1.0  # unset `at`: the clip's middle


@pytest.mark.parametrize(
    ("poster", "field", "message"),
    [({"clip": 6}, "poster.clip", "is 6; the video has 5 clips (a question is two)"),
     ({"clip": 2, "at": 5}, "poster.at", "is 5 s; clip 2 lasts 5 s"),
     ({"clip": 0}, "poster.clip", "must be between 1 and"),
     ({"clip": 1, "second": 2}, "poster.second", "unknown field (allowed: at, clip)")],
)  # fmt: skip
def test_a_poster_outside_the_video_is_refused_naming_the_field(
    poster: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(JobError) as refused:
        parse_job(job(poster=poster))
    assert refused.value.field == field and message in refused.value.message, refused.value.problems


def test_a_job_without_a_poster_hashes_as_before() -> None:
    """Videos published before `poster` existed, restarted with the same job, are still the same job."""
    plain = parse_job(job())
    assert job_hash(plain) == job_hash(parse_job(job(poster=None)))
    assert job_hash(parse_job(job(poster={"clip": 2}))) != job_hash(plain)


@pytest.mark.usefixtures("workers")
async def test_the_jobs_poster_choice_reaches_the_published_poster(client: Client) -> None:
    """Through the stored plan, narration fitting and the join: the poster is the frame the job named."""
    video_id = f"poster-{uuid.uuid4().hex[:6]}"
    question = {"kind": "question", "question": "2 + 2?", "answers": ["3", "4", "5", "6"], "correct": 1,
                "duration": 1, "reveal_duration": 1}  # fmt: skip
    raw = {"video_id": video_id, "profile": {"width": 160, "height": 90}, "tts_engine": "none", "theme": "neon",
           "clips": [question], "poster": {"clip": 2, "at": 0.5}}  # fmt: skip
    renders = RenderClient(client)
    await renders.submit(raw)
    result = await asyncio.wait_for(renders.result(video_id), timeout=180)
    with Image.open(file_path(result.poster_uri)) as poster:
        shown = np.asarray(poster.convert("RGB")).astype(np.int16)
    video = file_path(result.output_uri)
    reveal = rgb_frame(video, 1.5, 160, 90, "bt601").astype(np.int16)  # clip 2 (the reveal), 0.5 s in
    question_frame = rgb_frame(video, 0.5, 160, 90, "bt601").astype(np.int16)
    assert np.abs(shown - reveal).mean() < 6 < np.abs(shown - question_frame).mean()
