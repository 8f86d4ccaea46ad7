"""Captions beside narrated videos: timed to the speech heard in the published video, parseable, escaped,
republished the same by a retried upload and unpublished with the video."""

from __future__ import annotations

import asyncio
import re
import subprocess
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import webvtt
from temporalio.testing import ActivityEnvironment

from activities.assemble import AssembleActivities
from activities.captions import Cue, caption_cues, cue_text, to_subrip, to_webvtt
from activities.manifest import Manifest
from contracts.job import parse_job
from contracts.plan import plan_video
from contracts.records import DiscardInput, UploadInput, VideoResult
from engine.deps import Deps
from engine.settings import Settings, file_uri
from engine.storage import file_path
from starter import RenderClient
from tests.report import report

FPS = 30
HOSTILE = "Tom & Jerry <b>bold</b> --> next\n\n\nשלום עולם · 日本語のテキスト 🎉\nمرحبا"
SRT_BLOCK = re.compile(r"(\d+)\n(\d{2}:\d{2}:\d{2},\d{3}) --> (\d{2}:\d{2}:\d{2},\d{3})\n((?:[^\n]+\n)+)")


def seconds(clock: str) -> float:
    hours, minutes, rest = clock.replace(",", ".").split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(rest)


def srt_cues(text: str) -> list[tuple[float, float, str]]:
    """The SRT's cues, checking its shape: numbered blocks from 1, a timing line each, blank-line separated."""
    blocks = text.split("\n\n")
    assert blocks[-1] == "" and all(blocks[:-1]), repr(text)
    found = []
    for n, block in enumerate(blocks[:-1], 1):
        match = SRT_BLOCK.fullmatch(block + "\n")
        assert match and int(match[1]) == n, block
        found.append((seconds(match[2]), seconds(match[3]), match[4].rstrip("\n")))
    return found


WORD_MARK = re.compile(r"<(\d{2}:\d{2}:\d{2}\.\d{3})>")


def parsed_vtt(path: Path) -> list[tuple[float, float, str]]:
    """Each cue's start and end (seconds) and raw text without its word marks, as a WebVTT parser reads the file;
    every word mark lies inside its cue, in order."""
    cues = []
    for c in webvtt.read(str(path)).captions:
        start, end = seconds(c.start), seconds(c.end)
        marks = [seconds(mark) for mark in WORD_MARK.findall(c.raw_text)]
        assert marks == sorted(marks) and all(start < mark < end for mark in marks), c.raw_text
        cues.append((start, end, WORD_MARK.sub("", c.raw_text)))
    return cues


def speech_onsets(video: Path) -> list[float]:
    """When sound starts after at least 0.15 s of quiet in the published audio, by ffmpeg's silencedetect."""
    run = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostats", "-i", str(video), "-vn", "-af", "silencedetect=noise=-50dB:d=0.15",
         "-f", "null", "-"], capture_output=True, text=True, check=True,
    )  # fmt: skip
    return [float(v) for v in re.findall(r"silence_end: ([\d.]+)", run.stderr)]


# --- the files themselves ---


def test_cue_text_keeps_lines_and_drops_blank_ones() -> None:
    assert cue_text(HOSTILE) == "Tom & Jerry <b>bold</b> --> next\nשלום עולם · 日本語のテキスト 🎉\nمرحبا"
    assert cue_text(" \n\n ") == ""
    assert cue_text("a\r\n\r\nb\u2028c\x00") == "a\nb\nc\ufffd"  # in case a text ever carries them


