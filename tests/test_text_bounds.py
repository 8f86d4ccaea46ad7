"""Text that could be cut, overlap, take minutes to lay out or be drawn in another language's forms.

Each case runs the real fonts through the validation the workflow runs, and the frames
are rendered by the real render activity (Pillow layers overlaid by ffmpeg).
"""

from __future__ import annotations

import random
import threading
import uuid
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from PIL import Image
from temporalio.client import Client

from activities.validate import checked_job
from contracts import names
from contracts.job import JobError, parse_job
from contracts.plan import job_language, plan_video
from engine.deps import Deps
from engine.media.fit import MAX_JOB_TEXT_CHARS, MAX_MARKS
from engine.media.layers import Fonts, draw_blocks, layout_clip, shadow_offset
from engine.threads import Stopped
from tests.conftest import failure_of
from tests.media import rgb_frame
from tests.test_text_render import fonts_of, keep, render

FAMILY = "\u200d".join(["👩"] * 20)
"""Twenty women joined by ZWJ: one grapheme, with no ligature, so drawn as twenty emoji side by side."""
KANJI = "直 骨 角 写 画 今 令 入"
"""Characters drawn differently in Japanese and Chinese."""


def card_job(lines: list[str], width: int = 640, height: int = 360, **extra: object) -> dict[str, Any]:
    clips = [{"kind": "card", "duration": 0.3, "lines": lines}]
    return {"video_id": f"t-{uuid.uuid4().hex[:8]}", "profile": {"width": width, "height": height, "fps": 10},
            "clips": clips, **extra}  # fmt: skip


def refusal(raw: dict[str, Any], fonts: Fonts) -> JobError:
    with pytest.raises(JobError) as caught:
        checked_job(raw, fonts)
    return caught.value


