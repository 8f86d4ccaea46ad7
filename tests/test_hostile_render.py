"""Text aimed at ffmpeg's filter graph renders literally: a real render succeeds, and drawtext gets it byte for byte."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.testing import ActivityEnvironment

import activities.render
from activities.common import Deps
from activities.media.process import ProgressCallback, run_ffmpeg
from activities.media.text import wrap
from activities.render import RenderActivities
from activities.storage import file_path
from contracts.job import JobError, parse_job
from contracts.plan import plan_video
from contracts.records import ClipResult, RenderClipInput
from tests.hostile import FILTER_GRAPH_TEXT, hostile_text
from tests.media import streams

WIDTH, HEIGHT = 3840, 64
"""Wide, with small type: none of the lines below is wrapped, so each drawtext file is one line of the job."""
FONT_SIZE = 12

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


class TextFileSpy:
    """Wraps run_ffmpeg: before each command runs, keeps the drawtext text files it names, as bytes."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.files: list[bytes] = []
        self.commands: list[list[str]] = []

    async def __call__(self, args: Sequence[str], on_frames: ProgressCallback | None = None) -> float:
        self.commands.append(list(args))
        for arg in args:
            for name in re.findall(r"textfile=([^:]+)", arg):
                self.files.append(Path(name.replace("\\", "")).read_bytes())
        used: float = await self.real(args, on_frames)
        return used


async def render_card(deps: Deps, monkeypatch: pytest.MonkeyPatch, video_id: str, lines: list[str]) -> TextFileSpy:
    job = parse_job(
        {
            "video_id": video_id,
            "profile": {"width": WIDTH, "height": HEIGHT, "fps": 10},
            "clips": [{"kind": "card", "duration": 0.2, "lines": lines}],
        }
    )
    [clip] = plan_video(job).clips
    spy = TextFileSpy(run_ffmpeg)
    monkeypatch.setattr(activities.render, "run_ffmpeg", spy)
    inp = RenderClipInput(video_id, clip, job.profile, job.tts_voice, job.tts_speed)
    result: ClipResult = await ActivityEnvironment().run(RenderActivities(deps).render_clip, inp)
    assert not result.skipped and result.frames == 2
    assert int(streams(file_path(result.uri))["video"]["nb_read_frames"]) == 2
    return spy


def drawn_lines(deps: Deps, lines: list[str]) -> list[str]:
    """What the layout hands drawtext for these lines: each line split at its newlines, nothing else."""
    out = []
    for line in lines:
        pieces = wrap(line, deps.settings.font, FONT_SIZE, WIDTH * 0.9)
        assert pieces == line.split("\n"), "a test line was wrapped: keep the lines short"
        out += pieces
    return out


async def test_filter_graph_text_renders_literally(deps: Deps, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = await render_card(deps, monkeypatch, "hostile-render", HOSTILE_LINES)
    expected = drawn_lines(deps, HOSTILE_LINES)
    assert spy.files == [line.encode("utf-8") for line in expected]  # byte for byte, in order
    graph = "\n".join(arg for command in spy.commands for arg in command)
    for line in HOSTILE_LINES:
        if len(line) > 8:
            assert line not in graph  # user text reaches ffmpeg only as file contents


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
    spy = await render_card(deps, monkeypatch, "hostile-generated", lines)
    laid_out = [wrap(line, deps.settings.font, FONT_SIZE, WIDTH * 0.9) for line in lines]
    assert spy.files == [piece.encode("utf-8") for pieces in laid_out for piece in pieces[:6]]
    for line, pieces in zip(lines, laid_out, strict=True):
        if len(pieces) <= 6:  # a block shows six lines at most
            # Layout only breaks lines, dropping the spaces it breaks at: every other character arrives as sent.
            assert "".join(pieces).replace(" ", "") == line.replace("\n", "").replace(" ", "")


async def test_longest_allowed_text_renders(deps: Deps, monkeypatch: pytest.MonkeyPatch) -> None:
    """500 characters per line (the limit), twelve lines: wrapped to the frame, and the render still succeeds."""
    line = ("%{pts} 'quoted' \\ : ; [x] 🎬 שלום " * 40)[:500]
    spy = await render_card(deps, monkeypatch, "hostile-long", [line] * 12)
    assert spy.files and all(b"%{pts}" in f or f for f in spy.files)
    with pytest.raises(JobError, match="10000 characters long; the limit is 500"):
        parse_job({"video_id": "v", "clips": [{"kind": "card", "duration": 1, "lines": ["x" * 10_000]}]})