def test_webvtt_escapes_what_would_end_a_cue_or_read_as_markup(tmp_path: Path) -> None:
    cues = [Cue(500, 1250, cue_text(HOSTILE)), Cue(3_723_004, 3_723_900, "second")]
    text = to_webvtt(cues)
    assert text.startswith("WEBVTT\n\n1\n00:00:00.500 --> 00:00:01.250\n")
    assert "Tom &amp; Jerry &lt;b&gt;bold&lt;/b&gt; --&gt; next\n" in text
    assert "01:02:03.004 --> 01:02:03.900" in text
    assert text.count(" --> ") == 2 and "\n\n\n" not in text
    path = tmp_path / "c.vtt"
    path.write_text(text, encoding="utf-8")
    read = webvtt.read(str(path)).captions
    assert len(read) == 2 and read[0].start == "00:00:00.500" and read[1].end == "01:02:03.900"
    # Right-to-left and CJK text as typed: the same code points in the same order, UTF-8.
    assert "שלום עולם · 日本語のテキスト 🎉\nمرحبا" in path.read_bytes().decode("utf-8")


def test_subrip_has_its_shape_and_shows_the_text_unchanged() -> None:
    text = to_subrip([Cue(0, 999, cue_text(HOSTILE)), Cue(1000, 2000, "{\\an8} <i>x</i>")])
    (first, _, shown), (start, end, other) = srt_cues(text)
    assert (first, start, end) == (0.0, 1.0, 2.0)
    assert shown.replace("\u2060", "") == cue_text(HOSTILE)  # word joiners only: invisible
    assert "-->" not in shown and "<b" not in shown and "{\\" not in other and "<i" not in other


def test_cues_come_from_the_measured_speech_at_each_clips_start() -> None:
    job = parse_job({"video_id": "cues", "clips": [
        {"kind": "recipe", "recipe": "testsrc", "duration": 0.5},
        {"kind": "card", "duration": 2, "lines": ["a"], "narration": "one"},
        {"kind": "card", "duration": 1, "lines": ["b"], "narration": "two"},
        {"kind": "card", "duration": 1, "lines": ["c"], "narration": "not spoken"},
    ]})  # fmt: skip
    plan = plan_video(job)
    clips = list(plan.clips)
    clips[1] = replace(clips[1], narration_key="n/1.wav", speech=(480, 48_000))
    clips[2] = replace(clips[2], narration_key="n/2.wav", speech=(0, 96_000))
    cues = caption_cues(replace(plan, clips=tuple(clips)))
    # 0.5 s + 10 ms to 0.5 s + 1 s; the second ends with its clip (2.5 s + 1 s), not past it.
    assert cues == [Cue(510, 1500, "one"), Cue(2500, 3500, "two")]


# --- rendered videos ---


def narrated_job(video_id: str, **extra: Any) -> dict[str, Any]:
    """A silent lead-in, then three short narrated cards with quiet between them: each narration's onset is
    audible on its own. One narration carries markup, an arrow, blank lines, Hebrew, Japanese and Arabic."""
    card = {"kind": "card", "duration": 1.6, "lines": ["·"]}
    return {
        "video_id": video_id,
        "profile": {"width": 160, "height": 90, "fps": FPS},
        "clips": [
            {"kind": "recipe", "recipe": "testsrc", "duration": 0.5},
            {**card, "narration": "Hello there."},
            {**card, "narration": "Second line, <i>and</i> more."},
            {**card, "narration": HOSTILE},
        ],
        **extra,
    }


