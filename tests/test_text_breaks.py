"""Lines break as a typesetter breaks them: long words hyphenated in their language, URLs at their
punctuation, and no orphan word alone on a question's last line; every line inside its region."""

from __future__ import annotations

import itertools
import os
from dataclasses import replace
from pathlib import Path

import pytest

from activities.validate import checked_job, job_theme
from contracts.job import Job
from contracts.plan import job_language
from engine.media.layers import Fonts
from engine.media.text import _hyphen_points, hyphenation_language, text_hyphenation
from engine.media.themed import ThemedLayout, layout_themed, still_frame, theme_fonts

DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
FRAMES_DIR = os.environ.get("TEXT_FRAMES_DIR")
"""When set, each frame is kept there as a PNG, to look at."""
PORTRAIT = (1080, 1920)
COMPOUND = "Donaudampfschifffahrtsgesellschaftskapitän"
URL = "https://www.example.org/trivia/questions/geography/europe/rivers?id=42"


def laid_out(question: str, voice: str, name: str, size: tuple[int, int] = PORTRAIT) -> tuple[Job, ThemedLayout]:
    clip = {"kind": "question", "question": question, "answers": ["a", "b", "c", "d"], "correct": 0}
    raw = {"video_id": "v", "tts_voice": voice, "profile": {"width": size[0], "height": size[1]}, "clips": [clip]}
    fonts = Fonts(DEJAVU / "DejaVuSans.ttf", DEJAVU / "DejaVuSans-Bold.ttf", hyphenation=hyphenation_language(voice))
    job = checked_job(raw, fonts)
    theme = job_theme(job, {})
    fonts = replace(theme_fonts(theme, fonts), language=job_language(job))
    layout = layout_themed(job.clips[0], job.profile, fonts, theme)
    if FRAMES_DIR:
        Path(FRAMES_DIR).mkdir(parents=True, exist_ok=True)
        still_frame(job.clips[0], job.profile, fonts, theme, 1, 3).save(Path(FRAMES_DIR) / f"break-{name}.png")
    return job, layout


def lines_of(layout: ThemedLayout) -> list[str]:
    box = layout.texts[0]
    for line in box.laid.lines:
        assert line.width <= box.area.w  # inside the question's region, itself inside the frame
    return [line.text for line in box.laid.lines]


def test_hyphenation_language_comes_from_the_voice() -> None:
    assert hyphenation_language("de-DE-Neural2-B") == "de_DE"
    assert hyphenation_language("ru") == "ru"
    assert hyphenation_language("vi") == ""  # Vietnamese words are one syllable: none to hyphenate
    assert hyphenation_language("cmn-CN") == ""


def test_a_long_german_compound_breaks_with_a_hyphen_inside_the_frame() -> None:
    question = f"Wer war der {COMPOUND}?"
    _, layout = laid_out(question, "de", "german")
    lines = lines_of(layout)
    assert len(lines) > 1 and any(line.endswith("-") for line in lines)
    assert "".join(line.removesuffix("-") if line.endswith("-") else line + " " for line in lines).strip() == question
    for line in lines:
        if line.endswith("-"):
            assert len(line.split()[-1]) > 3  # never one or two letters before the hyphen


def test_a_long_url_breaks_at_its_punctuation_without_hyphens() -> None:
    question = f"Which page is {URL}"
    _, layout = laid_out(question, "en", "url")
    lines = lines_of(layout)
    assert len(lines) > 2 and " ".join(lines).replace(" .", ".").replace("/ ", "/").replace("= ", "=") == question
    joined = 0
    for line, following in itertools.pairwise(lines):
        joined += len(line)
        inside = question[joined] != " "
        if inside:  # a break inside the URL: after a slash or =, or before a dot
            assert line[-1] in "/?&=#" or following[0] in ".@-_~", (line, following)
        else:
            joined += 1
    assert not any(line.endswith("-") for line in lines)


@pytest.mark.parametrize(
    ("question", "voice"),
    [("Какой город был столицей России до Москвы?", "ru"), ("Ai là vị vua đầu tiên của triều đại nhà Nguyễn?", "vi")],
)
def test_no_orphan_word_on_the_last_line(question: str, voice: str) -> None:
    _, layout = laid_out(question, voice, voice)
    lines = lines_of(layout)
    assert len(lines) > 1 and " ".join(lines) == question
    assert len(lines[-1].split()) >= 2, lines


def test_a_clips_own_language_chooses_its_hyphenation_over_the_jobs_voice() -> None:
    """A German question in an English job breaks by German patterns, in validation and in the render alike."""
    assert text_hyphenation("de", "", "en-US") == "de"
    assert text_hyphenation("", "ru", "en-US") == "ru"
    assert text_hyphenation("", "", "de-DE-Neural2-B") == "de_DE"
    english, german = (_hyphen_points(COMPOUND, text_hyphenation(lang, "", "en-US")) for lang in ("", "de"))
    assert german and german != english
