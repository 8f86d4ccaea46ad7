"""Themes and layouts: every built-in theme at 16:9, 9:16 and 1:1, checked by geometry, by colour and
against small golden frames, and rendered for real once per shape.

Regenerate the golden frames after an intended change of look with UPDATE_GOLDEN=1 (then look at them).
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from temporalio.testing import ActivityEnvironment

from activities.render import RenderActivities
from activities.validate import checked_job, job_hash
from contracts.job import Job, JobError, parse_job
from contracts.plan import PlannedClip, plan_video
from contracts.records import ClipResult, ClipWork
from contracts.themes import BUILTIN_THEMES, Logo, Theme, channel_theme, parse_channel_themes
from engine.deps import Deps
from engine.media.layers import Fonts
from engine.media.text import min_size
from engine.media.themed import (
    answer_area,
    countdown_rings,
    layout_themed,
    regions,
    rgba,
    still_frame,
    theme_fonts,
)
from engine.storage import file_path
from tests.media import rgb_frame

SAMPLE = Path(__file__).parent.parent / "examples" / "trivia-sample.json"
GOLDEN = Path(__file__).parent / "golden"
SHAPES = {"16:9": (1920, 1080), "9:16": (1080, 1920), "1:1": (1080, 1080), "4:5": (1080, 1350)}
UPDATE = bool(os.environ.get("UPDATE_GOLDEN"))


STILL = {name: replace(theme, motion="none", transition="cut") for name, theme in BUILTIN_THEMES.items()}
"""The built-in themes without their entrance, exit and fades: the look of before, to compare frames with the
still picture."""


def sample(width: int, height: int, **extra: Any) -> dict[str, Any]:
    job: dict[str, Any] = json.loads(SAMPLE.read_text())
    job.pop("theme", None)
    return {**job, "profile": {"width": width, "height": height, "fps": 5}, **extra}


def fonts_for(deps: Deps, theme: Theme) -> Fonts:
    return theme_fonts(theme, Fonts(deps.settings.render.font, deps.settings.render.font_bold))


def themed_plan(job: Job, theme: Theme) -> list[PlannedClip]:
    return list(plan_video(job, theme).clips)


# --- the theme as data ---


@pytest.mark.usefixtures("engine_2")  # the keys below were recorded at engine version 2
def test_a_job_names_a_theme_or_inlines_one_and_jobs_without_one_hash_as_before() -> None:
    raw = json.loads(SAMPLE.read_text())
    raw.pop("theme", None)
    plain = parse_job(raw)
    assert plain.theme is None
    # The published sample's hash and clip keys from before themes existed: a resumed video keeps both.
    assert job_hash(plain) == "6ea774d0239eda1817414c2e14203bf4dffc50361d97bb5023c9d9c28c8d9fe0"
    assert plan_video(plain).clips[0].key == "trivia-sample/clips/0000-e2d62d7934ff9957.mov"
    named = parse_job(sample(1280, 720, theme="neon"))
    assert named.theme == BUILTIN_THEMES["neon"]
    assert job_hash(named) != job_hash(plain)
    inline = parse_job(
        sample(1280, 720, theme={"name": "mine", "background": {"gradient": ["#000000", "navy"], "angle": 30},
                                 "colours": {"highlight": "#00FF0080"}, "logo": {"uri": "file:///a/logo.png"}})
    )  # fmt: skip
    assert inline.theme is not None
    assert inline.theme.background.gradient == ("#000000", "#0B1F4D")
    assert inline.theme.highlight == "#00FF0080"
    assert "file:///a/logo.png" in inline.asset_uris()


def test_a_theme_that_extends_a_built_in_one_keeps_every_field_it_does_not_set() -> None:
    tick = "file:///a/tick.wav"
    sounds = parse_job(sample(1280, 720, theme={"extends": "midnight", "sounds": {"tick": tick}})).theme
    midnight = BUILTIN_THEMES["midnight"]
    assert sounds == replace(midnight, sounds=replace(midnight.sounds, tick=tick))
    bare = parse_job(sample(1280, 720, theme={"extends": "neon"}))
    assert bare.theme == BUILTIN_THEMES["neon"]
    assert job_hash(bare) == job_hash(parse_job(sample(1280, 720, theme="neon")))  # the same look, the same clips
    deep = parse_job(
        sample(1280, 720, theme={"extends": "studio", "name": "news", "colours": {"accent": "red"},
                                 "box": {"radius": 0.1}, "background": {"angle": 0}})
    ).theme  # fmt: skip
    studio = BUILTIN_THEMES["studio"]
    assert deep == replace(
        studio, name="news", accent="#C0392B", box=replace(studio.box, radius=0.1),
        background=replace(studio.background, angle=0.0),
    )  # fmt: skip
    own = parse_job(sample(1280, 720, theme={"extends": "neon", "background": {"colour": "black"}})).theme
    assert own is not None and own.background.colour == "#000000" and own.background.gradient == ()


def test_themed_clips_get_their_own_keys_and_their_number() -> None:
    job = parse_job(sample(1280, 720))
    plain, themed = plan_video(job).clips, plan_video(job, BUILTIN_THEMES["midnight"]).clips
    assert {c.key for c in plain}.isdisjoint(c.key for c in themed)
    assert all(c.theme is None and c.number == 0 for c in plain)
    questions = [(c.spec.kind, c.number, c.total) for c in themed if c.spec.kind in ("question", "reveal")]
    assert questions == [("question", 1, 3), ("reveal", 1, 3), ("question", 2, 3), ("reveal", 2, 3),
                         ("question", 3, 3), ("reveal", 3, 3)]  # fmt: skip
    other = plan_video(job, BUILTIN_THEMES["studio"]).clips
    assert [c.key for c in other] != [c.key for c in themed]


@pytest.mark.parametrize(
    ("theme", "field", "message"),
    [
        ("sunset", "theme", "unknown theme 'sunset' (built-in: midnight, neon, studio)"),
        (3, "theme", "expected a theme name or a theme object, got a number"),
        ({"colours": {"text": "#12"}}, "theme.colours.text", "expected #RRGGBB, #RRGGBBAA or one of"),
        ({"colours": {"txt": "#FFFFFF"}}, "theme.colours.txt", "unknown field"),
        ({"background": {"colour": "black", "image": "file:///a.png"}}, "theme.background",
         "needs exactly one of colour, gradient, image or video, got colour, image"),
        ({"background": {"image": "http://x/a.png"}}, "theme.background.image", "must be a file:// or s3:// URI"),
        ({"logo": {"uri": "file:///l.png", "corner": "middle"}}, "theme.logo.corner", "Input should be"),
        ({"logo": {"uri": "file:///l.png", "size": 0.9}}, "theme.logo.size", "must be between 0.02 and 0.2"),
        ({"box": {"radius": -1}}, "theme.box.radius", "must be between 0 and 0.5"),
        ({"sounds": {"tick": "file:///../t.wav"}}, "theme.sounds.tick", "must not contain '.' or '..'"),
        ({"extends": "sunset"}, "theme.extends", "unknown theme 'sunset' (built-in: midnight, neon, studio)"),
        ({"extends": "neon", "colours": {"txt": "#FFFFFF"}}, "theme.colours.txt", "unknown field"),
    ],
)  # fmt: skip
def test_a_bad_theme_is_refused_naming_the_field(theme: Any, field: str, message: str) -> None:
    with pytest.raises(JobError) as refused:
        parse_job(sample(1280, 720, theme=theme))
    problems = dict(refused.value.problems)
    assert field in problems, problems
    assert problems[field].startswith(message), problems[field]


def test_a_theme_font_this_worker_lacks_is_refused(deps: Deps) -> None:
    raw = sample(1280, 720, theme={"fonts": {"bold": "No Such Family"}})
    with pytest.raises(JobError) as refused:
        checked_job(raw, Fonts(deps.settings.render.font, deps.settings.render.font_bold))
    assert refused.value.field == "theme.fonts.bold"


def test_channel_default_themes() -> None:
    themes = parse_channel_themes("news=studio, *=neon")
    assert channel_theme("news", themes).name == "studio"
    assert channel_theme("kids", themes).name == "neon"
    assert channel_theme("kids", {}).name == "midnight"
    with pytest.raises(ValueError, match="RENDER_CHANNEL_THEMES: 'news=sunset'"):
        parse_channel_themes("news=sunset")


# --- layouts ---


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", BUILTIN_THEMES)
def test_every_part_sits_in_the_safe_area_and_every_text_in_its_region(deps: Deps, name: str, shape: str) -> None:
    w, h = SHAPES[shape]
    theme = BUILTIN_THEMES[name]
    job = parse_job(sample(w, h))
    fonts = fonts_for(deps, theme)
    reg = regions(job.profile, theme)
    assert reg.shape == shape
    if shape == "9:16":  # a phone player's title and controls sit in the top 10 % and bottom 20 %
        assert reg.safe.y >= 0.1 * h and reg.safe.bottom <= 0.78 * h
    parts = [reg.number, reg.ring, reg.question, reg.bar, *reg.answers]
    assert all(part.inside(reg.safe) for part in parts)
    assert reg.bar.bottom < h - 0.04 * h  # never on the bottom edge, under a player's scrub bar
    boxes = reg.answers
    for spec in job.clips:
        boxes = layout_themed(spec, job.profile, fonts, theme).answers or boxes
        assert all(box.inside(reg.safe) and reg.question.y < box.y for box in boxes)
    assert all(a.bottom <= b.y or b.bottom <= a.y or a.right <= b.x or b.right <= a.x
               for i, a in enumerate(boxes) for b in boxes[i + 1:])  # fmt: skip
    grid = len({box.y for box in boxes}) == 2
    assert grid == (shape == "16:9")  # 2x2 in 16:9, stacked otherwise
    for spec in job.clips:
        laid = layout_themed(spec, job.profile, fonts, theme)
        for text in laid.texts:
            assert all(line.width <= text.area.w for line in text.laid.lines)
            assert text.area.y <= text.laid.top
            assert text.laid.top + (len(text.laid.lines) - 1) * text.laid.spacing + text.laid.size <= text.area.bottom
        if spec.kind == "question" and shape == "9:16" and max(map(len, spec.answers)) <= 12:
            assert all(t.laid.size >= 0.04 * h for t in laid.texts[1:])  # short answers: phone-sized type


def test_a_long_question_shrinks_in_9_16_and_is_refused_only_below_the_minimum(deps: Deps) -> None:
    fonts = Fonts(deps.settings.render.font, deps.settings.render.font_bold)
    answers = {"answer_a": "a", "answer_b": "b", "answer_c": "c", "answer_d": "d", "correct_answer": "a"}
    long = "Which of these rivers, all of them longer than a thousand kilometres, flows through the most countries?"
    for size in SHAPES.values():
        job = checked_job(sample(*size, questions=[{"question": long, **answers}], total_questions=1), fonts)
        laid = layout_themed(job.clips[0], job.profile, fonts_for(deps, BUILTIN_THEMES["midnight"]),
                             BUILTIN_THEMES["midnight"])  # fmt: skip
        assert laid.texts[0].laid.size >= min_size(size[1])
    longest = ("Which of these rivers, all of them longer than a thousand kilometres, flows through most? " * 4)[:330]
    raw = sample(1920, 1080, questions=[{"question": longest, **answers}], total_questions=1)
    checked_job(raw, fonts)  # fits the wide frame
    with pytest.raises(JobError) as refused:
        checked_job({**raw, "profile": {"width": 1080, "height": 1920, "fps": 5}}, fonts)
    assert refused.value.field == "questions[0].question"
    assert "1080x1920 even at the minimum size (53 px text)" in refused.value.message


# --- pictures ---


def _box_colour(frame: np.ndarray, box: Any, theme: Theme) -> np.ndarray:
    """The fill beside an answer's text: inside the box, right of its text area's padding."""
    pad = max(2, round(theme.box.padding * box.h))
    patch = frame[box.y + box.h // 2 - 2 : box.y + box.h // 2 + 2, box.right - pad + 2 : box.right - pad // 2]
    return np.asarray(patch.reshape(-1, 3).mean(axis=0))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", BUILTIN_THEMES)
def test_the_reveal_highlights_the_correct_box_and_dims_the_others(deps: Deps, name: str, shape: str) -> None:
    theme = BUILTIN_THEMES[name]
    job = parse_job(sample(*SHAPES[shape]))
    fonts = fonts_for(deps, theme)
    question, reveal = themed_plan(job, theme)[:2]
    boxes = layout_themed(reveal.spec, job.profile, fonts, theme).answers
    before = np.asarray(still_frame(question.spec, job.profile, fonts, theme, 1, 3))
    after = np.asarray(still_frame(reveal.spec, job.profile, fonts, theme, 1, 3))
    highlight = np.array(rgba(theme.highlight)[:3])
    for i, box in enumerate(boxes):
        shown = _box_colour(after, box, theme)
        if i == reveal.spec.correct:
            assert np.abs(shown - highlight).max() <= 2, (i, shown)
        else:
            assert np.abs(shown - highlight).max() > 40, (i, shown)
            assert np.abs(shown - _box_colour(before, box, theme)).max() < 60
    assert np.abs(_box_colour(before, boxes[reveal.spec.correct], theme) - highlight).max() > 40


def _thumbnail(image: Image.Image) -> Image.Image:
    small = image.copy()
    small.thumbnail((160, 160 * image.height // image.width + 1), Image.Resampling.LANCZOS)
    return small


def _compare_golden(name: str, image: Image.Image) -> None:
    path = GOLDEN / f"{name}.png"
    small = _thumbnail(image)
    if UPDATE or not path.exists():
        GOLDEN.mkdir(exist_ok=True)
        small.save(path, optimize=True)
        if not UPDATE:
            pytest.fail(f"no golden frame {path.name}: written now, look at it and commit it")
    with Image.open(path) as golden:
        expected = np.asarray(golden.convert("RGB"), dtype=np.int16)
    got = np.asarray(small, dtype=np.int16)
    assert got.shape == expected.shape
    difference = np.abs(got - expected)
    # Anti-aliasing and font hinting may move a few levels; a moved box or a changed colour moves far more.
    assert difference.mean() < 2.0 and (difference.max(axis=2) > 48).mean() < 0.01, (name, difference.mean())


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", BUILTIN_THEMES)
def test_frames_match_the_golden_frames(deps: Deps, name: str, shape: str) -> None:
    theme = BUILTIN_THEMES[name]
    job = parse_job(sample(*SHAPES[shape]))
    fonts = fonts_for(deps, theme)
    question, reveal = themed_plan(job, theme)[:2]
    frame = still_frame(question.spec, job.profile, fonts, theme, question.number, question.total)
    ring = regions(job.profile, theme).ring
    _, count = countdown_rings(question.spec.duration, job.profile, fonts, theme)[2]
    frame.paste(count, (ring.x, ring.y), count)
    tag = shape.replace(":", "x")
    _compare_golden(f"{name}-{tag}-question", frame)
    _compare_golden(f"{name}-{tag}-reveal", still_frame(reveal.spec, job.profile, fonts, theme, 1, 3))


# --- real renders ---


async def _render(deps: Deps, job: Job, clip: PlannedClip) -> Path:
    inp = ClipWork(job.video_id, clip, job.profile, job.tts_voice, job.tts_speed, tts_engine="none")
    result: ClipResult = await ActivityEnvironment().run(RenderActivities(deps).render, inp)
    return file_path(result.uri)


@pytest.mark.parametrize("shape", SHAPES)
async def test_a_real_render_shows_the_picture_the_ring_and_an_emptying_bar(deps: Deps, shape: str) -> None:
    w, h = SHAPES[shape]
    theme = STILL[
        "midnight"
    ]  # frames against the still picture: the entrance and exit are tests/test_theme_motion.py's
    job = parse_job(sample(w, h, video_id=f"theme-{shape.replace(':', 'x')}-{uuid.uuid4().hex[:6]}"))
    fonts = fonts_for(deps, theme)
    question = replace(themed_plan(job, theme)[0], frames=10)  # 2 s at 5 fps
    spec = replace(question.spec, duration=2.0)
    question = replace(question, spec=spec)
    video = await _render(deps, job, question)
    reg = regions(job.profile, theme)
    still = np.asarray(still_frame(spec, job.profile, fonts, theme, 1, 3), dtype=np.int16)
    early, late = (rgb_frame(video, t, w, h, "bt709").astype(np.int16) for t in (0.1, 1.5))
    # Outside the ring and the bar, every frame is the still picture.
    mask = np.ones((h, w), dtype=bool)
    for part in (reg.ring, reg.bar):
        mask[part.y : part.bottom, part.x : part.right] = False
    assert np.abs(early - still)[mask].mean() < 1.5
    # The bar: accent at the left of the track throughout, at its right only early on; beside it, the picture.
    accent = np.array(rgba(theme.accent)[:3])
    mid = reg.bar.y + reg.bar.h // 2

    def near_accent(frame: np.ndarray, x: int) -> bool:
        return bool(np.abs(frame[mid, x] - accent).max() <= 24)

    left, right = reg.bar.x + 8, reg.bar.x + reg.bar.w * 7 // 10  # 2 s: ~90 % full at 0.2 s, 25 % at 1.5 s
    assert near_accent(early, left) and near_accent(early, right)
    assert near_accent(late, left) and not near_accent(late, right)
    assert np.abs(late[mid, : reg.bar.x - 2] - still[mid, : reg.bar.x - 2]).max() <= 6
    # The ring counts down in the accent colour: some of its pixels are accent-coloured.
    ring = late[reg.ring.y : reg.ring.bottom, reg.ring.x : reg.ring.right].reshape(-1, 3)
    assert (np.abs(ring - accent).max(axis=1) <= 24).sum() > 20
    # The answers sit in their boxes with their letters: the box fill differs from the background.
    badge, _ = answer_area(reg.answers[0], theme, reg.answer_size)
    assert badge.inside(reg.answers[0])


@pytest.mark.parametrize(("shape", "corner"), [("16:9", "top-right"), ("9:16", "bottom-left"), ("1:1", "top-left")])
def test_a_logo_sits_in_its_corner_clear_of_everything_else(
    deps: Deps, tmp_path: Path, shape: str, corner: str
) -> None:
    logo = tmp_path / "logo.png"
    Image.new("RGB", (200, 100), (255, 0, 0)).save(logo)
    theme = replace(BUILTIN_THEMES["midnight"], logo=Logo(f"file://{logo}", corner, 0.07))
    job = parse_job(sample(*SHAPES[shape]))
    fonts = fonts_for(deps, theme)
    reg = regions(job.profile, theme)
    assert reg.logo is not None and reg.logo.inside(reg.safe)
    question = themed_plan(job, theme)[0]
    boxes = layout_themed(question.spec, job.profile, fonts, theme).answers
    for part in (reg.number, reg.ring, reg.bar, *boxes):
        logo_box = reg.logo
        assert (
            part.right <= logo_box.x
            or logo_box.right <= part.x
            or part.bottom <= logo_box.y
            or logo_box.bottom <= part.y
        )
    frame = np.asarray(still_frame(question.spec, job.profile, fonts, theme, 1, 3, logo=logo))
    x = reg.logo.x + 4 if corner.endswith("left") else reg.logo.right - 4
    assert tuple(frame[reg.logo.y + reg.logo.h // 2, x]) == (255, 0, 0)


# --- a clip's own background under a theme ---


def test_a_clip_that_sets_its_own_background_marks_it_and_the_job_hashes_as_before() -> None:
    raw = json.loads(SAMPLE.read_text())
    raw.pop("theme", None)
    job = parse_job(raw)
    card = job.clips[-2]
    assert card.kind == "card" and card.background == "#0B1F4D" and card.own_background  # "navy"
    assert not any(spec.own_background for spec in job.clips if spec.kind in ("question", "reveal"))
    # Whether a colour was written out is part of the clip's key (it is drawn differently), not of the job's.
    assert job_hash(job) == "6ea774d0239eda1817414c2e14203bf4dffc50361d97bb5023c9d9c28c8d9fe0"
    unset = parse_job({**raw, "clips": [{k: v for k, v in raw["clips"][0].items() if k != "background"}]})
    assert not unset.clips[-1].own_background
    themed = plan_video(job, BUILTIN_THEMES["midnight"]).clips[-2]
    without = plan_video(unset, BUILTIN_THEMES["midnight"]).clips[-1]
    assert themed.key.rsplit("-", 1)[1] != without.key.rsplit("-", 1)[1]
    black = parse_job({**raw, "clips": [{**raw["clips"][0], "background": "black"}]}).clips[-1]
    assert black.background == "#000000" and black.own_background  # black, written out, is still its own


@pytest.mark.parametrize(("colour", "own"), [("navy", True), ("white", True), (None, False)])
async def test_a_card_with_its_own_background_colour_is_drawn_on_it_under_a_theme(
    deps: Deps, colour: str | None, own: bool
) -> None:
    w, h = 640, 360
    theme = STILL["midnight"]  # a frame against the still picture, with no fade at its ends
    card = {"kind": "card", "duration": 1, "lines": ["Thanks for playing!"]} | (
        {"background": colour} if colour else {}
    )
    job = parse_job({"video_id": f"own-bg-{uuid.uuid4().hex[:6]}", "profile": {"width": w, "height": h, "fps": 5},
                     "clips": [card]})  # fmt: skip
    [clip] = plan_video(job, theme).clips
    video = await _render(deps, job, clip)
    frame = rgb_frame(video, 0.5, w, h, "bt601").astype(np.int16)
    corner = frame[4:12, 4:12].reshape(-1, 3).mean(axis=0)
    gradient = np.asarray(still_frame(clip.spec, job.profile, fonts_for(deps, theme), theme), dtype=np.int16)
    if not own:
        assert np.abs(corner - gradient[4:12, 4:12].reshape(-1, 3).mean(axis=0)).max() <= 3
        return
    expected = np.array(rgba(clip.spec.background)[:3])
    assert np.abs(corner - expected).max() <= 3, corner
    # On white the theme's white text would vanish: it is drawn dark instead; on navy it stays white.
    region = regions(job.profile, theme).card
    text = frame[region.y : region.bottom, region.x : region.right].reshape(-1, 3)
    far = np.abs(text - expected).max(axis=1) > 100
    assert far.sum() > 200
    ink = text[far].mean(axis=0)
    assert (ink.mean() < 100) if colour == "white" else (ink.mean() > 180), ink
