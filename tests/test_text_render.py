"""Golden set for text: a question in every script a trivia channel uses, rendered by real ffmpeg.

Each frame is compared with the shaped reference (the same layout drawn straight by
Pillow with libraqm) through pixel masks; no grapheme is drawn by a face that lacks
it; long text shrinks, or the job is refused naming the field.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont, features
from temporalio.testing import ActivityEnvironment

from activities.render import RenderActivities
from activities.validate import checked_job
from contracts.job import Job, JobError, Profile, parse_job
from contracts.plan import plan_video
from contracts.records import ClipResult, ClipWork
from engine.deps import Deps
from engine.media.fonts import NOTO, graphemes
from engine.media.layers import Fonts, countdown_top, draw_blocks, layout_clip, shadow_offset
from engine.media.text import NO_LINE_START, Shaper, _thai_words, break_units, wrap
from engine.poster import make_poster, poster_uri
from engine.storage import file_path
from tests.media import rgb_frame

WIDTH, HEIGHT = 1280, 720

QUESTIONS = {
    "latin": (
        "Quelle est la capitale de l'État où se trouve Zürich, Genève et Besançon ?",
        ["Bern", "Genf", "Köln", "Łódź"],
    ),
    "cyrillic": ("Какая река самая длинная в Европе?", ["Волга", "Дунай", "Днепр", "Урал"]),
    "greek": ("Ποια είναι η πρωτεύουσα της Ελλάδας;", ["Αθήνα", "Θεσσαλονίκη", "Πάτρα", "Ηράκλειο"]),
    "arabic": ("ما هي عاصمة مصر؟", ["القاهرة", "الإسكندرية", "أسوان", "الجيزة"]),
    "hebrew": ("מהי בירת ישראל?", ["ירושלים", "תל אביב", "חיפה", "אילת"]),
    "devanagari": ("भारत की राजधानी क्या है? क्षत्रिय श्रृंखला", ["नई दिल्ली", "मुंबई", "कोलकाता", "चेन्नई"]),
    "thai": ("เมืองหลวงของประเทศไทยคือเมืองอะไร", ["กรุงเทพมหานคร", "เชียงใหม่", "ภูเก็ต", "ขอนแก่น"]),
    "japanese": ("日本の首都はどこですか？「東京」ですか。", ["東京", "大阪", "京都", "名古屋"]),
    "chinese": ("中国的首都是哪个城市？", ["北京", "上海", "广州", "深圳"]),
    "korean": ("대한민국의 수도는 어디입니까?", ["서울", "부산", "인천", "대구"]),
    "tamil": ("இந்தியாவின் தலைநகரம் எது? க்ஷேத்திரம்", ["புது தில்லி", "மும்பை", "சென்னை", "கொல்கத்தா"]),
    "bengali": ("বাংলাদেশের রাজধানী কোনটি? ক্ষমা স্রোত", ["চট্টগ্রাম", "ঢাকা", "খুলনা", "রাজশাহী"]),
    "ethiopic": ("የኢትዮጵያ ዋና ከተማ ማን ናት?", ["አዲስ አበባ", "ጎንደር", "ባሕር ዳር", "መቀሌ"]),
    "georgian": ("რომელია საქართველოს დედაქალაქი?", ["თბილისი", "ბათუმი", "ქუთაისი", "რუსთავი"]),
    "armenian": ("Ո՞րն է Հայաստանի մայրաքաղաքը։", ["Երևան", "Գյումրի", "Վանաձոր", "Դիլիջան"]),
    "khmer": ("តើរាជធានីនៃប្រទេសកម្ពុជាគឺជាអ្វី?", ["ភ្នំពេញ", "សៀមរាប", "បាត់ដំបង", "កំពត"]),
    "myanmar": ("မြန်မာနိုင်ငံ၏ မြို့တော်သည် အဘယ်နည်း။", ["နေပြည်တော်", "ရန်ကုန်", "မန္တလေး", "ပုဂံ"]),
    "emoji": ("Which flag is Japan's? 🇯🇵 🇫🇷 👍🏽 👩‍👩‍👧 🎬", ["🇯🇵 Japan", "🇫🇷 France", "🇧🇷 Brazil", "👍🏽 none"]),
}

FRAMES_DIR = os.environ.get("TEXT_FRAMES_DIR")
"""When set, each rendered frame and its reference are kept there as PNGs, to look at."""


def question_job(video_id: str, question: str, answers: list[str], width: int = WIDTH, height: int = HEIGHT) -> Job:
    return parse_job(
        {
            "video_id": video_id,
            "profile": {"width": width, "height": height, "fps": 10},
            "clips": [{"kind": "question", "question": question, "answers": answers, "correct": 0, "duration": 1}],
        }
    )


def fonts_of(deps: Deps) -> Fonts:
    return Fonts(deps.settings.render.font, deps.settings.render.font_bold)


async def render(deps: Deps, job: Job, index: int) -> Path:
    clip = plan_video(job).clips[index]
    inp = ClipWork(job.video_id, clip, job.profile, job.tts_voice, job.tts_speed)
    result: ClipResult = await ActivityEnvironment().run(RenderActivities(deps).render, inp)
    return file_path(result.uri)


def reference(job: Job, index: int, fonts: Fonts) -> np.ndarray:
    """The clip's text drawn straight by Pillow, over its black background, as RGB."""
    spec, (w, h) = job.clips[index], (job.profile.width, job.profile.height)
    layer = draw_blocks(layout_clip(spec, job.profile, fonts).blocks, w, h, shadow_offset(h))
    return np.asarray(Image.alpha_composite(Image.new("RGBA", (w, h), (0, 0, 0, 255)), layer).convert("RGB"))


