"""The benchmarks' pure helpers: cheap checks that the commands they time are built as intended.

The benchmarks themselves never run here: timing goals do not belong in a test suite.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory

from bench.clip_cache import batch as clip_cache_batch
from bench.fairness import first_render_wait, render_starts, tiny_job
from bench.flame import package_of, summarise
from bench.jobs import parse_size, trivia_job
from bench.plain import merge_clip_commands
from bench.report import quartiles, table, verdict, with_spread
from bench.throughput import CLIPS, one_frame_job
from contracts.job import parse_job
from contracts.plan import plan_video
from engine.media.graphs import Fonts, progress_args
from engine.settings import DEJAVU

FONTS = Fonts(DEJAVU / "DejaVuSans.ttf", DEJAVU / "DejaVuSans-Bold.ttf")


@pytest.mark.parametrize("clips", [1, 5, 10, 20])
def test_trivia_job_has_the_asked_number_of_distinct_clips(clips: int) -> None:
    plan = plan_video(parse_job(trivia_job("bench-job", clips, size=(640, 360), max_parallel_clips=1)))
    assert len(plan.clips) == clips
    assert len({c.spec_hash for c in plan.clips}) == clips
    assert plan.frames == clips * 6 * 30


def test_parse_size() -> None:
    assert parse_size("1920x1080") == (1920, 1080)
    with pytest.raises(ValueError):
        parse_size("1080p")


def test_one_frame_job_is_ten_one_frame_clips() -> None:
    plan = plan_video(parse_job(one_frame_job("tp-1")))
    assert [c.frames for c in plan.clips] == [1] * CLIPS


def test_merged_command_renumbers_inputs_and_labels() -> None:
    head = ["ffmpeg", *progress_args()]
    video = [*head, "-f", "lavfi", "-i", "color", "-filter_complex", "[0]trim=end_frame=3[s0]", "-map", "[s0]",
             "-f", "segment", "seg/%05d.mov"]  # fmt: skip
    audio = [*head, "-i", "speech.wav", "-filter_complex", "[0:a]apad[s0]", "-map", "[s0]", "-f", "wav", "a.wav"]
    merged = merge_clip_commands([(video, audio), (video, audio)], Path("video.mp4"), ["-c:v", "libx264"])
    graph = merged[merged.index("-filter_complex") + 1]
    assert merged.count("-i") == 4
    assert "[2]trim=end_frame=3[c1vs0]" in graph and "[3:a]apad[c1as0]" in graph
    assert graph.endswith("[c0vs0][c0as0][c1vs0][c1as0]concat=n=2:v=1:a=1[outv][outa]")
    assert merged[-1] == "video.mp4" and "aac" in merged


def test_merge_refuses_a_command_of_another_shape() -> None:
    with pytest.raises(ValueError):
        merge_clip_commands([(["ffmpeg", "-i", "x", "y"], ["ffmpeg", "-i", "x", "y"])], Path("video.mp4"), [])


def test_py_spy_summary() -> None:
    raw = "\n".join(
        [
            "<module> (<frozen runpy>:1);run (asyncio/runners.py:2);spawn (subprocess.py:3) 6",
            "<module> (<frozen runpy>:1);run (asyncio/runners.py:2);poll (temporalio/bridge/worker.py:9) 4",
        ]
    )
    total, hot, packages = summarise(raw)
    assert total == 10
    assert hot[0] == ("spawn (subprocess)", 6)
    assert dict(packages) == {"subprocess": 6, "temporalio.bridge": 4}
    assert package_of("temporalio/worker/_activity.py") == "temporalio.worker"


def test_report_helpers() -> None:
    assert verdict(1.02, 1.05, at_most=True).endswith("met")
    assert verdict(0.5, 0.8, at_most=False).endswith("MISSED")
    assert table([["a", 1.0], ["bb", 22.5]], ["x", "y"]).splitlines() == ["x       y", "a    1.00", "bb  22.50"]


def test_spread_is_the_interquartile_range_of_the_pairs() -> None:
    assert quartiles([1.0, 2.0, 3.0, 4.0, 5.0]) == (2.0, 3.0, 4.0)
    assert with_spread([0.9, 1.0, 1.1]) == "1.000 (IQR 0.950–1.050, n=3)"
    assert quartiles([1.5]) == (1.5, 1.5, 1.5)


def test_fairness_bench_jobs_and_wait() -> None:
    job = parse_job(tiny_job("a-001", "channel-a", 8))
    assert (job.channel, job.max_parallel_clips, len(job.clips)) == ("channel-a", 8, 8)
    assert [c.frames for c in plan_video(job).clips] == [1] * 8
    recorded = Path(__file__).parent / "histories" / "trivia-e2e.json"
    history = WorkflowHistory.from_json("trivia-e2e", recorded.read_text())
    starts = render_starts(history)
    assert len(starts) == 5  # one started attempt per clip of the saved video
    wait = first_render_wait(history)
    assert wait == min(starts) - history.events[0].event_time.ToMilliseconds() / 1000 and 0 < wait < 60


def test_cache_bench_videos_share_only_the_intro_and_outro() -> None:
    videos = clip_cache_batch(3, 2, (320, 180))
    assert [len(v) for v in videos] == [4, 4, 4]
    keys = [[inp.clip.spec_hash for inp in video] for video in videos]
    assert len({k[0] for k in keys}) == 1 and len({k[-1] for k in keys}) == 1
    own = [h for k in keys for h in k[1:-1]]
    assert len(set(own)) == len(own) and not set(own) & {keys[0][0], keys[0][-1]}
    assert all(inp.video_only for video in videos for inp in video)
