"""Text aimed at ffmpeg's filter graph renders literally: a real render succeeds, every character is laid out,
and none of it reaches ffmpeg's arguments (text arrives as drawn images)."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.testing import ActivityEnvironment

import activities.render
from activities.render import RenderActivities
from contracts.job import Job, JobError, parse_job
from contracts.plan import plan_video
from contracts.records import ClipResult, ClipWork
from engine.deps import Deps
from engine.media.layers import DoesNotFit, Fonts, layout_clip
from engine.media.process import ProgressCallback, run_ffmpeg
from engine.storage import file_path
from tests.hostile import FILTER_GRAPH_TEXT, hostile_text
from tests.media import streams

WIDTH, HEIGHT = 1280, 720

HOSTILE_LINES = [
    'It\'s 100% "fine": %{pts} %{localtime} %{eif:1/0:d}',
    "C:\\dir\\file \\\\ \\' \\: \\n not a newline",
    "text='x':fontfile=/etc/passwd:textfile=/etc/shadow",
    "a;b,c [in] [0:v]null[out]; [x] split [y]",
    "'; rm -rf / #  $(reboot) `id` ${HOME}",
    "שלום עולם مرحبا \u202eevil\u202c \u200f",
    "🎬 👩‍👩‍👧 🇺🇳 \ufeff zero\u200bwidth",
    "two\nlines",
    "",
]


class CommandSpy:
    """Wraps run_ffmpeg: keeps every command and the images it reads, as they were when it ran."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.commands: list[list[str]] = []
        self.images: list[Path] = []

    async def __call__(self, args: Sequence[str], on_frames: ProgressCallback | None = None) -> float:
        self.commands.append(list(args))
        self.images += [Path(a) for a in args if a.endswith(".png")]
        assert all(p.is_file() for p in self.images)
        used: float = await self.real(args, on_frames)
        return used


async def render_card(deps: Deps, monkeypatch: pytest.MonkeyPatch, video_id: str, lines: list[str]) -> CommandSpy:
    job = card_job(video_id, lines)
    [clip] = plan_video(job).clips
    spy = CommandSpy(run_ffmpeg)
    monkeypatch.setattr(activities.render, "run_ffmpeg", spy)
    inp = ClipWork(video_id, clip, job.profile, job.tts_voice, job.tts_speed)
    result: ClipResult = await ActivityEnvironment().run(RenderActivities(deps).render, inp)
    assert not result.skipped and result.frames == 2
    assert int(streams(file_path(result.uri))["video"]["nb_read_frames"]) == 2
    return spy


def card_job(video_id: str, lines: list[str]) -> Job:
    return parse_job(
        {
            "video_id": video_id,
            "profile": {"width": WIDTH, "height": HEIGHT, "fps": 10},
            "clips": [{"kind": "card", "duration": 0.2, "lines": lines}],
        }
    )


def laid_out_characters(deps: Deps, lines: list[str]) -> Counter[str]:
    """Every character the layout draws (lines are in visual order, so compared as a multiset)."""
    job = card_job("v", lines)
    layout = layout_clip(job.clips[0], job.profile, Fonts(deps.settings.render.font, deps.settings.render.font_bold))
    return visible("".join(line.text for block in layout.blocks for line in block.lines))


def visible(text: str) -> Counter[str]:
    """Characters other than white space: a line break may drop the white space it breaks at."""
    return Counter(char for char in text if not char.isspace())


def sent_characters(lines: list[str]) -> Counter[str]:
    return visible("".join(lines))


async def test_filter_graph_text_renders_literally(deps: Deps, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = await render_card(deps, monkeypatch, "hostile-render", HOSTILE_LINES)
    assert laid_out_characters(deps, HOSTILE_LINES) == sent_characters(HOSTILE_LINES)  # nothing lost or added
    assert spy.images  # the text arrives as a drawn image
    graph = "\n".join(arg for command in spy.commands for arg in command)
    assert "drawtext" not in graph
    for line in HOSTILE_LINES:
        if len(line) > 8:
            assert line not in graph  # user text never reaches ffmpeg's arguments


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(hostile_text, st.sampled_from(FILTER_GRAPH_TEXT)), min_size=1, max_size=12))
async def test_generated_hostile_text_renders_or_is_refused(
    deps: Deps, monkeypatch: pytest.MonkeyPatch, lines: list[str]
) -> None:
    try:
        parse_job({"video_id": "v", "clips": [{"kind": "card", "duration": 1, "lines": lines}]})
    except JobError as err:
        assert err.field.startswith("clips[0].lines")
        return
    try:
        laid = laid_out_characters(deps, lines)
    except DoesNotFit:
        return  # refused at validation, naming the field (tests/test_text_layout.py)
    spy = await render_card(deps, monkeypatch, f"hostile-generated-{uuid.uuid4().hex[:8]}", lines)
    # Layout only breaks lines, dropping the spaces it breaks at: every other character is drawn.
    assert laid == sent_characters(lines)
    assert not any(line in arg for line in lines if len(line) > 8 for command in spy.commands for arg in command)


async def test_long_text_shrinks_and_renders(deps: Deps, monkeypatch: pytest.MonkeyPatch) -> None:
    """Twelve long lines: drawn smaller, all of them, and the render succeeds."""
    line = ("%{pts} 'quoted' \\ : ; [x] 🎬 שלום " * 40)[:120]
    await render_card(deps, monkeypatch, "hostile-long", [line] * 12)
    assert laid_out_characters(deps, [line] * 12) == sent_characters([line] * 12)
    with pytest.raises(JobError, match="10000 characters long; the limit is 500"):
        parse_job({"video_id": "v", "clips": [{"kind": "card", "duration": 1, "lines": ["x" * 10_000]}]})
