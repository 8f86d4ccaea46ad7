"""Load: 200 videos submitted at once to one control and two render worker processes.

Every video must complete, each exactly once (one run, every clip rendered on its
first attempt), none may be left running, and nothing may be left behind in the
work store or the scratch directories. Wall time and the peak memory (VmHWM) of
the server and of each worker are reported with the test run.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from contracts import names
from contracts.records import VideoResult
from devtools.local import LocalCluster
from engine.scratch import activity_dirs
from starter import RenderClient
from tests.media import streams
from tests.report import report

VIDEOS = 200
ENV = {
    "RENDER_ENCODER": "libx264",
    "RENDER_FFMPEG_THREADS": "1",
    "RENDER_TTS": "none",
    "RENDER_SLOTS": "4",
    "RENDER_CONTROL_SLOTS": "16",
}
pytestmark = pytest.mark.load


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    running = LocalCluster(tmp_path, env=ENV)
    running.start_server()
    running.start_worker("control")
    running.start_worker("gpu")
    running.start_worker("gpu")
    yield running
    running.stop()


def tiny_job(video_id: str, n: int) -> dict[str, Any]:
    """64x64 at 10 fps (0.1 s, the shortest clip, is one frame): a card and a pattern of one or two frames."""
    card = {"kind": "card", "duration": (1 + n % 2) / 10, "lines": [str(n)]}
    pattern = {"kind": "recipe", "recipe": "testsrc", "duration": (2 - n % 2) / 10}
    return {"video_id": video_id, "profile": {"width": 64, "height": 64, "fps": 10}, "clips": [card, pattern]}


def peak_kib(pid: int) -> int:
    """VmHWM: the most resident memory the process ever had."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


RETRY_CAUSES: list[str] = []
"""Why a clip was attempted again, from the retry's started event: printed with the figures."""


async def clip_attempts(client: Client, video_id: str) -> list[int]:
    history = await client.get_workflow_handle(video_id).fetch_history()
    renders = {
        e.event_id
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == names.RENDER_CLIP
    }
    started = [
        e.activity_task_started_event_attributes
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        and e.activity_task_started_event_attributes.scheduled_event_id in renders
    ]
    RETRY_CAUSES.extend(f"{video_id}: {s.last_failure.message[:200]}" for s in started if s.attempt > 1)
    return [s.attempt for s in started]


async def test_200_videos_at_once_all_complete_exactly_once(
    cluster: LocalCluster, renders: RenderClient, request: pytest.FixtureRequest
) -> None:
    tag = uuid.uuid4().hex[:4]
    ids = [f"load-{tag}-{n:03d}" for n in range(VIDEOS)]
    started = time.monotonic()
    submitted = await asyncio.gather(*(renders.submit(tiny_job(v, n)) for n, v in enumerate(ids)))
    assert submitted == ids
    async with asyncio.timeout(600):  # a hang guard, not a goal
        outcomes = await asyncio.gather(*(renders.result(v) for v in ids), return_exceptions=True)
    wall = time.monotonic() - started
    server_pid = int((cluster.data / "temporal.pid").read_text())
    memory = {"server": peak_kib(server_pid)} | {
        f"worker{i}": peak_kib(w.pid) for i, w in enumerate(cluster.workers) if w.poll() is None
    }

    completed = [o for o in outcomes if isinstance(o, VideoResult)]
    failures = [o for o in outcomes if not isinstance(o, VideoResult)]
    assert failures == [], failures[:3]
    runs = Counter([w.id async for w in renders.client.list_workflows(f"WorkflowId STARTS_WITH 'load-{tag}-'")])
    duplicated = sorted(v for v, count in runs.items() if count > 1)
    running = [
        w.id
        async for w in renders.client.list_workflows(
            f"ExecutionStatus = 'Running' AND WorkflowId STARTS_WITH 'load-{tag}-'"
        )
    ]
    attempts = await asyncio.gather(*(clip_attempts(renders.client, v) for v in ids))
    rerendered = [v for v, a in zip(ids, attempts, strict=True) if sorted(a) != [1, 1]]
    outputs = {v: cluster.data / "output" / f"{v}.mp4" for v in ids}
    lost = [v for v in ids if not outputs[v].exists()]

    report(
        request,
        "load",
        submitted=len(ids),
        completed=len(completed),
        duplicated=len(duplicated) + len(rerendered),
        lost=len(lost),
        stuck=len(running),
        wall_s=round(wall, 1),
        videos_per_s=round(len(ids) / wall, 2),
        peak_rss_mib={k: round(v / 1024) for k, v in memory.items()},
        retry_causes=RETRY_CAUSES,
    )
    assert len(completed) == VIDEOS and lost == [] and running == []
    assert duplicated == [] and rerendered == [] and set(runs) == set(ids)
    for result in completed:
        assert result.frames == 3 and outputs[result.video_id].stat().st_size == result.bytes
    for video_id in ids[:: VIDEOS // 10]:  # decode a sample: really three frames each
        assert int(streams(outputs[video_id])["video"]["nb_read_frames"]) == 3
    # Every video's intermediates removed; the clip cache (kept across videos) is not theirs.
    assert not [p for p in (cluster.data / "work").iterdir() if p.name != "_cache"]
    assert not activity_dirs(cluster.data / "scratch")  # and every activity's scratch
    alive = subprocess.run(["pgrep", "-f", f"load-{tag}-"], capture_output=True, text=True).stdout
    assert alive == ""