def luma(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float32) @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


def keep(name: str, pixels: np.ndarray) -> None:
    if FRAMES_DIR:
        Path(FRAMES_DIR).mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(Path(FRAMES_DIR) / f"{name}.png")


def test_pillow_shapes_with_libraqm() -> None:
    assert features.check("raqm"), "Pillow without libraqm cannot shape Arabic, Devanagari or Thai"


@pytest.mark.parametrize("script", list(QUESTIONS))
async def test_question_in_every_script_matches_the_shaped_reference(deps: Deps, script: str) -> None:
    question, answers = QUESTIONS[script]
    job = question_job(f"golden-{script}-{uuid.uuid4().hex[:6]}", question, answers)
    fonts = fonts_of(deps)
    checked_job({"video_id": job.video_id, "clips": [{"kind": "question", "question": question,
                 "answers": answers, "correct": 0}]}, fonts)  # fmt: skip
    layout = layout_clip(job.clips[0], job.profile, fonts)
    # Missing glyphs: every grapheme is drawn by a face whose character map has it.
    drawn = [(g, run.face) for b in layout.blocks for line in b.lines for run in line.runs for g in graphemes(run.text)]
    assert [g for g, face in drawn if not face.covers(g)] == []
    video = await render(deps, job, 0)
    frame = rgb_frame(video, 0.5, WIDTH, HEIGHT, "bt709")
    expected = reference(job, 0, fonts)
    keep(f"{script}-frame", frame)
    keep(f"{script}-reference", expected)
    region = slice(0, countdown_top(HEIGHT) - 4)  # the countdown and the bar are not part of the layout
    got, want = frame[region].astype(np.int16), expected[region].astype(np.int16)
    ink = luma(want) > 160  # glyph interiors in the reference
    assert ink.sum() > 500
    assert (luma(got)[ink] > 110).mean() > 0.97  # drawn where the reference draws
    stray = (luma(got) > 110) & ~_dilate(luma(want) > 40, 2)
    assert stray.mean() < 0.0005  # and nowhere else
    assert np.abs(got - want).mean() < 4.0  # colour emoji included: the same pixels, up to compression


def _dilate(mask: np.ndarray, r: int) -> np.ndarray:
    out = mask.copy()
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            out |= np.roll(np.roll(mask, dy, axis=0), dx, axis=1)
    return out


@pytest.mark.parametrize("script", ["arabic", "devanagari", "thai", "tamil", "bengali", "khmer", "myanmar"])
def test_reference_is_shaped(deps: Deps, script: str) -> None:
    """The reference is HarfBuzz's: the same answer drawn without shaping looks different."""
    answer = QUESTIONS[script][1][0]
    [line] = wrap(answer, Shaper(fonts_of(deps).chain(False, answer), 48), 4000)
    [run] = line.runs
    basic = ImageFont.truetype(str(run.face.path), 48, layout_engine=ImageFont.Layout.BASIC)

    def drawn(font: ImageFont.FreeTypeFont, direction: str | None) -> np.ndarray:
        image = Image.new("L", (800, 120))
        ImageDraw.Draw(image).text((10, 90), answer, font=font, fill=255, anchor="ls", direction=direction)
        return np.asarray(image)

    shaped = drawn(run.face.font(48), "rtl" if run.rtl else "ltr")
    assert np.abs(shaped.astype(np.int16) - drawn(basic, None)).mean() > 1.0


