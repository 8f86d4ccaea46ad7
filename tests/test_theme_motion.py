"""A theme's entrance and exit (`motion`): the question, its answers one after another and a reveal's highlight
move in over the clip's first frames, and the question's or reveal's parts leave the same way over its last,
drawn from the frame's index alone, so a resumed render draws the same frames; its transition (`fade`,
`slide`) begins and ends each card, question and reveal inside the clip; `none` and `cut` are the pictures
and the keys of before."""

from __future__ import annotations

import itertools
import json
import subprocess
import uuid
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from temporalio.testing import ActivityEnvironment

from activities.render import RenderActivities
from activities.validate import job_hash
from contracts.job import Profile, parse_job
from contracts.plan import PlannedClip, plan_video
from contracts.records import ClipWork
from contracts.theme_models import parse_theme
from contracts.themes import BUILTIN_THEMES
from engine.clip_cache import Facts, clip_key
from engine.deps import Deps
from engine.media.encoder import video_args
from engine.media.graphs import ClipInputs, Segments, build_clip_commands
from engine.media.images import write_picture
from engine.media.layers import Fonts
from engine.media.motion import entrance_frames, leaves, starts
from engine.media.themed import STATIC, still_frame, theme_fonts
from engine.media.themed_graph import Look, entrance_pictures, motion_pictures
from engine.media.transitions import dip_picture, transition_frames
from engine.settings import Settings, StorageSettings
from engine.storage import file_path
from tests.test_render_engine import make_asset
from tests.test_resume_engine import interrupt, psnr, resume

SAMPLE = Path(__file__).parent.parent / "examples" / "trivia-sample.json"
W, H, FPS = 320, 180, 30


def clips(theme: Any, width: int = W, height: int = H) -> tuple[list[PlannedClip], Profile]:
    raw: dict[str, Any] = json.loads(SAMPLE.read_text())
    job = parse_job({**raw, "profile": {"width": width, "height": height, "fps": FPS}, "theme": theme})
    return list(plan_video(job).clips), job.profile


def fonts_of(deps: Deps, clip: PlannedClip) -> Fonts:
    assert clip.theme is not None
    return theme_fonts(clip.theme, Fonts(deps.settings.render.font, deps.settings.render.font_bold))


STILL: dict[str, Any] = {"motion": "none", "transition": "cut"}
"""What turns a built-in theme (each moves by default) back into the still look of before."""
NEON_BEFORE = "2ab76fdda94dcfe695d900f6734947c7e91ca870894e6f4555c678ca0f766bbd"
"""The sample's job hash under "neon" before the built-in themes moved."""


def test_motion_is_a_theme_field_hashed_only_when_set() -> None:
    raw: dict[str, Any] = json.loads(SAMPLE.read_text())
    assert (BUILTIN_THEMES["neon"].motion, BUILTIN_THEMES["neon"].transition) == ("pop", "fade")  # moving by default
    still = parse_job({**raw, "theme": {"extends": "neon", **STILL}})
    assert still.theme == replace(BUILTIN_THEMES["neon"], **STILL)
    assert job_hash(still) == NEON_BEFORE  # the still look keeps the job hash of before
    assert job_hash(parse_job({**raw, "theme": "neon"})) != NEON_BEFORE
    moving = parse_job({**raw, "theme": {"extends": "neon", "motion": "pop", "transition": "cut"}})
    assert job_hash(moving) != job_hash(still)
    assert plan_video(moving).clips[1].key != plan_video(still).clips[1].key


def test_the_answers_enter_one_after_another_within_half_a_second_each() -> None:
    begins = starts("question", 4)
    assert begins["question"] == 0 and [begins[f"answer{i}"] for i in range(4)] == [0.15, 0.23, 0.31, 0.39]
    assert entrance_frames(list(begins.values()), 30) == 24  # 0.79 s
    assert entrance_frames(list(starts("reveal", 4).values()), 30) == 12
    assert starts("card", 0) == {}


