"""Clip kinds as plug-ins (contracts.kinds, engine.kinds), proved by the `color` kind: two files, no other edits."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from temporalio.testing import ActivityEnvironment

import contracts.kinds
import engine.kinds
from activities.assemble import AssembleActivities
from activities.render import RenderActivities
from contracts.job import JobError, parse_job
from contracts.job_models import CLIP_KINDS, asset_fields, job_schema
from contracts.plan import plan_video
from contracts.records import ClipWork, ConcatWork
from engine.deps import Deps
from engine.settings import Settings
from engine.storage import file_path
from tests.media import rgb_frame, streams
from tests.test_clip_cache import cache_deps
from tests.test_render_engine import make_asset
from tests.test_resume_engine import interrupt, resume

ROOT = Path(__file__).resolve().parent.parent
W, H = 160, 90
PACKAGES = ("contracts", "engine", "activities", "workers", "starter", "workflows", "runtime", "devtools")


def job(clips: list[dict[str, Any]], video_id: str = "color-kind", **fields: Any) -> dict[str, Any]:
    return {"video_id": video_id, "profile": {"width": W, "height": H}, "clips": clips, **fields}


def clip_inputs(video_id: str, clips: list[dict[str, Any]], **fields: Any) -> list[ClipWork]:
    parsed = parse_job(job(clips, video_id, **fields))
    plan = plan_video(parsed)
    return [ClipWork(video_id, c, plan.profile, parsed.tts_voice, parsed.tts_speed) for c in plan.clips]


def rgb_frames(path: Path) -> np.ndarray:
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-vf", "scale=in_color_matrix=bt601:in_range=tv:out_range=pc",
         "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, H, W, 3).astype(np.int16)


def test_both_registries_list_the_same_kinds() -> None:
    assert set(contracts.kinds.load()) == set(engine.kinds.load())
    every = {"card", "question", "reveal", "recipe", "video", "image", "color"}
    assert set(contracts.kinds.KINDS) == set(engine.kinds.RENDERERS) == every
    # The job file's kinds in the order the schema and an unknown kind's error list them; a reveal is planned only.
    assert CLIP_KINDS == ("card", "question", "recipe", "video", "image", "color")
    assert [c.kind for c in contracts.kinds.clip_kinds()] == list(CLIP_KINDS)
    for name, contract in contracts.kinds.KINDS.items():
        if contract.model is None:
            assert contract.specs is None and name not in CLIP_KINDS
            continue
        models = contract.variants.values() if contract.variant_tag else [contract.model]
        for model in models:
            assert model.model_fields["kind"].annotation.__args__ == (name,)  # type: ignore[union-attr]


def test_a_question_registers_its_reveal_in_both_registries() -> None:
    """The reveal a question plans has its own label, numbering and renderer, from the question's modules."""
    reveal, question = contracts.kinds.KINDS["reveal"], contracts.kinds.KINDS["question"]
    assert reveal.model is None and reveal.numbered and not reveal.counted and reveal.themed is not None
    assert question.counted and question.numbered
    assert engine.kinds.RENDERERS["reveal"].sound == "sting" and not engine.kinds.RENDERERS["reveal"].countdown
    assert engine.kinds.RENDERERS["question"].countdown and engine.kinds.RENDERERS["question"].sound == "tick"
    plan = plan_video(parse_job(job([
        {"kind": "question", "question": "Largest?", "answers": ["a", "b", "c", "d"], "correct": 1},
    ])))  # fmt: skip
    assert [c.label for c in plan.clips] == [
        'clip 1/2 · question "Largest?" · 10 s',
        'clip 2/2 · reveal "Largest?" · 4 s',
    ]


def test_no_kind_is_named_outside_its_modules_where_the_registry_answers() -> None:
    """The job models, plan, budget and the clip graph name no kind: they ask the registries."""
    literal = re.compile(r"""\.kind\s*(==|!=|in|not in)\s*[("']""")
    for path in ("contracts/job_models.py", "contracts/plan.py", "contracts/budget.py", "engine/media/graphs.py",
                 "engine/sound_assets.py", "activities/render.py", "activities/preflight.py"):  # fmt: skip
        source = (ROOT / path).read_text(encoding="utf-8")
        assert not literal.search(source), path


def test_the_color_kind_lives_in_its_two_files() -> None:
    """Adding the kind edited no `if kind == …` chain: its name appears only in its own modules (and this test)."""
    mention = re.compile(r"""["']color["']|ColorClip|kinds\.color|kinds/color""")
    own = {ROOT / "contracts" / "kinds" / "color.py", ROOT / "engine" / "kinds" / "color.py"}
    found = sorted(
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if path not in own and mention.search(path.read_text(encoding="utf-8"))
    )
    assert found == []
    # Tests may run ffmpeg's lavfi "color" source: there only the kind's own spelling counts.
    as_kind = re.compile(r"""kind["']?\s*(:|=|==)\s*["']color["']|ColorClip|kinds\.color""")
    tests = sorted(
        path.name for path in (ROOT / "tests").glob("*.py") if as_kind.search(path.read_text(encoding="utf-8"))
    )
    assert tests == ["test_ffgraph.py", "test_kinds.py"]  # and the golden command lines, one per kind's graph


def test_a_color_clip_validates_and_is_planned_from_the_registry() -> None:
    parsed = parse_job(job([{"kind": "color", "color": "#1e8449", "duration": 1.5}, {"kind": "card", "duration": 1}]))
    color = parsed.clips[0]
    assert (color.kind, color.background, color.duration, color.audio) == ("color", "#1E8449", 1.5, None)
    plan = plan_video(parsed)
    assert plan.clips[0].frames == 45
    assert plan.clips[0].label == "clip 1/2 · color #1E8449 · 1.5 s"
    assert plan.clips[1].label.startswith('clip 2/2 · card ""')
    named = parse_job(job([{"kind": "color", "color": "navy", "duration": 1}])).clips[0]
    assert named.background == "#0B1F4D"
    schema = job_schema()
    assert "ColorClip" in schema["$defs"]