@pytest.mark.usefixtures("workers")
async def test_a_narrated_video_publishes_captions_timed_to_its_speech_and_a_cancel_removes_them(
    client: Any, deps: Deps, request: pytest.FixtureRequest
) -> None:
    renders = RenderClient(client)
    video_id = f"captions-{uuid.uuid4().hex[:6]}"
    await renders.submit(narrated_job(video_id, captions=["vtt", "srt"]))
    result: VideoResult = await asyncio.wait_for(renders.result(video_id), timeout=180)
    video = file_path(result.output_uri)
    assert result.caption_uri == result.output_uri + ".vtt" and result.srt_uri == result.output_uri + ".srt"
    manifest = Manifest.decode(file_path(result.manifest_uri).read_bytes())
    assert manifest.result is not None and (manifest.result.caption_uri, manifest.result.srt_uri) == (
        result.caption_uri, result.srt_uri,
    )  # fmt: skip

    cues = parsed_vtt(file_path(result.caption_uri))
    # espeak-ng says when it speaks each word: "Hello there." marks "there" (parsed_vtt checks every mark).
    assert WORD_MARK.search(file_path(result.caption_uri).read_text(encoding="utf-8").split("\n\n")[1])
    assert [text for *_, text in cues] == [
        "Hello there.",
        "Second line, &lt;i&gt;and&lt;/i&gt; more.",
        "Tom &amp; Jerry &lt;b&gt;bold&lt;/b&gt; --&gt; next\nשלום עולם · 日本語のテキスト 🎉\nمرحبا",
    ]
    srt = srt_cues(file_path(result.srt_uri).read_text(encoding="utf-8"))
    assert [(s, e) for s, e, _ in srt] == [(s, e) for s, e, _ in cues]
    assert srt[2][2].replace("\u2060", "") == cue_text(HOSTILE)
    # Each cue starts within one frame of its speech's onset, as measured on the published audio.
    onsets = speech_onsets(video)
    offsets = []
    for start, end, text in cues:
        nearest = min(onsets, key=lambda onset: abs(onset - start))
        offsets.append(round((start - nearest) * 1000, 1))
        assert abs(nearest - start) <= 1 / FPS, (text, start, onsets)
        assert end > start + 0.3 and end <= result.duration_s
    report(request, "captions", cue_starts=[s for s, *_ in cues], heard=onsets, off_ms=offsets)
    starts = [start for start, *_ in cues]
    assert starts[0] >= 0.5 and starts == sorted(starts)

    # An upload retried after the intermediates (and the plan) went publishes the same captions again.
    before = {uri: file_path(uri).read_bytes() for uri in (result.caption_uri, result.srt_uri)}
    retry = UploadInput(video_id, deps.settings.work_uri_for(f"{video_id}/video.mp4"), result.output_uri,
                        result=result, plan_key=f"{video_id}/plans/gone")  # fmt: skip
    again = await ActivityEnvironment().run(AssembleActivities(deps).upload_video, retry)
    assert (again.caption_uri, again.srt_uri) == (result.caption_uri, result.srt_uri)
    assert {uri: file_path(uri).read_bytes() for uri in before} == before

    # A cancel that raced the upload unpublishes the video and everything beside it, captions too.
    await ActivityEnvironment().run(
        AssembleActivities(deps).discard_intermediates, DiscardInput(video_id, result.output_uri)
    )
    for uri in (result.output_uri, result.caption_uri, result.srt_uri, result.manifest_uri, result.poster_uri):
        assert not file_path(uri).exists(), uri


@pytest.mark.usefixtures("workers")
async def test_captions_are_off_for_a_job_that_asks_for_none_and_for_a_silent_video(
    client: Any, settings: Settings
) -> None:
    renders = RenderClient(client)
    quiet, none = f"captions-none-{uuid.uuid4().hex[:6]}", f"captions-silent-{uuid.uuid4().hex[:6]}"
    outputs = {v: file_path(settings.storage.output_roots[0]) / f"{v}.mp4" for v in (quiet, none)}
    for output in outputs.values():  # captions an earlier run of this output left (stopped before its manifest)
        for suffix in (".vtt", ".srt"):
            output.with_name(output.name + suffix).write_text("WEBVTT\n\nstale\n")
    await renders.submit(narrated_job(quiet, captions=[], output_uri=file_uri(outputs[quiet]))
                         | {"clips": narrated_job(quiet)["clips"][:2]})  # fmt: skip
    await renders.submit({"video_id": none, "profile": {"width": 160, "height": 90},
                          "output_uri": file_uri(outputs[none]),
                          "clips": [{"kind": "recipe", "recipe": "testsrc", "duration": 0.5}]})  # fmt: skip
    for video_id in (quiet, none):
        result = await asyncio.wait_for(renders.result(video_id), timeout=180)
        assert (result.caption_uri, result.srt_uri) == ("", "")
        for suffix in (".vtt", ".srt"):
            assert not file_path(result.output_uri + suffix).exists(), "no stale captions beside the video"
