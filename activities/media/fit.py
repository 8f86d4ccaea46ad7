"""The job's text checked against the installed fonts and the frame, before anything renders.

A character no face covers, or text that needs more room than its region has even
at the minimum size, is refused naming the job's field: nothing is ever cut or
drawn as a box.
"""

from __future__ import annotations

from typing import Any

from activities.media.fonts import describe
from activities.media.layers import ANSWER_LETTERS, DoesNotFit, Fonts, clip_texts, layout_clip
from activities.media.text import min_size
from contracts.job import ClipSpec, Job


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


def text_problems(raw: Any, job: Job, fonts: Fonts) -> list[tuple[str, str]]:
    """(field, message) for every text that cannot be drawn whole; empty when all of it can."""
    problems: list[tuple[str, str]] = []
    w, h = job.profile.width, job.profile.height
    checked: set[tuple[str, ...]] = set()
    for place, spec in zip(clip_fields(raw, job), job.clips, strict=True):
        texts = clip_texts(spec)
        if not any(texts):
            continue
        key = (place, (spec.kind == "card" and "card") or "question", *texts)
        if key in checked:
            continue  # a reveal has its question's layout
        checked.add(key)
        language_text = " ".join(texts)
        for part, text in _parts(spec):
            missing: list[str] = []
            for bold in (False, True):
                missing += [g for g in fonts.chain(bold, language_text).missing(text) if g not in missing]
            if missing:
                problems.append(
                    (_field(place, spec, part), f"has characters no installed font covers: {describe(missing)}")
                )
        if any(field.startswith(place + ".") for field, _ in problems):
            continue
        try:
            layout_clip(spec, job.profile, fonts)
        except DoesNotFit as err:
            message = f"does not fit at {w}x{h} even at the minimum size ({min_size(h)} px text)"
            problems.append((_field(place, spec, err.part), message))
    return problems
