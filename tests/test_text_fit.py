"""The fit check names every field at fault at once, in any shape, and a refusal for want of a font names
the script and the Debian package that draws it, not every grapheme."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from activities.validate import checked_job
from contracts.job import JobError
from engine.media.fonts import NOTO, FontChain, graphemes, refusal, script_faces
from engine.media.layers import Fonts

DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
FONTS = Fonts(DEJAVU / "DejaVuSans.ttf", DEJAVU / "DejaVuSans-Bold.ttf")
LONG_QUESTION = ("Which of these scientists, born in a small town in the nineteenth century, " * 7)[:490]
LONG_ANSWER = ("a very long answer that goes on and on about the history of the town " * 3)[:190]


def problems(job: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(JobError) as refused:
        checked_job(job, FONTS)
    return dict(refused.value.problems)


@pytest.mark.parametrize("size", [(720, 1280), (1080, 1920)])
def test_every_field_that_does_not_fit_is_named_at_once_at_any_resolution(size: tuple[int, int]) -> None:
    question = {"question": LONG_QUESTION, "answer_a": "Bern", "answer_b": LONG_ANSWER, "answer_c": "c",
                "answer_d": LONG_ANSWER + "!", "correct_answer": "Bern"}  # fmt: skip
    short = {**question, "question": "Which town?"}
    job = {"video_id": "v", "profile": {"width": size[0], "height": size[1]}, "questions": [question, short]}
    found = problems(job)
    # The long question and both long answers of the first, the answers of the second: not only the worst one.
    assert sorted(found) == [
        "questions[0].answer_b", "questions[0].answer_d", "questions[0].question",
        "questions[1].answer_b", "questions[1].answer_d",
    ]  # fmt: skip
    w, h = size
    assert set(found.values()) == {f"does not fit at {w}x{h} even at the minimum size ({round(h / 36)} px text)"}


@pytest.mark.parametrize("size", [(1920, 1080), (1080, 1080)])
def test_both_long_answers_are_named_in_the_wider_shapes(size: tuple[int, int]) -> None:
    """Each answer too long for its box is named, not only the one with the most lines."""
    question = {"question": LONG_QUESTION[:300], "answer_a": "Bern", "answer_b": LONG_ANSWER, "answer_c": "c",
                "answer_d": LONG_ANSWER + "!", "correct_answer": "Bern"}  # fmt: skip
    found = problems({"video_id": "v", "profile": {"width": size[0], "height": size[1]}, "questions": [question]})
    assert (
        {"questions[0].answer_b", "questions[0].answer_d"}
        <= set(found)
        <= {"questions[0].answer_b", "questions[0].answer_d", "questions[0].question"}
    )


def test_a_missing_script_is_named_with_its_package_once() -> None:
    tamil = "இந்தியாவின் தலைநகரம் எது?"
    assert (
        refusal([g for g in graphemes(tamil) if g.strip(" ?")])
        == "has Tamil text no installed font covers (install fonts-noto-core)"
    )
    assert refusal(["க", "ქ", "漢", "👍🏽"]) == (
        "has Tamil, Georgian, Han, emoji text no installed font covers "
        "(install fonts-noto-cjk and fonts-noto-color-emoji and fonts-noto-core)"
    )
    private = [chr(0xE000 + i) for i in range(7)]
    assert refusal(private).endswith("'\\ue004' (U+E004) and 2 more")


def test_the_seven_new_scripts_are_drawn_by_their_own_faces_in_bold_too() -> None:
    samples = {"Tamil": "த", "Bengali": "ক", "Ethiopic": "አ", "Georgian": "ქ", "Armenian": "Ա", "Khmer": "ក",
               "Myanmar": "မ"}  # fmt: skip
    for bold in (False, True):
        chain = FontChain.installed(FONTS.bold if bold else FONTS.regular, bold=bold)
        for script, char in samples.items():
            face = chain.face_for(char)
            assert face is not None and face.path == NOTO / f"NotoSans{script}-{'Bold' if bold else 'Regular'}.ttf"
        assert chain.missing("".join(samples.values())) == []


def test_the_font_set_is_deterministic() -> None:
    """The clip cache key hashes the chain's files: the same fonts installed give the same list, in one order."""
    chain = FontChain.build(FONTS.regular, False, "zh")
    again = FontChain.build(FONTS.regular, False, "zh")
    assert chain.files() == again.files() and len(chain.files()) == len(set(chain.files()))
    names = [face.name for face in chain.faces]
    assert names[:7] == ["primary", "Latin", "Arabic", "Hebrew", "Devanagari", "Thai", "CJK"]
    assert {"Tamil", "Bengali", "Ethiopic", "Georgian", "Armenian", "Khmer", "Myanmar"} <= set(script_faces(False))