@pytest.mark.parametrize("motion", ["fade", "slide", "pop"])
def test_an_entrance_starts_bare_moves_and_ends_on_the_still_picture(deps: Deps, motion: str) -> None:
    planned, profile = clips({"extends": "midnight", "motion": motion}, 640, 360)
    question, reveal = planned[2:4]
    for clip in (question, reveal):
        assert clip.theme is not None
        look, fonts = Look(clip.theme, clip.number, clip.total), fonts_of(deps, clip)
        pictures = entrance_pictures(clip.spec, profile, fonts, look, 0)
        assert len(pictures) == entrance_frames(list(starts(clip.spec.kind, 4).values()), FPS)
        still = np.asarray(still_frame(clip.spec, profile, fonts, clip.theme, clip.number, clip.total), np.int16)
        drawn = [np.asarray(p, np.int16) for p in pictures]
        steps = [psnr(a, b) for a, b in itertools.pairwise(drawn)]
        assert max(steps[: len(steps) // 2]) < 45  # moving, then easing out (a slide's last pixels alike)
        assert psnr(drawn[0], still) < psnr(drawn[-1], still)
        assert psnr(drawn[-1], still) > 25  # the last answer settling: then the still, without a jump
        # Resumed inside the entrance: the same pictures from there on.
        later = entrance_pictures(clip.spec, profile, fonts, look, 7)
        assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(later, pictures[7:], strict=True))
    plain = clips({"extends": "midnight", **STILL}, 640, 360)[0][2]
    assert plain.theme is not None
    assert entrance_pictures(plain.spec, profile, fonts_of(deps, plain), Look(plain.theme), 0) == []


def render_from(
    deps: Deps, clip: PlannedClip, profile: Profile, start: int, segment: int, frames: int, work: Path
) -> np.ndarray:
    """The clip's frames from segment `start` on, rendered by the real graph with `segment`-frame GOPs."""
    assert clip.theme is not None
    work.mkdir()
    args = video_args("libx264", profile, threads=1)
    args = [str(segment) if prev in ("-g", "-keyint_min") else a for prev, a in zip(["", *args], args, strict=False)]
    commands = build_clip_commands(
        clip.spec, profile, frames, inputs=ClipInputs(first_frame=start * segment), fonts=fonts_of(deps, clip),
        video_args=args, text_dir=work, segments=Segments(work, segment, start), audio_out=None,
        look=Look(clip.theme, clip.number, clip.total),
    )  # fmt: skip
    for path, text in commands.text_files.items():
        path.write_text(text, encoding="utf-8")
    for path, image in commands.images.items():
        write_picture(path, image)
    subprocess.run(commands.video, check=True, capture_output=True)
    raw = b"".join(
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(p), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                       check=True, capture_output=True).stdout
        for p in sorted(work.glob("*.mov"))
    )  # fmt: skip
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, H, W, 3).astype(np.int16)


@pytest.mark.parametrize(("motion", "transition"), [("slide", "cut"), ("pop", "fade"), ("fade", "slide")])
def test_a_render_resumed_inside_the_entrance_the_exit_or_a_transition_draws_the_same_frames(
    deps: Deps, tmp_path: Path, motion: str, transition: str
) -> None:
    """Segments of 6 frames, so a resume can land inside the entrance, the exit or a transition (real segments
    are 2 s); the whole clip is rendered, so its exit and its transition out are where they are in a video."""
    planned, profile = clips({"extends": "neon", "motion": motion, "transition": transition})
    question = planned[2]
    frames = question.frames
    assert frames == 180
    whole = render_from(deps, question, profile, 0, 6, frames, tmp_path / "whole")
    assert len(whole) == frames
    assert psnr(whole[9], whole[12]) < 35 and psnr(whole[60], whole[61]) > 40  # moving, then still
    assert psnr(whole[163], whole[166]) < 35  # leaving
    for start in (2, 5, 27, 29):  # frame 12, mid-entrance; 30, after it; 162, mid-exit (~90 %); 174, going out
        resumed = render_from(deps, question, profile, start, 6, frames, tmp_path / f"from-{start}")
        assert len(resumed) == frames - start * 6
        worst = min(psnr(a, b) for a, b in zip(resumed, whole[start * 6 :], strict=True))
        assert worst > 35, (start, worst)
    assert (
        psnr(render_from(deps, question, profile, 2, 6, frames, tmp_path / "again")[0], whole[17]) < 35
    )  # a shift shows


