"""The delivered sound and timeline, measured back from real renders: exact lengths, fades, loudness."""

from __future__ import annotations

import itertools
import json
import subprocess
from pathlib import Path

import numpy as np
from temporalio.testing import ActivityEnvironment

from activities.assemble import AssembleActivities
from activities.common import Deps
from activities.media.graphs import concat_list
from activities.render import RenderActivities
from activities.storage import file_path
from contracts.job import parse_job
from contracts.plan import plan_video
from contracts.records import ConcatInput, RenderClipInput
from tests.media import audio_samples, streams


def packet_steps(path: Path, stream: str) -> set[int]:
    """The distinct gaps between consecutive presentation timestamps of one stream."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", stream, "-show_entries", "packet=pts", "-of", "json", str(path)],
        check=True,
        capture_output=True,
    ).stdout
    pts = sorted(int(p["pts"]) for p in json.loads(out)["packets"])
    return {b - a for a, b in itertools.pairwise(pts)}


async def test_sixty_odd_length_clips_last_exactly_their_frames(deps: Deps) -> None:
    """31 frames at 30 fps lasts 1.0333… s, which no millisecond container duration holds."""
    clips = [{"kind": "card", "duration": 31 / 30, "lines": [f"{i}"]} for i in range(60)]
    job = parse_job({"video_id": "timing-60", "profile": {"width": 64, "height": 64}, "clips": clips})
    plan = plan_video(job)
    assert {c.frames for c in plan.clips} == {31}
    render = RenderActivities(deps).render_clip
    rendered = [
        await ActivityEnvironment().run(render, RenderClipInput(job.video_id, c, plan.profile, "en", 1.0))
        for c in plan.clips
    ]
    joined = await ActivityEnvironment().run(
        AssembleActivities(deps).concat_clips,
        ConcatInput(job.video_id, [r.uri for r in rendered], 30, plan.frames, [r.encoder for r in rendered]),
    )
    video = file_path(joined.uri)
    info = streams(video)
    for kind in ("video", "audio"):
        assert abs(float(info[kind]["duration"]) - 62.0) < 1 / 30, (kind, info[kind]["duration"])
    assert int(info["video"]["nb_read_frames"]) == 1860
    assert len(packet_steps(video, "v")) == 1  # every frame lasts the same
    assert packet_steps(video, "a") == {1024}  # no AAC frame inserted or dropped at a join
    # No silence inserted: the planned samples, plus the padding of the last AAC frame (decoders keep it).
    assert 0 <= len(audio_samples(video)) - 62 * 48_000 < 1024


def test_concat_durations_add_up_exactly_at_any_clip_count() -> None:
    """Each duration is whole microseconds, yet their running sum never drifts from the frames' time."""
    frames = [31, 29, 1, 301] * 125
    listing = concat_list([Path(f"/w/{n}.mov") for n in range(len(frames))], frames, 30)
    durations = [
        int(line.split()[1].removesuffix("us")) for line in listing.splitlines() if line.startswith("duration")
    ]
    running = 0
    for n, duration in enumerate(durations):
        running += duration
        assert abs(running - sum(frames[: n + 1]) * 1_000_000 / 30) <= 0.5


async def test_a_clip_ends_in_a_fade_not_a_cut(deps: Deps) -> None:
    """A tone longer than its clip is faded out over the last frames instead of stopping at full level."""
    music = file_path(deps.settings.asset_roots[0]) / "long-tone.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=f=440:d=3", str(music)], check=True)
    clips = [{"kind": "card", "duration": 1.0, "audio": music.as_uri(), "lines": ["fade"]}]
    job = parse_job({"video_id": "fade-out", "profile": {"width": 64, "height": 64}, "clips": clips})
    [clip] = plan_video(job).clips
    result = await ActivityEnvironment().run(
        RenderActivities(deps).render_clip, RenderClipInput(job.video_id, clip, job.profile, "en", 1.0)
    )
    samples = audio_samples(file_path(result.uri))
    assert len(samples) == 48_000
    before = np.abs(samples[-4800:-2400]).max()  # 100 to 50 ms before the end
    last = np.abs(samples[-48:]).max()  # the last millisecond
    assert before > 0.05 and last < before / 20, (before, last)