@pytest.mark.parametrize(
    ("clip", "field", "words"),
    [
        ({"kind": "color", "color": "#12345", "duration": 1}, "clips[0].color", "expected #RRGGBB"),
        ({"kind": "color", "color": "teal", "duration": 1}, "clips[0].color", "expected #RRGGBB"),
        ({"kind": "color", "duration": 1}, "clips[0].color", "is required"),
        ({"kind": "color", "color": "#000000", "duration": 0}, "clips[0].duration", ""),
        ({"kind": "color", "color": "#000000", "duration": 1, "lines": []}, "clips[0].lines", "allowed: audio"),
        ({"kind": "colour", "duration": 1}, "clips[0].kind", "color"),
    ],
)
def test_a_bad_color_clip_is_refused_naming_the_field(clip: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(JobError) as caught:
        parse_job(job([{"kind": "card", "duration": 1}, clip]))
    problems = dict((name.replace("clips[1]", "clips[0]"), text) for name, text in caught.value.problems)
    assert field in problems and words in problems[field], caught.value.problems


def test_a_color_clips_audio_is_an_asset_the_preflight_checks() -> None:
    raw = job([{"kind": "color", "color": "#000000", "duration": 1, "audio": "file:///assets/music.wav"}])
    assert asset_fields(raw) == [("clips[0].audio", "file:///assets/music.wav", "audio")]
    assert parse_job(raw).asset_uris() == ["file:///assets/music.wav"]


def test_a_color_clip_costs_the_plain_rate_in_the_budget() -> None:
    from contracts.budget import SLOWEST_EXPECTED_FPS, frame_seconds

    parsed = parse_job(job([{"kind": "color", "color": "#000000", "duration": 1}]))
    assert frame_seconds(parsed.clips[0], parsed.profile) == 1 / SLOWEST_EXPECTED_FPS


async def test_a_color_clip_renders_frame_exact_in_its_colour_and_joins_a_card(deps: Deps) -> None:
    music = make_asset(deps, "color-music.wav", "-f", "lavfi", "-i", "sine=f=440:d=5")
    inputs = clip_inputs("color-join", [
        {"kind": "color", "color": "#1E8449", "duration": 1.5, "audio": music},
        {"kind": "card", "duration": 1, "lines": ["Next"]},
    ])  # fmt: skip
    rendered = [await ActivityEnvironment().run(RenderActivities(deps).render, inp) for inp in inputs]
    color = file_path(rendered[0].uri)
    assert rendered[0].frames == 45
    info = streams(color)
    assert int(info["video"]["nb_read_frames"]) == 45 and (info["video"]["width"], info["video"]["height"]) == (W, H)
    frames = rgb_frames(color)
    assert len(frames) == 45
    assert np.abs(frames - np.array([0x1E, 0x84, 0x49])).max() <= 4  # within the codec's rounding
    joined = await ActivityEnvironment().run(
        AssembleActivities(deps).concat, ConcatWork("color-join", [r.uri for r in rendered], 30, 75)
    )
    assert joined.frames == 75 and not joined.reencoded  # the same codec parameters as a card's
    assert int(streams(file_path(joined.uri))["video"]["nb_read_frames"]) == 75


async def test_a_color_clip_resumes_by_segments(deps: Deps) -> None:
    # The longest clip: a still this small encodes at thousands of frames a second, too soon done to stop.
    clip = {"kind": "color", "color": "#C0392B", "duration": 600}
    [inp] = clip_inputs("color-resume", [clip])
    beats = await interrupt(deps, inp, after_segments=2, how="drain")
    assert 2 <= beats[-1]["segments_done"] < 300
    result = await resume(deps, inp, beats[-1])
    assert result.reused_frames == beats[-1]["segments_done"] * 60 and result.frames == 18_000
    path = file_path(result.uri)
    assert int(streams(path)["video"]["nb_read_frames"]) == 18_000
    last = rgb_frame(path, 599.9, W, H, "bt601").astype(np.int16)
    assert np.abs(last - np.array([0xC0, 0x39, 0x2B])).max() <= 4


async def test_a_color_clip_is_taken_from_the_clip_cache(tmp_path: Path, settings: Settings) -> None:
    deps = cache_deps(tmp_path, settings)
    clip = {"kind": "color", "color": "#5B2C6F", "duration": 0.5}
    [first] = clip_inputs("color-cache-1", [clip])
    [second] = clip_inputs("color-cache-2", [clip])
    [other] = clip_inputs("color-cache-3", [{**clip, "color": "#5B2C70"}])
    render = RenderActivities(deps).render
    assert not (await ActivityEnvironment().run(render, first)).from_cache
    assert (await ActivityEnvironment().run(render, second)).from_cache
    assert not (await ActivityEnvironment().run(render, other)).from_cache


async def test_a_theme_leaves_a_color_clip_its_own_colour(deps: Deps) -> None:
    [inp] = clip_inputs("color-themed", [{"kind": "color", "color": "#1E50C8", "duration": 0.5}], theme="neon")
    assert inp.clip.theme is not None
    result = await ActivityEnvironment().run(RenderActivities(deps).render, inp)
    frames = rgb_frames(file_path(result.uri))
    assert len(frames) == 15 and np.abs(frames - np.array([0x1E, 0x50, 0xC8])).max() <= 4