@pytest.mark.parametrize("motion", ["fade", "slide", "pop"])
def test_an_exit_leaves_from_the_still_picture_to_the_picture_without_the_moving_parts(deps: Deps, motion: str) -> None:
    planned, profile = clips({"extends": "studio", "motion": motion}, 640, 360)
    for clip in planned[2:4]:  # a question, then its reveal
        assert clip.theme is not None
        look, fonts = Look(clip.theme, clip.number, clip.total), fonts_of(deps, clip)
        enter, leaving, exits = motion_pictures(clip.spec, profile, fonts, look, 0, clip.frames)
        count = entrance_frames(list(leaves(clip.spec.kind, 4, clip.spec.correct).values()), FPS)
        assert count == 24 and leaving == clip.frames - count and len(exits) == count
        assert len(enter) == entrance_frames(list(starts(clip.spec.kind, 4).values()), FPS)
        draw = partial(still_frame, clip.spec, profile, fonts, clip.theme, clip.number, clip.total)
        still, bare = np.asarray(draw(), np.int16), np.asarray(draw(parts=frozenset({STATIC})), np.int16)
        drawn = [np.asarray(p, np.int16) for p in exits]
        assert psnr(drawn[0], still) > 25  # the first answer to leave just starting: no jump from the still
        assert max(psnr(a, b) for a, b in itertools.pairwise(drawn[len(drawn) // 2 :])) < 60  # moving
        assert psnr(drawn[-2], still) < psnr(drawn[0], still)
        assert np.array_equal(drawn[-1], bare)  # the last frame: the background, the number, the tracks
        # Resumed inside the exit: the same pictures from there on, and no entrance.
        again = motion_pictures(clip.spec, profile, fonts, look, leaving + 9, clip.frames)
        assert again[0] == [] and again[1] == leaving + 9
        assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(again[2], exits[9:], strict=True))
    card = planned[-2]
    assert card.spec.kind == "card" and card.theme is not None
    assert motion_pictures(card.spec, profile, fonts_of(deps, card), Look(card.theme), 0, card.frames) == (
        [],
        card.frames,
        [],
    )


@pytest.mark.parametrize("transition", ["fade", "slide"])
def test_a_transition_starts_and_ends_each_themed_clip_on_its_background(
    deps: Deps, tmp_path: Path, transition: str
) -> None:
    planned, profile = clips({"extends": "midnight", "transition": transition})
    card = planned[-2]
    assert card.spec.kind == "card" and card.theme is not None
    frames, k = card.frames, transition_frames(FPS, card.frames)
    assert (frames, k) == (90, 8)
    moving = render_from(deps, card, profile, 0, 30, frames, tmp_path / "moving")
    cut = clips({"extends": "midnight", **STILL})[0][-2]
    still = render_from(deps, cut, profile, 0, 30, frames, tmp_path / "cut")
    assert len(moving) == len(still) == frames
    dip = np.asarray(dip_picture(card.theme, profile), np.int16)
    assert psnr(moving[0], dip) > 35 and psnr(moving[-1], dip) > 35  # on the background, as the next one starts
    assert psnr(still[0], dip) < 25 and psnr(still[-1], dip) < 25
    assert psnr(moving[k // 2], dip) < 35 and psnr(moving[k // 2], still[k // 2]) < 35  # between the two
    assert (
        min(psnr(a, b) for a, b in zip(moving[k:-k], still[k:-k], strict=True)) > 38
    )  # the clip as it is (encoded after other frames)
    steps = [psnr(a, b) for a, b in itertools.pairwise(moving[: k + 1])]
    assert max(steps[: k // 2]) < 45, steps  # moving, then easing in (a slide's last pixel or two alike)


def test_transition_is_hashed_only_when_set_and_only_in_the_keys_of_clips_it_draws() -> None:
    raw: dict[str, Any] = json.loads(SAMPLE.read_text())
    plain = parse_job({**raw, "theme": {"extends": "midnight", "motion": "none"}})
    cut = parse_job({**raw, "theme": {"extends": "midnight", **STILL}})
    assert cut.theme == replace(BUILTIN_THEMES["midnight"], **STILL) and job_hash(cut) != job_hash(plain)
    assert job_hash(parse_job({**raw, "theme": "midnight"})) != job_hash(plain)
    plain = cut
    fade = parse_job({**raw, "theme": {"extends": "midnight", "motion": "none", "transition": "fade"}})
    assert fade.theme is not None and fade.theme.transition == "fade" and job_hash(fade) != job_hash(plain)
    assert parse_theme({"extends": "neon", "transition": "slide", "motion": "pop"})[0] == replace(
        BUILTIN_THEMES["neon"], transition="slide", motion="pop"
    )
    assert parse_theme({"extends": "neon", "transition": "wipe"})[1][0][0] == "theme.transition"
    for before, after in zip(plan_video(plain).clips, plan_video(fade).clips, strict=True):
        assert (before.key == after.key) == (before.spec.kind not in ("card", "question", "reveal")), before.label


async def test_an_animated_question_on_a_looping_video_resumes_at_a_segment_frame_for_frame(deps: Deps) -> None:
    """Stopped by a draining worker after its first segment and resumed by the retry, as any clip; its parts leave
    over the loop and the whole frame slides in and out."""
    uri = make_asset(deps, f"loop-{uuid.uuid4().hex[:6]}.mp4", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=1.6",
                     "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "12")  # fmt: skip

    def work(video_id: str) -> ClipWork:
        question = {"kind": "question", "duration": 16, "question": "Which planet is red?",
                    "answers": ["Mars", "Venus", "Earth", "Jupiter"], "correct": 0}  # fmt: skip
        job = parse_job({"video_id": video_id, "profile": {"width": W, "height": H, "fps": FPS},
                         "clips": [question], "theme": {"extends": "midnight", "motion": "pop", "transition": "slide",
                                                        "background": {"video": uri}}})  # fmt: skip
        clip = plan_video(job).clips[0]
        return ClipWork(video_id, clip, job.profile, job.tts_voice, job.tts_speed, tts_engine="none")

    inp = work(f"motion-resume-{uuid.uuid4().hex[:6]}")
    beats = await interrupt(deps, inp, after_segments=1, how="drain")
    done = beats[-1]["segments_done"]
    result = await resume(deps, inp, beats[-1])
    assert 1 <= done < 8 and result.reused_frames == done * 60
    reference = await ActivityEnvironment().run(
        RenderActivities(deps).render, work(f"motion-whole-{uuid.uuid4().hex[:6]}")
    )

    def frames(path: Path) -> np.ndarray:
        raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                             check=True, capture_output=True).stdout  # fmt: skip
        return np.frombuffer(raw, dtype=np.uint8).reshape(-1, H, W, 3).astype(np.int16)

    resumed, whole = frames(file_path(result.uri)), frames(file_path(reference.uri))
    assert len(resumed) == len(whole) == 480
    assert min(psnr(a, b) for a, b in zip(resumed, whole, strict=True)) > 30


BEFORE = {
    # (plan key, clip cache key) of the sample's clips under "midnight", as made before transitions and exits.
    "midnight": [
        ("0000-2992186a5987a6f5", "2da21acda97ac3d3"), ("0001-495a1db41d530a6d", "8b0a7b1380bcdd43"),
        ("0002-e23ed7e4366f29e3", "212dfda532e60d91"), ("0003-0a33c2c583f52805", "c1a5de1f3697601e"),
        ("0004-3f7afb446d889480", "882d45f47184bb53"), ("0005-2cd37540bc491024", "7e76c9e04f6102b7"),
        ("0006-db9ebc0d2216ee00", "3d3709b76b184584"), ("0007-66478838e9244e84", "e7a5787a1ab16eea"),
    ],
    # Under neon with motion "pop": the card and the recipe, which have no parts to leave, keep theirs.
    "pop": [("0006-f94804db3302a631", "f948bb64d91691ee"), ("0007-8502e820ca03886a", "5a4e57dcaf336b9b")],
}  # fmt: skip


def keys(theme: Any) -> list[tuple[str, str]]:
    raw: dict[str, Any] = json.loads(SAMPLE.read_text())
    job = parse_job({**raw, "theme": theme})
    settings = Settings(
        storage=StorageSettings(
            work_uri="file:///w", output_roots=("file:///o",), asset_roots=("file:///a",), scratch_dir=Path("/tmp/s")
        )
    )
    facts = Facts(encoder="libx264", ffmpeg="ffmpeg version 6", fonts=("a.ttf#0:aa",), assets={})
    return [
        (
            clip.key.rsplit("/", 1)[1].removesuffix(".mov"),
            clip_key(ClipWork(job.video_id, clip, job.profile, job.tts_voice, job.tts_speed), settings, facts)[:16],
        )
        for clip in plan_video(job).clips
    ]


@pytest.mark.usefixtures("engine_2")  # BEFORE was recorded at engine version 2
def test_cut_and_no_motion_keep_every_key_of_before_and_a_transition_changes_only_the_themed_clips() -> None:
    assert keys({"extends": "midnight", **STILL}) == BEFORE["midnight"]  # the still look of before keeps its keys
    assert not set(keys("midnight")[:7]) & set(BEFORE["midnight"])  # midnight moves by default: new keys
    pop = keys({"extends": "neon", "motion": "pop", "transition": "cut"})
    assert pop[6:] == BEFORE["pop"] and not set(pop[:6]) & set(keys({"extends": "neon", **STILL}))
    assert keys("neon")[7] == BEFORE["pop"][1]  # the recipe: no motion, no transition
    fade = keys({"extends": "midnight", "motion": "none", "transition": "fade"})
    assert [a == b for a, b in zip(fade, BEFORE["midnight"], strict=True)] == [False] * 7 + [True]  # not the recipe
    slide = keys({"extends": "midnight", "motion": "none", "transition": "slide"})
    assert not set(fade[:7]) & set(slide[:7]) and fade[7] == slide[7]
