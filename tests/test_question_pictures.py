"""A question's picture: its slot in every shape, clear of the platform zones, covering it without stretching;
refused before anything starts when it is missing or unreadable; a question without one keeps its keys; and
rendered for real, portrait and landscape."""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw
from temporalio.testing import ActivityEnvironment

from activities.preflight import check
from activities.render import RenderActivities
from activities.validate import checked_job
from contracts.job import Job, JobError, parse_job
from contracts.plan import PlannedClip, plan_video
from contracts.records import ClipResult, ClipWork
from contracts.themes import BUILTIN_THEMES, Theme
from engine.clip_cache import Facts, asset_uris, clip_key
from engine.deps import Deps
from engine.errors import BadAsset
from engine.media.layers import Fonts
from engine.media.picture import corner_radius, picture_regions
from engine.media.themed import Rect, layout_themed, regions, still_frame, theme_fonts
from engine.media.themed_graph import Look, entrance_pictures
from engine.media.zones import zones
from engine.settings import Settings, StorageSettings, file_uri
from engine.storage import file_path
from starter.exits import BAD_INPUT, OK
from tests.media import rgb_frame
from tests.test_check import render, write

SHAPES = {"16:9": (1920, 1080), "9:16": (1080, 1920), "4:5": (1080, 1350), "1:1": (1080, 1080)}
MAGENTA, GREEN = (255, 0, 255), (0, 200, 0)
QUESTION = {"question": "Which planet is the largest?", "answer_a": "Jupiter", "answer_b": "Mars",
            "answer_c": "Venus", "answer_d": "Mercury", "correct_answer": "A"}  # fmt: skip