def test_a_job_over_the_text_limit_is_refused_naming_the_limit_before_any_layout(deps: Deps) -> None:
    line = "word " * 99 + "last"
    cards = [{"kind": "card", "duration": 0.1, "lines": [line] * 12} for _ in range(MAX_JOB_TEXT_CHARS // 6000 + 1)]
    err = refusal({**card_job([]), "clips": cards}, fonts_of(deps))
    assert err.field == "clips"
    assert f"the limit is {MAX_JOB_TEXT_CHARS}" in err.message


def test_a_trivia_job_of_250_questions_is_inside_the_text_limit(deps: Deps) -> None:
    question = {"question": "Which of these landmarks was finished first, according to the city records? " * 2,
                "answer_a": "The Eiffel Tower", "answer_b": "Big Ben", "answer_c": "The Colosseum",
                "answer_d": "Sydney Opera House", "correct_answer": "The Colosseum"}  # fmt: skip
    job = checked_job({"video_id": "q250", "questions": [question] * 250}, fonts_of(deps))
    assert len(job.clips) == 500


def test_a_stopped_validation_ends_its_layout_instead_of_running_on(deps: Deps) -> None:
    stop = threading.Event()
    stop.set()
    with pytest.raises(Stopped):
        checked_job(card_job(["some text"]), fonts_of(deps), stop=stop)


async def test_an_unligated_zwj_sequence_shrinks_to_the_frame_instead_of_being_cut(deps: Deps) -> None:
    raw = card_job([FAMILY])
    job = checked_job(raw, fonts_of(deps))
    [laid] = layout_clip(job.clips[0], job.profile, fonts_of(deps)).blocks
    assert laid.widest <= 640
    frame = rgb_frame(await render(deps, job, 0), 0.1, 640, 360, "bt601")
    keep("zwj-family-640x360", frame)
    columns = np.flatnonzero((frame.max(axis=2) > 40).any(axis=0))
    assert columns[0] < 100 and columns[-1] > 540, "the row of faces is drawn across the frame..."
    assert columns[0] >= 4 and columns[-1] < 636, "...and reaches neither edge"


def test_a_grapheme_too_wide_even_at_the_minimum_size_is_refused_naming_the_field(deps: Deps) -> None:
    err = refusal(card_job(["\u200d".join(["👩"] * 120)], 320, 180), fonts_of(deps))
    assert err.field == "clips[0].lines"
    assert "does not fit" in err.message


@pytest.mark.parametrize("text", ["a" + "\u0301" * 499, "ب" + "\u064e\u0650" * 240, "x" + "\u0301" * (MAX_MARKS + 1)])
def test_stacked_combining_marks_are_refused_naming_the_field(deps: Deps, text: str) -> None:
    err = refusal(card_job(["first line", text]), fonts_of(deps))
    assert err.field == "clips[0].lines[1]"
    assert f"the limit is {MAX_MARKS}" in err.message


async def test_marks_a_language_needs_render_without_touching_the_line_above(deps: Deps) -> None:
    lines = ["ab", "ệ ế ẫ ḗ", "cd"]
    job = checked_job(card_job(lines), fonts_of(deps))
    for text in ("تَّ بِّ", "בְּרֵאשִׁ֖ית", "a" + "\u0301" * MAX_MARKS):
        checked_job(card_job([text]), fonts_of(deps))
    frame = rgb_frame(await render(deps, job, 0), 0.1, 640, 360, "bt601")
    keep("vietnamese-marks-640x360", frame)
    rows = np.flatnonzero((frame.max(axis=2) > 40).any(axis=1))
    bands = np.split(rows, np.flatnonzero(np.diff(rows) > 1) + 1)
    size = layout_clip(job.clips[0], job.profile, fonts_of(deps)).blocks[0].size
    assert len(bands) >= 3 and len(bands[0]) < size, "the first line's ink ends before the marks below begin"


def test_a_japanese_voice_or_kana_anywhere_in_the_job_draws_every_clip_the_japanese_way() -> None:
    both = parse_job({**card_job([KANJI]), "clips": [{"kind": "card", "duration": 1, "lines": [KANJI]},
                                                      {"kind": "card", "duration": 1, "lines": ["です"]}]})  # fmt: skip
    assert {clip.language for clip in plan_video(both).clips} == {"ja"}
    assert job_language(parse_job(card_job([KANJI], tts_voice="ja-JP-Neural2-B"))) == "ja"
    assert job_language(parse_job(card_job([KANJI], tts_voice="cmn-CN-Wavenet-A"))) == "zh"
    assert job_language(parse_job(card_job([KANJI]))) == "zh"
    assert job_language(parse_job(card_job(["안녕 " + KANJI]))) == "ko"


async def test_kanji_only_cards_of_a_japanese_video_render_in_japanese_forms(deps: Deps) -> None:
    raw = card_job([KANJI], tts_voice="ja-JP")
    raw["clips"] = [*raw["clips"], {"kind": "card", "duration": 0.3, "lines": [KANJI + " です"]}]
    job = checked_job(raw, fonts_of(deps))
    frame = rgb_frame(await render(deps, job, 0), 0.1, 640, 360, "bt601")
    keep("kanji-in-a-japanese-video", frame)
    fonts = fonts_of(deps)

    def drawn(language: str) -> np.ndarray:
        layer = draw_blocks(layout_clip(job.clips[0], job.profile, replace(fonts, language=language)).blocks,
                            640, 360, shadow_offset(360))  # fmt: skip
        black = Image.new("RGBA", (640, 360), (0, 0, 0, 255))
        return np.asarray(Image.alpha_composite(black, layer).convert("L")) > 128

    ink = frame.max(axis=2) > 128
    japanese, chinese = drawn("ja"), drawn("zh")
    assert (japanese != chinese).sum() > 200, "the two forms differ visibly"
    assert (ink != japanese).sum() < (ink != chinese).sum() / 3


def test_a_question_with_kana_is_laid_out_with_the_japanese_face(deps: Deps) -> None:
    job = parse_job({"video_id": "q", "clips": [{"kind": "question", "question": "今はどこ？",
                                                  "answers": ["直", "骨", "角", "写"], "correct": 0}]})  # fmt: skip
    layout = layout_clip(job.clips[0], job.profile, fonts_of(deps))
    faces = {run.face.index for b in layout.blocks for line in b.lines for run in line.runs if run.face.name == "CJK"}
    assert faces == {0}, "index 0 of the CJK collection is the Japanese face"


@pytest.mark.usefixtures("workers")
async def test_a_text_heavy_job_started_raw_is_refused_naming_the_limit_not_timed_out(client: Client) -> None:
    words = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "alpha", "beta", "gamma", "delta"]
    pick = random.Random(1).choice
    lines = [[f"{i} {j} " + " ".join(pick(words) for _ in range(14)) for j in range(12)] for i in range(500)]
    job = {**card_job([]), "clips": [{"kind": "card", "duration": 0.1, "lines": card} for card in lines]}
    video_id = str(job["video_id"])
    await client.start_workflow(names.WORKFLOW_NAME, job, id=video_id, task_queue=names.CONTROL_QUEUE)
    error = await failure_of(client, video_id)
    assert error.type == names.INVALID_JOB and error.non_retryable
    assert error.message.startswith("clips: have ") and f"the limit is {MAX_JOB_TEXT_CHARS}" in error.message


def test_a_japanese_question_numbered_past_99_fits_a_1080p_frame(deps: Deps) -> None:
    """A question "第100問：" and 55 kanji and kana at 1080p was refused even at the minimum size
    ("第99問：" was not): the unit "100" was measured in the primary face, and its line drew it in
    the wider CJK digits of the text around it."""
    answers = ["江戸幕府初代将軍の徳川家康（いえやす）", "第五代将軍の徳川綱吉（つなよし）です",
               "第八代将軍の徳川吉宗（よしむね）です", "最後の将軍の徳川慶喜（よしのぶ）です"]  # fmt: skip
    question = (
        "第100問：日本の歴史と文化についての問題です。"
        "江戸時代に最も長く続いた幕府の将軍は誰でしょうか？正しいと思う答えを選"
    )
    choices = {f"answer_{letter}": a for letter, a in zip("abcd", answers, strict=True)}
    raw = {"video_id": "ja-100", "tts_voice": "ja", "tts_engine": "none", "profile": {"width": 1920, "height": 1080},
           "questions": [{"question": question, **choices, "correct_answer": "A"}]}  # fmt: skip
    checked_job(raw, fonts_of(deps))
