"""What operators read: tables aligned by display width, and no text that can reorder what they see."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.cells import cell_len

from contracts.job import parse_job
from contracts.plan import plan_video
from starter.client import VideoSummary
from starter.present import summary_lines

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"


def test_list_columns_line_up_with_wide_channel_names() -> None:
    started = datetime(2026, 1, 1, tzinfo=UTC)
    videos = [VideoSummary("v-1", "completed", started, None, "频道新闻", 3, 0.5),
              VideoSummary("v-2", "running", started, None, "news", 1, None)]  # fmt: skip
    lines = summary_lines(videos)
    starts = {cell_len(line[: line.index(video_id)]) for line, video_id in zip(lines[1:], ["v-1", "v-2"], strict=True)}
    assert len(starts) == 1 and cell_len(lines[0][: lines[0].index("VIDEO ID")]) in starts, lines


def test_bidi_controls_never_reach_labels_or_the_list() -> None:
    text = "pay \u202egnp.exe\u202c now \u2066x\u2069"
    job = parse_job({"video_id": "v", "clips": [{"kind": "card", "duration": 1, "lines": [text]}]})
    label = plan_video(job).clips[0].label
    assert not any(c in label for c in BIDI) and "\\u202e" in label, label
    started = datetime(2026, 1, 1, tzinfo=UTC)
    lines = summary_lines([VideoSummary("v-1", "completed", started, None, "news\u202e", 1, None)])
    assert not any(c in line for line in lines for c in BIDI)
