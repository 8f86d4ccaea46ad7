"""The job's text checked against the installed fonts and the frame, before anything renders.

A character no face covers, a character with more marks stacked on it than a line has
room for, or text that needs more room than its region has even at the minimum size,
is refused naming the job's field: nothing is ever cut, overlapped or drawn as a box.
The job's text as a whole is bounded too, so laying it all out takes seconds.
"""

from __future__ import annotations

import threading
import unicodedata
from dataclasses import replace
from typing import Any

from contracts.job import ClipSpec, Job
from contracts.themes import Theme
from engine.kinds import renderer_for
from engine.media.fonts import graphemes, refusal
from engine.media.layers import ANSWER_LETTERS, DoesNotFit, Fonts, clip_texts, layout_clip
from engine.media.text import min_size, text_hyphenation
from engine.media.themed import font_path, layout_themed, theme_fonts
from engine.threads import Stopped

MAX_JOB_TEXT_CHARS = 100_000
"""All the text one job draws (a reveal repeats its question and is not counted again). Laying out this
much, every text shrunk to the minimum size, takes about 6 s of one core, far inside the validation
timeout; 250 questions of 200 characters with four 25-character answers are 75,000."""
MAX_MARKS = 3
"""Combining marks on one character: Vietnamese and pointed Arabic or Hebrew need two or three; a fourth
stacked above a letter reaches the line before it."""


def clip_fields(raw: Any, job: Job) -> list[str]:
    """Each planned clip's place in the job file: 'questions[2]' or 'clips[0]' (a question plans two clips)."""
    places: list[str] = []
    questions = raw.get("questions") if isinstance(raw, dict) else None
    for i in range(len(questions) if isinstance(questions, list) else 0):
        places += [f"questions[{i}]"] * 2
    clips = raw.get("clips") if isinstance(raw, dict) else None
    for j, clip in enumerate(clips if isinstance(clips, list) else []):
        places += [f"clips[{j}]"] * (2 if isinstance(clip, dict) and clip.get("kind") == "question" else 1)
    return places if len(places) == len(job.clips) else [f"clips[{i}]" for i in range(len(job.clips))]


def _field(place: str, spec: ClipSpec, part: str) -> str:
    """A layout part ('question', 'answers[1]', 'lines', 'lines[2]') as the job file names it."""
    if place.startswith("questions[") and part.startswith("answers["):
        return f"{place}.answer_{'abcd'[int(part[8:-1])]}"
    return f"{place}.{part}"


def _parts(spec: ClipSpec) -> list[tuple[str, str]]:
    if spec.kind in ("question", "reveal"):
        answers = [(f"answers[{i}]", f"{ANSWER_LETTERS[i]}. {a}") for i, a in enumerate(spec.answers)]
        return [("question", spec.question or ""), *answers]
    return [(f"lines[{i}]", line) for i, line in enumerate(spec.lines)]


def _stacked(text: str) -> tuple[str, int] | None:
    """The first grapheme with more than MAX_MARKS combining marks, and how many it has."""
    for grapheme in graphemes(text):
        marks = sum(1 for char in grapheme if unicodedata.category(char) in ("Mn", "Me"))
        if marks > MAX_MARKS:
            return grapheme, marks
    return None


def text_chars(job: Job) -> int:
    """Characters of text the job lays out: every card line, question and answer (a reveal is its question's)."""
    return sum(len(text) for spec in job.clips if spec.kind != "reveal" for text in clip_texts(spec))


def font_problems(job: Job) -> list[tuple[str, str]]:
    """The job's own theme names fonts this worker has: a file, or an installed family."""
    problems: list[tuple[str, str]] = []
    if job.theme is not None:
        for field, name, bold in (("regular", job.theme.font, False), ("bold", job.theme.font_bold, True)):
            if name is not None and font_path(name, bold) is None:
                problems.append((f"theme.fonts.{field}", f"no such font file or installed family: {name[:80]!r}"))
    return problems


def text_problems(
    raw: Any, job: Job, fonts: Fonts, theme: Theme | None = None, stop: threading.Event | None = None
) -> list[tuple[str, str]]:
    """(field, message) for every text that cannot be drawn whole; empty when all of it can.

    With a `theme`, its fonts and the layout regions of the frame's shape are the ones checked.
    Raises `Stopped` between clips once `stop` is set: the caller has stopped waiting.
    """
    total = text_chars(job)
    if total > MAX_JOB_TEXT_CHARS:
        field = "questions" if isinstance(raw, dict) and "questions" in raw and "clips" not in raw else "clips"
        return [(field, f"have {total} characters of text in all; the limit is {MAX_JOB_TEXT_CHARS} a job")]
    problems: list[tuple[str, str]] = []
    if theme is not None:
        fonts = theme_fonts(theme, fonts)
    w, h = job.profile.width, job.profile.height
    checked: set[tuple[str, ...]] = set()
    for place, spec in zip(clip_fields(raw, job), job.clips, strict=True):
        if stop is not None and stop.is_set():
            raise Stopped("validation was cancelled")
        texts = clip_texts(spec)
        if not any(texts):
            continue
        key = (place, (spec.kind == "card" and "card") or "question", *texts)
        if key in checked:
            continue  # a reveal has its question's layout
        checked.add(key)
        language_text = " ".join(texts)
        found: set[str] = set()
        for part, text in _parts(spec):
            field = _field(place, spec, part)
            if stacked := _stacked(text):
                found.add(field)
                problems.append((field, f"has a character with {stacked[1]} combining marks; the limit is {MAX_MARKS}"))
                continue
            missing: list[str] = []
            for bold in (False, True):
                missing += [g for g in fonts.chain(bold, language_text).missing(text) if g not in missing]
            if missing:
                found.add(field)
                problems.append((field, refusal(missing)))
        # Long words break by the clip's own language, as the render will break them.
        hyphenated = replace(fonts, hyphenation=text_hyphenation(spec.language, spec.voice, job.tts_voice))
        try:
            if theme is not None and renderer_for(spec.kind).themed:
                layout_themed(spec, job.profile, hyphenated, theme)
            else:
                layout_clip(spec, job.profile, hyphenated)
        except DoesNotFit as err:
            message = f"does not fit at {w}x{h} even at the minimum size ({min_size(h)} px text)"
            # Every text that does not fit, each once; a field already refused for its characters is not repeated.
            fields = dict.fromkeys(_field(place, spec, part) for part in err.parts)
            problems += [(field, message) for field in fields if field not in found]
    return problems