def test_wrapping_keeps_graphemes_and_breaks_scripts_without_spaces(deps: Deps) -> None:
    emoji = "🇯🇵🇫🇷🇧🇷👍🏽👩‍👩‍👧🇺🇳" * 6
    lines = wrap(emoji, Shaper(fonts_of(deps).chain(False, emoji), 40), 200)
    assert len(lines) > 3
    whole = set(graphemes(emoji))
    for line in lines:
        assert set(graphemes(line.text)) <= whole  # every line is whole flags and sequences

    japanese = "日本の首都はどこですか。東京です、大阪ではありません。" * 3
    lines = wrap(japanese, Shaper(fonts_of(deps).chain(False, japanese), 40), 300)
    assert len(lines) > 3 and "".join(line.text for line in lines) == japanese
    assert not any(line.text[0] in NO_LINE_START for line in lines)  # never a line starting with 。 or 、

    thai = "เมืองหลวงของประเทศไทยคือกรุงเทพมหานครและเชียงใหม่เป็นเมืองใหญ่"
    lines = wrap(thai, Shaper(fonts_of(deps).chain(False, thai), 40), 400)
    starts, offset = set(), 0
    for word in _thai_words(thai):
        starts.add(offset)
        offset += len(word)
    assert len(lines) > 1 and "".join(line.text for line in lines) == thai
    ends, offset = [], 0
    for line in lines[:-1]:
        offset += len(line.text)
        ends.append(offset)
    assert set(ends) <= starts  # every Thai line ends between two dictionary words
    assert break_units("abc 日本") == ("abc ", "日", "本")


def test_right_to_left_paragraph_puts_trailing_punctuation_on_the_left(deps: Deps) -> None:
    fonts = fonts_of(deps)

    def drawn(text: str) -> np.ndarray:
        job = parse_job({"video_id": "v", "profile": {"width": WIDTH, "height": HEIGHT},
                         "clips": [{"kind": "card", "duration": 1, "lines": [text]}]})  # fmt: skip
        layout = layout_clip(job.clips[0], job.profile, fonts)
        return np.asarray(draw_blocks(layout.blocks, WIDTH, HEIGHT, 0).getchannel("A")) > 0

    with_mark, without = drawn("מהי בירת ישראל?"), drawn("מהי בירת ישראל")
    # Both are centred: the question mark widens the line, and it is the leftmost glyph.
    columns = np.flatnonzero(with_mark.any(axis=0))
    plain = np.flatnonzero(without.any(axis=0))
    assert columns[0] < plain[0] - 5 and abs(columns[-1] - plain[-1]) < 20
    mark = with_mark[:, columns[0] : columns[0] + 8]
    assert mark.any()


def test_long_text_shrinks_to_fit_and_keeps_every_character(deps: Deps) -> None:
    question = ("Which of these scientists, born in a small town in the nineteenth century, " * 5)[:300]
    answers = [f"{n}: a very long answer that goes on and on about history " * 2 for n in range(4)]
    job = question_job("v", question, answers, 1920, 1080)
    layout = layout_clip(job.clips[0], job.profile, fonts_of(deps))
    question_block = layout.blocks[0]
    assert question_block.size < 1080 // 14  # shrunk
    assert layout.blocks[-1].bottom <= countdown_top(1080)  # clear of the countdown
    text = "".join(line.text for line in question_block.lines)
    assert text.replace(" ", "") == question.replace(" ", "")  # nothing cut
    checked_job({"video_id": "v", "profile": {"width": 1920, "height": 1080},
                 "clips": [{"kind": "question", "question": question, "answers": answers, "correct": 0}]},
                fonts_of(deps))  # fmt: skip


def test_text_that_cannot_fit_or_be_drawn_is_refused_naming_the_field(deps: Deps) -> None:
    fonts = fonts_of(deps)
    seed = {"question": "q", "answer_a": "a", "answer_b": "b", "answer_c": "c", "answer_d": "d", "correct_answer": "a"}
    long = ("Which of these scientists, born in a small town in the nineteenth century, " * 7)[:500]
    job = {
        "video_id": "v",
        "profile": {"width": 1920, "height": 1080},
        "questions": [seed, seed, seed, {**seed, "question": "Which line?\n" * 40}],
        "clips": [
            {"kind": "card", "duration": 2, "lines": [long] * 12},
            {"kind": "card", "duration": 2, "lines": ["private \ue000 and \U0010fffd"]},
        ],
    }
    with pytest.raises(JobError) as refused:
        checked_job(job, fonts)
    problems = dict(refused.value.problems)
    assert problems["questions[3].question"] == "does not fit at 1920x1080 even at the minimum size (30 px text)"
    assert problems["clips[0].lines"] == "does not fit at 1920x1080 even at the minimum size (30 px text)"
    assert problems["clips[1].lines[0]"] == (
        "has characters no installed font covers: '\\ue000' (U+E000), '\\U0010fffd' (U+10FFFD)"
    )
    assert len(problems) == 3


