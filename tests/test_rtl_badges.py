"""Right-to-left questions read right to left: the first answer at the top right, badges on the right of
their boxes, lettered in the question's own alphabet."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from contracts.job import Job, parse_job
from contracts.plan import plan_video
from contracts.themes import BUILTIN_THEMES
from devtools import frames
from engine.media.fonts import grapheme_script
from engine.media.layers import Fonts
from engine.media.themed import answer_area, frame_shape, layout_themed, still_frame, theme_fonts
from engine.media.themed_graph import Look, entrance_pictures

DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
FONTS = Fonts(DEJAVU / "DejaVuSans.ttf", DEJAVU / "DejaVuSans-Bold.ttf")
FRAMES_DIR = os.environ.get("TEXT_FRAMES_DIR")
QUESTIONS = {
    "arabic": ("ما هي عاصمة مصر؟", ["القاهرة", "الإسكندرية", "أسوان", "الجيزة"], "أبجد"),
    "hebrew": ("מהי בירת ישראל?", ["ירושלים", "תל אביב", "חיפה", "אילת"], "אבגד"),
    "english": ("What is the capital of Egypt?", ["Cairo", "Alexandria", "Aswan", "Giza"], "ABCD"),
}


def job_of(question: str, answers: list[str], size: tuple[int, int]) -> Job:
    clip = {"kind": "question", "question": question, "answers": answers, "correct": 0}
    return parse_job({"video_id": "v", "profile": {"width": size[0], "height": size[1]}, "clips": [clip]})


@pytest.mark.parametrize("size", [(1920, 1080), (1080, 1920), (1080, 1080)])
@pytest.mark.parametrize("language", list(QUESTIONS))
def test_badges_read_in_the_question_direction(language: str, size: tuple[int, int]) -> None:
    question, answers, letters = QUESTIONS[language]
    theme = BUILTIN_THEMES["midnight"]
    job = job_of(question, answers, size)
    fonts = theme_fonts(theme, FONTS)
    layout = layout_themed(job.clips[0], job.profile, fonts, theme)
    rtl = language != "english"
    assert layout.rtl == rtl and layout.letters == letters
    first, second = layout.answers[0], layout.answers[1]
    if frame_shape(job.profile) == "16:9":  # two columns: the first answer on the reading side
        assert (first.x > second.x) == rtl and first.y == second.y
    for box, text in zip(layout.answers, layout.texts[1:], strict=True):
        badge, area = answer_area(box, theme, layout.regions.answer_size, rtl)
        assert (badge.x > area.x) == rtl  # the badge where reading starts
        assert box.x <= min(badge.x, area.x) and max(badge.right, area.right) <= box.right
        assert text.area == area
    # The letters are drawn, in the face of their script, inside the badges.
    frame = still_frame(job.clips[0], job.profile, fonts, theme, 1, 3)
    if FRAMES_DIR:
        Path(FRAMES_DIR).mkdir(parents=True, exist_ok=True)
        frame.save(Path(FRAMES_DIR) / f"badges-{language}-{size[0]}x{size[1]}.png")
    for i, box in enumerate(layout.answers):
        badge, _ = answer_area(box, theme, layout.regions.answer_size, rtl)
        inner = np.asarray(frame.crop((badge.x + badge.w // 4, badge.y + badge.h // 4,
                                       badge.right - badge.w // 4, badge.bottom - badge.h // 4)))  # fmt: skip
        accent = np.array(Image.new("RGB", (1, 1), theme.accent).getpixel((0, 0)))
        assert (np.abs(inner.astype(int) - accent).max(axis=2) < 60).mean() > 0.05, (language, i)
    if rtl:
        assert {grapheme_script(letter) for letter in letters} == {language.capitalize()}


def test_the_badge_letter_matches_a_direct_drawing() -> None:
    """The Arabic badge letter is the letter drawn by its own face, not a box from the primary one."""
    question, answers, letters = QUESTIONS["arabic"]
    theme = BUILTIN_THEMES["midnight"]
    job = job_of(question, answers, (1080, 1920))
    fonts = theme_fonts(theme, FONTS)
    layout = layout_themed(job.clips[0], job.profile, fonts, theme)
    chain = fonts.chain(True, letters[0])
    face = chain.face_for(letters[0])
    assert face is not None and face.name == "Arabic"
    badge, _ = answer_area(layout.answers[0], theme, layout.regions.answer_size, True)
    size = round(badge.h * 0.5)
    want = Image.new("L", (badge.w, badge.h))
    ImageDraw.Draw(want).text((badge.w / 2, badge.h / 2), letters[0], font=face.font(size), fill=255, anchor="mm")
    frame = still_frame(job.clips[0], job.profile, fonts, theme, 1, 3)
    drawn = np.asarray(frame.crop((badge.x, badge.y, badge.right, badge.bottom))).astype(int)
    accent = np.array(Image.new("RGB", (1, 1), theme.accent).getpixel((0, 0)))
    ink = np.asarray(want) > 200
    inner = np.zeros_like(ink)
    inner[badge.h // 5 : -badge.h // 5, badge.w // 5 : -badge.w // 5] = True  # inside the ring
    coloured = np.abs(drawn - accent).max(axis=2) < 60
    assert ink[inner].sum() > 20
    assert coloured[ink & inner].mean() > 0.9  # drawn where the direct drawing draws
    assert coloured[~ink & inner].mean() < 0.1  # and hardly anywhere else


@pytest.mark.parametrize("size", [(960, 540), (540, 960)])
@pytest.mark.parametrize("language", ["arabic", "english"])
def test_the_number_ring_and_bar_read_in_the_question_direction(
    language: str, size: tuple[int, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A right-to-left question's header is mirrored, as rendered by the real clip graph: its number's pill at
    the right, the countdown ring at the left, and its bar empties towards the left (halfway at half time)."""
    question, answers, _ = QUESTIONS[language]
    raw = {"video_id": "v", "profile": {"width": size[0], "height": size[1], "fps": 5}, "question_seconds": 6,
           "questions": [{"question": question, "answer_a": answers[0], "answer_b": answers[1],
                          "answer_c": answers[2], "answer_d": answers[3], "correct_answer": "A"}]}  # fmt: skip
    theme = BUILTIN_THEMES["midnight"]
    job = parse_job(raw)
    clip = next(c for c in plan_video(job, theme).clips if c.spec.kind == "question")
    assert clip.spec.duration == 6
    monkeypatch.setattr(frames, "WIDTH", size[0])  # kept at full size
    frames.render_frame(clip, *size, theme_fonts(theme, FONTS), tmp_path / "frame.png", 3.0)
    frame = np.asarray(Image.open(tmp_path / "frame.png").convert("RGB")).astype(int)
    accent = np.abs(frame - np.array(Image.new("RGB", (1, 1), theme.accent).getpixel((0, 0)))).max(axis=2) < 40
    reg = layout_themed(clip.spec, job.profile, theme_fonts(theme, FONTS), theme).regions
    half = size[0] // 2

    def side(mask: np.ndarray) -> str:
        left, right = mask[..., :half].sum(), mask[..., half:].sum()
        assert left + right > 20
        return "left" if left > right else "right"

    rtl = language != "english"
    reading, last = ("right", "left") if rtl else ("left", "right")
    # Above the pill the header holds the ring's arc only; the pill's row is mostly the pill.
    assert side(accent[reg.ring.y : reg.number.y]) == last
    assert side(accent[reg.number.y + reg.number.h // 6]) == reading
    bar = accent[reg.bar.y + reg.bar.h // 2]
    quarter, three_quarters = reg.bar.x + reg.bar.w // 4, reg.bar.x + reg.bar.w * 3 // 4
    assert (bar[quarter], bar[three_quarters]) == ((False, True) if rtl else (True, False))


@pytest.mark.parametrize("language", ["arabic", "english"])
def test_a_highlight_wipes_in_and_answers_slide_in_from_where_reading_starts(language: str) -> None:
    """With the `slide` motion a reveal's highlight wipes in from its badge's side, and a question's answers
    slide in from it: from the right for a right-to-left question."""
    question, answers, _ = QUESTIONS[language]
    theme = replace(BUILTIN_THEMES["midnight"], motion="slide")
    job = job_of(question, answers, (540, 960))
    fonts = theme_fonts(theme, FONTS)
    spec = job.clips[0]
    layout = layout_themed(spec, job.profile, fonts, theme)
    rtl = language != "english"
    accent = np.array(Image.new("RGB", (1, 1), theme.accent).getpixel((0, 0)))
    box = layout.answers[spec.correct]
    # A fifth of a second into the reveal the highlight covers part of its box, from one end.
    reveal = entrance_pictures(replace(spec, kind="reveal"), job.profile, fonts, Look(theme, 1, 1), 0)[1]
    row = np.asarray(reveal)[box.y + box.h // 2, box.x : box.right].astype(int)
    lit = np.flatnonzero(np.abs(row - accent).max(axis=1) < 40)
    assert 0 < len(lit) < 0.8 * box.w
    assert (lit.mean() > box.w / 2) == rtl
    # The last answer, still entering, sits off its place towards the side it comes from.
    frames = entrance_pictures(spec, job.profile, fonts, Look(theme, 1, 1), 0)
    bare, entering, placed = (np.asarray(frames[n]).astype(int) for n in (0, 14, -1))
    last = layout.answers[-1]

    def left_edge(frame: np.ndarray) -> int:
        """The leftmost column where the last answer's band differs from the frame before anything entered."""
        drawn = np.abs(frame[last.y : last.bottom] - bare[last.y : last.bottom]).max(axis=2) > 30
        return int(np.flatnonzero(drawn.any(axis=0))[0])

    assert (left_edge(entering) > left_edge(placed)) == rtl
