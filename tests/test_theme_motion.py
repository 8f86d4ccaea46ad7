"""A theme's entrance (`motion`): the question, its answers one after another and a reveal's highlight move
in over the clip's first frames, drawn from the frame's index alone, so a resumed render draws the same
frames; `none` is the picture and the keys of before."""

from __future__ import annotations

import itertools
import json
import subprocess
import uuid
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
from contracts.themes import BUILTIN_THEMES
from engine.deps import Deps
from engine.media.encoder import video_args
from engine.media.graphs import ClipInputs, Segments, build_clip_commands
from engine.media.layers import Fonts
from engine.media.motion import entrance_frames, starts
from engine.media.themed import still_frame, theme_fonts
from engine.media.themed_graph import Look, entrance_pictures
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
    return theme_fonts(clip.theme, Fonts(deps.settings.font, deps.settings.font_bold))


def test_motion_is_a_theme_field_hashed_only_when_set() -> None:
    raw: dict[str, Any] = json.loads(SAMPLE.read_text())
    still = parse_job({**raw, "theme": {"extends": "neon", "motion": "none"}})
    assert still.theme == BUILTIN_THEMES["neon"]
    assert job_hash(still) == job_hash(parse_job({**raw, "theme": "neon"}))
    moving = parse_job({**raw, "theme": {"extends": "neon", "motion": "pop"}})
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
    plain = clips("midnight", 640, 360)[0][2]
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
        image.save(path, "PNG", compress_level=1)
    subprocess.run(commands.video, check=True, capture_output=True)
    raw = b"".join(
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(p), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                       check=True, capture_output=True).stdout
        for p in sorted(work.glob("*.mov"))
    )  # fmt: skip
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, H, W, 3).astype(np.int16)


@pytest.mark.parametrize("motion", ["slide", "pop"])
def test_a_render_resumed_inside_or_after_the_entrance_draws_the_same_frames(
    deps: Deps, tmp_path: Path, motion: str
) -> None:
    """Segments of 6 frames, so a resume can land inside the entrance (real segments are 2 s, after it)."""
    planned, profile = clips({"extends": "neon", "motion": motion})
    question = planned[2]
    frames = 36
    whole = render_from(deps, question, profile, 0, 6, frames, tmp_path / "whole")
    assert len(whole) == frames
    assert psnr(whole[3], whole[4]) < 35 and psnr(whole[30], whole[31]) > 40  # moving, then still
    for start in (2, 5):  # frame 12, mid-entrance; frame 30, after it
        resumed = render_from(deps, question, profile, start, 6, frames, tmp_path / f"from-{start}")
        assert len(resumed) == frames - start * 6
        worst = min(psnr(a, b) for a, b in zip(resumed, whole[start * 6 :], strict=True))
        assert worst > 35, (start, worst)
    assert (
        psnr(render_from(deps, question, profile, 2, 6, frames, tmp_path / "again")[0], whole[13]) < 35
    )  # a shift shows


async def test_an_animated_question_on_a_looping_video_resumes_at_a_segment_frame_for_frame(deps: Deps) -> None:
    """Stopped by a draining worker after its first segment and resumed by the retry, as any clip."""
    uri = make_asset(deps, f"loop-{uuid.uuid4().hex[:6]}.mp4", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=1.6",
                     "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "12")  # fmt: skip

    def work(video_id: str) -> ClipWork:
        question = {"kind": "question", "duration": 16, "question": "Which planet is red?",
                    "answers": ["Mars", "Venus", "Earth", "Jupiter"], "correct": 0}  # fmt: skip
        job = parse_job({"video_id": video_id, "profile": {"width": W, "height": H, "fps": FPS},
                         "clips": [question], "theme": {"extends": "midnight", "motion": "pop",
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