def picture(path: Path, size: tuple[int, int] = (800, 200)) -> Path:
    """A wide magenta picture with a green disc as tall as it, in its middle: covering a slot of another shape
    crops its sides or its top and bottom, and a disc stays round only if nothing is stretched."""
    image = Image.new("RGB", size, MAGENTA)
    w, h = size
    r = min(w, h) // 2
    ImageDraw.Draw(image).ellipse((w // 2 - r, h // 2 - r, w // 2 + r - 1, h // 2 + r - 1), fill=GREEN)
    image.save(path)
    return path


def job(width: int, height: int, **question: Any) -> dict[str, Any]:
    return {"video_id": "pictures", "profile": {"width": width, "height": height, "fps": 5},
            "questions": [{**QUESTION, **question}]}  # fmt: skip


def fonts_for(deps: Deps, theme: Theme) -> Fonts:
    return theme_fonts(theme, Fonts(deps.settings.render.font, deps.settings.render.font_bold))


def near(frame: np.ndarray, colour: tuple[int, int, int], tolerance: int = 40) -> np.ndarray:
    return np.asarray(np.abs(frame[:, :, :3].astype(np.int16) - np.array(colour)).max(axis=2) <= tolerance)


def overlaps(a: Rect, b: Rect) -> bool:
    return a.x < b.right and b.x < a.right and a.y < b.bottom and b.y < a.bottom


@pytest.mark.parametrize("rtl", [False, True], ids=["ltr", "rtl"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", BUILTIN_THEMES)
def test_the_picture_covers_its_slot_clear_of_every_zone_and_of_the_text(
    deps: Deps, tmp_path: Path, name: str, shape: str, rtl: bool
) -> None:
    w, h = SHAPES[shape]
    theme = BUILTIN_THEMES[name]
    fonts = fonts_for(deps, theme)
    path = picture(tmp_path / "picture.png")
    text = {"question": "أي كوكب هو الأكبر؟"} if rtl else {}
    parsed = parse_job(job(w, h, image="file:///assets/picture.png", **text))
    profile = parsed.profile
    safe = regions(profile, theme).safe
    found = zones(w, h)
    for clip in plan_video(parsed, theme).clips:  # the question, then its reveal: the same picture, the same slot
        lay = layout_themed(clip.spec, profile, fonts, theme)
        slot = lay.regions.picture
        assert slot is not None and slot.inside(safe) and slot.w > 0.15 * w and slot.h > 0.08 * h
        # Beside the question at 16:9 and 1:1 (on the side reading starts), above it at 9:16 and 4:5.
        question = lay.texts[0].area
        if shape in ("16:9", "1:1"):
            assert (slot.x > question.right) if rtl else (slot.right < question.x)
        else:
            assert slot.bottom < question.y
        assert not any(overlaps(slot, part) for part in (question, *lay.answers, lay.regions.ring, lay.regions.bar))
        drawn = np.asarray(still_frame(clip.spec, profile, fonts, theme, 1, 1, backdrop=False, picture=path))
        shown = near(drawn, MAGENTA) | near(drawn, GREEN)
        shown &= drawn[:, :, 3] > 200
        ys, xs = np.nonzero(shown)
        # Every pixel of the picture inside its slot, and the slot covered (no bars) inside its rounded corners.
        assert slot.x <= xs.min() and xs.max() < slot.right and slot.y <= ys.min() and ys.max() < slot.bottom
        radius = corner_radius(lay.regions, theme)
        inner = drawn[slot.y + radius : slot.bottom - radius, slot.x : slot.right, 3]
        assert (inner == 255).all() and shown[slot.y : slot.bottom, slot.x : slot.right].mean() > 0.95
        if radius > 2:  # the theme's corners: the slot's very corner is not drawn
            assert drawn[slot.y, slot.x, 3] == 0 and drawn[slot.bottom - 1, slot.right - 1, 3] == 0
        # Never stretched: the disc as tall as the picture stays round, in the slot's middle.
        gy, gx = np.nonzero(near(drawn, GREEN) & (drawn[:, :, 3] > 200))
        assert abs((gx.max() - gx.min()) - (gy.max() - gy.min())) <= 3
        assert abs((gx.max() + gx.min()) / 2 - (slot.x + slot.right - 1) / 2) <= 2
        for zone, (x, y, right, bottom) in found:
            inside = drawn[y:bottom, x:right, 3]
            assert not inside.any(), (clip.spec.kind, zone)


def test_the_theme_gives_a_picture_to_questions_without_one_and_never_to_cards(deps: Deps) -> None:
    theme = replace(BUILTIN_THEMES["studio"], question_image="file:///assets/theme.png")
    raw = job(1080, 1920)
    raw["questions"].append({**QUESTION, "image": "file:///assets/own.png"})
    raw["clips"] = [{"kind": "card", "duration": 1, "lines": ["Welcome"]}]
    parsed = parse_job(raw)
    fonts = fonts_for(deps, theme)
    plan = plan_video(parsed, theme)
    pictures = [asset_uris(ClipWork("v", clip, parsed.profile, "en", 1.0)) for clip in plan.clips]
    assert pictures == [["file:///assets/theme.png"]] * 2 + [["file:///assets/own.png"]] * 2 + [[]]
    card = plan.clips[-1].spec
    plain = replace(theme, question_image=None)
    assert layout_themed(card, parsed.profile, fonts, theme) == layout_themed(card, parsed.profile, fonts, plain)
    assert layout_themed(plan.clips[0].spec, parsed.profile, fonts, theme).regions.picture is not None


def test_a_picture_is_read_from_an_inline_theme() -> None:
    inline = parse_job({**job(1280, 720), "theme": {"extends": "neon", "question_image": "s3://media/q.png"}})
    assert inline.theme is not None and inline.theme.question_image == "s3://media/q.png"
    assert "s3://media/q.png" in inline.asset_uris()
    with pytest.raises(JobError) as refused:
        parse_job({**job(1280, 720), "theme": {"extends": "neon", "question_image": "http://x/q.png"}})
    assert refused.value.field == "theme.question_image"


@pytest.mark.parametrize("motion", ["fade", "slide"])
def test_the_picture_enters_with_the_question(deps: Deps, tmp_path: Path, motion: str) -> None:
    theme = replace(BUILTIN_THEMES["midnight"], motion=motion)
    path = picture(tmp_path / "picture.png")
    parsed = parse_job(job(640, 360, image="file:///assets/picture.png"))
    question = plan_video(parsed, theme).clips[0]
    fonts = fonts_for(deps, theme)
    look = Look(theme, 1, 1, picture=path)
    frames = entrance_pictures(question.spec, parsed.profile, fonts, look, 0)
    still = np.asarray(still_frame(question.spec, parsed.profile, fonts, theme, 1, 1, picture=path), np.int16)
    slot = layout_themed(question.spec, parsed.profile, fonts, theme).regions.picture
    assert slot is not None and len(frames) > 2

    def shown(image: Image.Image) -> float:
        drawn = np.asarray(image)[slot.y : slot.bottom, slot.x : slot.right]
        return float((near(drawn, MAGENTA) | near(drawn, GREEN)).mean())

    assert shown(frames[0]) < 0.05 < shown(frames[len(frames) // 2]) and shown(frames[-1]) > 0.9
    # The question (with its picture) is in place before the last answer: its slot is the still's.
    last = np.asarray(frames[-1], dtype=np.int16)[slot.y : slot.bottom, slot.x : slot.right]
    assert np.abs(last - still[slot.y : slot.bottom, slot.x : slot.right]).max() <= 2


def test_a_16_bit_picture_is_drawn_and_a_truncated_one_is_a_bad_asset(deps: Deps, tmp_path: Path) -> None:
    theme = BUILTIN_THEMES["studio"]
    parsed = parse_job(job(640, 360, image="file:///assets/picture.png"))
    fonts = fonts_for(deps, theme)
    spec = parsed.clips[0]
    slot = layout_themed(spec, parsed.profile, fonts, theme).regions.picture
    assert slot is not None
    deep = tmp_path / "deep.png"
    Image.fromarray(np.full((60, 80), 40000, dtype=np.uint16)).save(deep)  # 16-bit grey: 40000/65535 is 156/255
    drawn = np.asarray(still_frame(spec, parsed.profile, fonts, theme, 1, 1, picture=deep))
    middle = drawn[slot.y + slot.h // 2, slot.x + slot.w // 2]
    assert np.abs(middle.astype(int) - 156).max() <= 2, middle
    cut = tmp_path / "cut.png"
    whole = picture(tmp_path / "whole.png", (400, 300)).read_bytes()
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(BadAsset, match="question picture could not be drawn"):
        still_frame(spec, parsed.profile, fonts, theme, 1, 1, picture=cut)


def test_a_photo_stored_on_its_side_is_drawn_upright_as_its_exif_orientation_says(deps: Deps, tmp_path: Path) -> None:
    """A phone's portrait photo is stored landscape with EXIF orientation 6 (turn 90 degrees clockwise); ffmpeg,
    which draws image clips, shows it upright, and so must the question's picture."""
    theme = BUILTIN_THEMES["studio"]
    parsed = parse_job(job(640, 360, image="file:///assets/picture.jpg"))
    fonts = fonts_for(deps, theme)
    spec = parsed.clips[0]
    slot = layout_themed(spec, parsed.profile, fonts, theme).regions.picture
    assert slot is not None
    stored = Image.new("RGB", (400, 200), MAGENTA)
    ImageDraw.Draw(stored).rectangle((0, 0, 199, 199), fill=GREEN)  # its left half: the top, once upright
    exif = stored.getexif()
    exif[0x0112] = 6
    photo = tmp_path / "phone.jpg"
    stored.save(photo, exif=exif, quality=95)
    drawn = np.asarray(still_frame(spec, parsed.profile, fonts, theme, 1, 1, picture=photo).convert("RGB"))
    x = slot.x + slot.w // 4
    assert near(drawn[slot.y + slot.h // 4 : slot.y + slot.h // 4 + 1, x : x + 1], GREEN).all()
    assert near(drawn[slot.bottom - slot.h // 4 : slot.bottom - slot.h // 4 + 1, x : x + 1], MAGENTA).all()


# --- validation ---


def test_a_picture_that_is_not_a_uri_is_refused_naming_its_field() -> None:
    with pytest.raises(JobError) as refused:
        parse_job({**job(1280, 720), "questions": [QUESTION, {**QUESTION, "image": "/tmp/q.png"}]})
    assert refused.value.field == "questions[1].image"
    clip = {"kind": "question", "question": "Q?", "answers": ["a", "b", "c", "d"], "correct": 0, "picture": "x"}
    with pytest.raises(JobError) as refused:
        parse_job({"video_id": "p", "clips": [clip]})
    assert refused.value.field == "clips[0].picture"


async def test_a_missing_or_unreadable_picture_is_refused_at_check_naming_its_field(
    settings: Settings, tmp_path: Path
) -> None:
    assets = file_path(settings.storage.asset_roots[0])
    good = picture(assets / f"good-{uuid.uuid4().hex[:6]}.png", (64, 48))
    broken = assets / f"broken-{uuid.uuid4().hex[:6]}.png"
    broken.write_text("not a picture")
    missing = file_uri(assets / "nowhere.png")
    clip = {"kind": "question", "question": "Q?", "answers": ["a", "b", "c", "d"], "correct": 0,
            "picture": file_uri(broken)}  # fmt: skip
    raw: dict[str, Any] = {
        "video_id": "picture-check",
        "profile": {"width": 640, "height": 360},
        "questions": [{**QUESTION, "image": file_uri(good)}, QUESTION, QUESTION, {**QUESTION, "image": missing}],
        "clips": [clip],
        "theme": {"extends": "midnight", "question_image": file_uri(tmp_path / "outside.png")},
    }
    report = await check(raw, settings)
    fields = {p.field: p.message for p in report.problems}
    assert set(fields) == {"questions[3].image", "clips[0].picture", "theme.question_image"}, fields
    assert fields["questions[3].image"] == f"{missing} does not exist"
    assert "not a still image" in fields["clips[0].picture"]
    assert "outside the allowed roots" in fields["theme.question_image"]
    del raw["theme"], raw["clips"]
    raw["questions"] = raw["questions"][:3]
    assert (await check(raw, settings)).ok


def test_render_check_lists_a_missing_picture_and_preview_draws_a_present_one(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for sub in ("assets", "output"):
        (data / sub).mkdir(parents=True)
    there = file_uri(picture(data / "assets" / "q.png"))
    raw = {**job(320, 568), "video_id": "picture-cli"}
    raw["questions"] += [{**QUESTION, "image": file_uri(data / "assets" / "gone.png")}]
    run = render(data, "check", write(tmp_path / "job.json", raw))
    missing = raw["questions"][1]["image"]
    assert run.returncode == BAD_INPUT and run.stderr.strip().endswith(f"questions[1].image: {missing} does not exist")
    raw["questions"] = [{**QUESTION, "image": there}]
    path = write(tmp_path / "job.json", raw)
    assert render(data, "check", path).returncode == OK
    shown = render(data, "preview", path, "--clip", "2", "--out", str(tmp_path / "frames"))
    assert shown.returncode == OK, shown.stderr
    with Image.open(shown.stdout.strip()) as frame:  # the reveal, its picture in the slot above the question
        drawn = np.asarray(frame.convert("RGB"))
    profile, theme = parse_job(raw).profile, BUILTIN_THEMES["midnight"]  # the channel's default theme
    slot = picture_regions(regions(profile, theme), profile, theme).picture  # above the question: text aside
    assert slot is not None
    assert near(drawn[slot.y + slot.h // 2 - 4 : slot.y + slot.h // 2 + 4, slot.x + 4 : slot.x + 12], MAGENTA, 48).all()


def test_text_fits_in_the_room_the_picture_leaves_or_each_field_is_named(deps: Deps) -> None:
    fonts = Fonts(deps.settings.render.font, deps.settings.render.font_bold)
    long = "Which of these rivers, all of them longer than a thousand kilometres, flows through the most countries?"
    raw = job(1080, 1920, question=long)
    raw["questions"] += [{**QUESTION, "question": long}, {**QUESTION}]
    checked_job(raw, fonts, themes={"*": "midnight"})  # without pictures every text fits
    for question in raw["questions"]:
        question["image"] = "file:///a/p.png"
    with pytest.raises(JobError) as refused:
        checked_job(raw, fonts, themes={"*": "midnight"})
    # The short question still fits beside its picture; each long one is named.
    assert [field for field, _ in refused.value.problems] == ["questions[0].question", "questions[1].question"]
    assert all("1080x1920 even at the minimum size" in message for _, message in refused.value.problems)


# --- keys ---

KEY_SETTINGS = Settings(
    storage=StorageSettings(
        work_uri="file:///w", output_roots=("file:///o",), asset_roots=("file:///a",), scratch_dir=Path("/s")
    )
)
KEY_FACTS = Facts(encoder="libx264", ffmpeg="ffmpeg version 6", fonts=("a.ttf#0:aa",), assets={})
BEFORE_PICTURES = {
    (1920, 1080): [
        ("keys/clips/0000-6158dc06d078d3f4.mov", "0d2e9f75590a8217bc4d44d76e6bff266d0c840a2cbccb8dab492926712927df"),
        ("keys/clips/0001-57d0549be0365bd4.mov", "8e82b0d4c5cefc1f3c746619cf273a12c5a6756f019a22b206087cc0e9c429ec"),
    ],
    (1080, 1920): [
        ("keys/clips/0000-632729a6564091a4.mov", "ed33a3ae0df9ed6dc69f3946758af06efe8a65ad5b483b4785811c74aa8bce1e"),
        ("keys/clips/0001-8036763d375c97b3.mov", "b1f894a9d47c9cf0f20f8ac2f5e8555d3a561757bc8d3b835fedf15176f55cc3"),
    ],
}
"""A themed question and its reveal as planned and cache-keyed before questions had pictures."""


def _keys(raw: dict[str, Any], theme: Theme) -> list[tuple[str, str]]:
    parsed = parse_job(raw)
    plan = plan_video(parsed, theme)
    return [
        (c.key, clip_key(ClipWork(parsed.video_id, c, parsed.profile, parsed.tts_voice, parsed.tts_speed),
                         KEY_SETTINGS, KEY_FACTS))
        for c in plan.clips
    ]  # fmt: skip


@pytest.mark.usefixtures("engine_2")  # BEFORE_PICTURES was recorded at engine version 2
@pytest.mark.parametrize("size", BEFORE_PICTURES)
def test_a_question_without_a_picture_keeps_its_keys_and_one_with_a_picture_gets_its_own(
    size: tuple[int, int],
) -> None:
    raw = {**job(*size), "video_id": "keys"}
    midnight = replace(BUILTIN_THEMES["midnight"], motion="none", transition="cut")  # the still look, as recorded
    assert _keys(raw, midnight) == BEFORE_PICTURES[size]
    own = _keys({**raw, "questions": [{**QUESTION, "image": "file:///a/p.png"}]}, midnight)
    other = _keys({**raw, "questions": [{**QUESTION, "image": "file:///a/q.png"}]}, midnight)
    themed = _keys(raw, replace(midnight, question_image="file:///a/p.png"))
    keys = [key for pairs in (BEFORE_PICTURES[size], own, other, themed) for pair in pairs for key in pair]
    assert len(set(keys)) == len(keys)


# --- real renders ---


async def _render(deps: Deps, parsed: Job, clip: PlannedClip) -> Path:
    inp = ClipWork(parsed.video_id, clip, parsed.profile, parsed.tts_voice, parsed.tts_speed, tts_engine="none")
    result: ClipResult = await ActivityEnvironment().run(RenderActivities(deps).render, inp)
    return file_path(result.uri)


@pytest.mark.parametrize("size", [(1080, 1920), (1920, 1080)], ids=["9x16", "16x9"])
async def test_a_real_render_shows_the_picture_in_its_slot(deps: Deps, size: tuple[int, int]) -> None:
    w, h = size
    path = picture(file_path(deps.settings.storage.asset_roots[0]) / f"render-{uuid.uuid4().hex[:6]}.png")
    raw = {**job(w, h, image=file_uri(path)), "video_id": f"picture-{w}x{h}-{uuid.uuid4().hex[:6]}"}
    parsed = parse_job(raw)
    theme = replace(BUILTIN_THEMES["midnight"], motion="none", transition="cut")  # the slot, not the entrance
    question, reveal = plan_video(parsed, theme).clips
    spec = replace(question.spec, duration=1.0)
    question = replace(question, spec=spec, frames=5)
    video = await _render(deps, parsed, question)
    slot = layout_themed(spec, parsed.profile, fonts_for(deps, theme), theme).regions.picture
    assert slot is not None
    frame = rgb_frame(video, 0.6, w, h, "bt709")
    inside = frame[slot.y + slot.h // 4 : slot.bottom - slot.h // 4, slot.x : slot.right]
    assert (near(inside, MAGENTA, 48) | near(inside, GREEN, 48)).mean() > 0.97
    outside = np.ones((h, w), dtype=bool)
    outside[slot.y : slot.bottom, slot.x : slot.right] = False
    assert not (near(frame, MAGENTA, 48) & outside).any()
    assert reveal.spec.picture == file_uri(path)  # the reveal draws the same picture (checked on stills above)