async def test_correct_answer_green_decodes_back_and_output_is_tagged(deps: Deps) -> None:
    """HD is converted and tagged BT.709 limited range, SD BT.601: #1E8449 measures back within a few levels."""
    for (width, height), matrix, tag in (((1280, 720), "bt709", "bt709"), ((640, 360), "bt601", "smpte170m")):
        job = question_job(f"colour-{height}-{uuid.uuid4().hex[:6]}", "Which colour?", ["Green", "b", "c", "d"],
                           width, height)  # fmt: skip
        video = await render(deps, job, 1)  # the reveal: the correct answer on its green band
        layout = layout_clip(job.clips[1], Profile(width, height), fonts_of(deps))
        top, band = layout.highlights[0]
        frame = rgb_frame(video, 0.1, width, height, matrix)
        keep(f"reveal-{height}", frame)
        patch = frame[top + 2 : top + 6, int(width * 0.06) : int(width * 0.12)].reshape(-1, 3).astype(int)
        assert np.abs(patch.mean(axis=0) - [0x1E, 0x84, 0x49]).max() <= 3, patch.mean(axis=0)
        assert band > 0
        probe = _probe_colour(video)
        assert probe == {"color_space": tag, "color_primaries": tag, "color_transfer": tag, "color_range": "tv"}
        # The poster converts from the tagged matrix to JPEG's: the same green in the JPEG.
        jpeg = await make_poster(video, 0.1, height, video.with_suffix(".jpg"))
        with Image.open(jpeg) as poster:
            shown = np.asarray(poster.convert("RGB"))
        patch = shown[top + 2 : top + 6, int(width * 0.06) : int(width * 0.12)].reshape(-1, 3).astype(int)
        assert np.abs(patch.mean(axis=0) - [0x1E, 0x84, 0x49]).max() <= 4, patch.mean(axis=0)


def test_poster_sits_beside_the_video() -> None:
    assert poster_uri("file:///out/show/ep1.mp4") == "file:///out/show/ep1.mp4.poster.jpg"
    assert poster_uri("s3://bucket/a.b/ep1.final.mov") == "s3://bucket/a.b/ep1.final.mov.poster.jpg"
    assert poster_uri("file:///out/ep1.mp4") != poster_uri("file:///out/ep1.mov")  # two videos, two posters


def _probe_colour(path: Path) -> dict[str, str]:
    import json
    import subprocess

    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "stream=color_space,color_primaries,color_transfer,color_range", "-of", "json", str(path)],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    stream: dict[str, str] = json.loads(out)["streams"][0]
    return stream


def test_reveal_keeps_the_question_layout(deps: Deps) -> None:
    """The bold correct answer breaks where the regular one does: the reveal only changes weight and colour."""
    answer = "Marie Skłodowska-Curie, who discovered polonium and radium together with her husband Pierre"
    job = question_job("v", "Who won two Nobel Prizes?", [answer, "b", "c", "d"], 1920, 1080)
    question, reveal = (layout_clip(job.clips[i], job.profile, fonts_of(deps)) for i in (0, 1))
    assert len(question.blocks[1].lines) > 1
    shape = [
        [(b.top, b.size, [line.logical for line in b.lines]) for b in layout.blocks] for layout in (question, reveal)
    ]
    assert shape[0] == shape[1]
    assert reveal.blocks[1].lines[0].runs[0].face.path.name.endswith("Bold.ttf")


def test_digits_beside_kanji_are_measured_in_the_face_their_line_draws_them_with() -> None:
    """A break unit of digits alone falls back to the primary face, but in its line takes the CJK face of
    the text around it: with a primary face whose digits are narrower (the midnight theme's Noto Sans
    Display Bold), lines measured unit by unit came out wider than the width they were wrapped to, and
    "第100問：" questions were refused at 1080p as not fitting even at the minimum size."""
    fonts = Fonts(NOTO / "NotoSans-Regular.ttf", NOTO / "NotoSansDisplay-Bold.ttf", "ja")
    text = "第100問：日本の歴史と文化についての問題です。江戸時代に最も長く続いた幕府の将軍は誰でしょうか？"
    assert break_units(text)[:3] == ("第", "100", "問：")
    shaper = Shaper(fonts.chain(True, text), 30)
    for width in range(160, 640):  # the first line full to within a digit's difference at some of them
        lines = wrap(text, shaper, width)
        assert "".join(line.text for line in lines) == text
        assert all(line.width <= width for line in lines), (width, [round(line.width, 1) for line in lines])
        assert lines[0].runs[0].face.name == "CJK"
