"""A published video stays published, is never overwritten, and is never rendered twice, whatever the start path."""

from __future__ import annotations

import asyncio
import threading
import uuid
import wave
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHistory
from temporalio.common import WorkflowIDReusePolicy
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Replayer

import contracts.job
from activities.assemble import AssembleActivities
from activities.manifest import Manifest, manifest_uri
from contracts import names, search
from contracts.job import JobError
from contracts.records import DiscardInput, VideoResult
from engine.deps import Deps
from engine.settings import Settings
from engine.storage import file_path
from runtime.process import program
from starter import JobRefused, RenderClient
from tests.conftest import failure_of
from workflows import RenderVideo

HISTORIES = Path(__file__).parent / "histories"
pytestmark = pytest.mark.usefixtures("workers")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def small_job(video_id: str, **extra: Any) -> dict[str, Any]:
    clips = [
        {"kind": "card", "duration": 0.5, "lines": ["one"]},
        {"kind": "recipe", "recipe": "testsrc", "duration": 0.5},
    ]
    return {"video_id": video_id, "profile": {"width": 160, "height": 90}, "clips": clips, **extra}


async def run_ids(client: Client, video_id: str) -> list[str]:
    return [e.run_id async for e in client.list_workflows(f"WorkflowId = '{video_id}'")]


async def scheduled(client: Client, video_id: str, run_id: str | None = None) -> list[str]:
    history = await client.get_workflow_handle(video_id, run_id=run_id).fetch_history()
    return [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]


async def test_a_raw_restart_of_a_completed_id_returns_the_published_result(client: Client) -> None:
    video_id = unique("restart")
    job = small_job(video_id)
    renders = RenderClient(client)
    await renders.submit(job)
    first = await asyncio.wait_for(renders.result(video_id), timeout=120)
    published = file_path(first.output_uri)
    stamp = published.stat().st_mtime_ns

    # What `temporal workflow start --id-reuse-policy AllowDuplicate` does with the same job.
    again = await client.start_workflow(
        names.WORKFLOW_NAME,
        job,
        id=video_id,
        task_queue=names.CONTROL_QUEUE,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        result_type=VideoResult,
    )
    second = await asyncio.wait_for(again.result(), timeout=60)
    assert second == first
    assert names.RENDER_CLIP not in await scheduled(client, video_id, again.result_run_id)
    assert published.stat().st_mtime_ns == stamp  # not written again
    desc = await again.describe()
    assert desc.typed_search_attributes.get(search.VIDEO_STATUS) == "completed"


async def test_a_restart_with_a_different_job_never_overwrites_the_published_video(client: Client) -> None:
    video_id = unique("restart-other")
    renders = RenderClient(client)
    await renders.submit(small_job(video_id))
    first = await asyncio.wait_for(renders.result(video_id), timeout=120)
    changed = small_job(video_id, profile={"width": 320, "height": 180})
    await client.start_workflow(
        names.WORKFLOW_NAME,
        changed,
        id=video_id,
        task_queue=names.CONTROL_QUEUE,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    )
    error = await failure_of(client, video_id)
    assert error.type == names.OUTPUT_TAKEN and "different job" in error.message
    assert file_path(first.output_uri).stat().st_size == first.bytes


async def test_an_output_that_another_video_published_is_refused(client: Client, settings: Settings) -> None:
    owner, intruder = unique("owner"), unique("intruder")
    output = f"{settings.storage.output_roots[0]}/shared-{owner}.mp4"
    renders = RenderClient(client)
    await renders.submit(small_job(owner, output_uri=output))
    first = await asyncio.wait_for(renders.result(owner), timeout=120)

    await renders.submit(small_job(intruder, output_uri=output))
    error = await failure_of(client, intruder)
    assert error.type == names.OUTPUT_TAKEN and repr(owner) in error.message
    assert names.RENDER_CLIP not in await scheduled(client, intruder)  # refused before any work
    assert file_path(output).stat().st_size == first.bytes


async def test_a_file_no_render_published_is_never_overwritten(client: Client, settings: Settings) -> None:
    video_id = unique("foreign")
    output = file_path(settings.storage.output_roots[0]) / f"{video_id}.mp4"
    output.write_bytes(b"someone else's file")
    await RenderClient(client).submit(small_job(video_id))
    error = await failure_of(client, video_id)
    assert error.type == names.OUTPUT_TAKEN and "no render published it" in error.message
    assert output.read_bytes() == b"someone else's file"


async def test_an_impossible_output_name_fails_at_once_naming_the_field(client: Client, settings: Settings) -> None:
    video_id = unique("long-name")
    output = f"{settings.storage.output_roots[0]}/{'n' * 240}.mp4"
    with pytest.raises(JobRefused, match="output_uri: the file name is 244 bytes"):
        await RenderClient(client).submit(small_job(video_id, output_uri=output))
    await client.start_workflow(names.WORKFLOW_NAME, small_job(video_id, output_uri=output), id=video_id,
                                task_queue=names.CONTROL_QUEUE)  # fmt: skip
    error = await failure_of(client, video_id)
    assert error.type == names.INVALID_JOB and error.message.startswith("output_uri: the file name is 244 bytes")
    assert names.RENDER_CLIP not in await scheduled(client, video_id)


def ten_channel_wav(path: Path) -> None:
    """Audio ffmpeg can open but cannot convert: ten channels and no layout to downmix from."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(10)
        out.setsampwidth(2)
        out.setframerate(48000)
        out.writeframes(b"\0\0" * 10 * 4800)


async def test_a_deterministic_ffmpeg_failure_ends_in_one_attempt(client: Client, settings: Settings) -> None:
    video_id = unique("ten-channels")
    asset = file_path(settings.storage.asset_roots[0]) / f"{video_id}.wav"
    ten_channel_wav(asset)
    card = {"kind": "card", "duration": 0.5, "lines": ["x"], "audio": f"{settings.storage.asset_roots[0]}/{asset.name}"}
    await RenderClient(client).submit({"video_id": video_id, "profile": {"width": 160, "height": 90}, "clips": [card]})
    error = await failure_of(client, video_id)
    assert error.type == names.FFMPEG_REJECTED
    # One line at the top naming the clip and ffmpeg's reason, without memory addresses.
    assert error.message.startswith("clip 1/1") and "Rematrix is needed between 10 channels" in error.message
    assert " @ 0x" not in error.message
    history = await client.get_workflow_handle(video_id).fetch_history()
    attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    assert max(attempts) == 1
    status = await RenderClient(client).status(video_id)
    assert status.state == "failed" and "Rematrix" in (status.error or "")


async def test_a_gpu_class_nobody_serves_is_refused_at_submit(client: Client) -> None:
    with pytest.raises(JobRefused) as refused:
        await RenderClient(client).submit(small_job(unique("a10g"), gpu_class="a10g"))
    assert refused.value.field == "gpu_class"
    start = f"RENDER_GPU_CLASS=a10g {program('render-worker')} --mode gpu"
    assert "render-gpu-a10g" in str(refused.value) and start in str(refused.value)


class Hook(BaseHTTPRequestHandler):
    bodies: list[bytes] = []  # noqa: RUF012 (one receiver per test module run)

    def do_POST(self) -> None:
        Hook.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def hook_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/done"
    server.shutdown()


async def test_a_taken_notice_id_never_fails_a_published_video(client: Client, hook_url: str) -> None:
    video_id = unique("notify-collision")
    # Someone holds the id the notice used to take: a workflow that nobody will ever run.
    await client.start_workflow("Nothing", id=f"{video_id}.notify", task_queue=unique("nobody"))
    renders = RenderClient(client)
    await renders.submit(small_job(video_id, webhook_url=hook_url))
    result = await asyncio.wait_for(renders.result(video_id), timeout=120)
    handle = client.get_workflow_handle(video_id)
    desc = await handle.describe()
    assert desc.status == WorkflowExecutionStatus.COMPLETED
    assert desc.typed_search_attributes.get(search.VIDEO_STATUS) == "completed"
    notice = client.get_workflow_handle(f"{video_id}.notify.{desc.run_id}")
    await asyncio.wait_for(notice.result(), timeout=60)
    assert any(result.output_uri.encode() in body for body in Hook.bodies)


async def test_a_resubmit_while_the_first_notice_retries_is_published_and_notified(
    client: Client, settings: Settings, hook_url: str
) -> None:
    video_id = unique("notify-resubmit")
    image = file_path(settings.storage.asset_roots[0]) / f"{video_id}.png"
    job = small_job(video_id, webhook_url=hook_url)
    job["clips"][0]["image"] = f"{settings.storage.asset_roots[0]}/{image.name}"
    renders = RenderClient(client)
    await renders.submit(job)
    await failure_of(client, video_id)  # the image is missing: failed, and its notice is sent
    Image.new("RGB", (32, 32), "teal").save(image)
    await renders.submit(job)
    result = await asyncio.wait_for(renders.result(video_id), timeout=120)
    runs = await run_ids(client, video_id)
    assert len(runs) == 2
    for run_id in runs:  # one notice per run, none colliding
        await asyncio.wait_for(client.get_workflow_handle(f"{video_id}.notify.{run_id}").result(), timeout=60)
    assert file_path(result.output_uri).stat().st_size == result.bytes


async def test_a_stricter_contract_leaves_running_histories_replaying(monkeypatch: pytest.MonkeyPatch) -> None:
    """The job is validated once, by a local activity: replay reads the record, never the new rules."""

    def stricter(raw: Any) -> Any:
        raise JobError("questions", "a rule added after this video started")

    monkeypatch.setattr(contracts.job, "parse_job", stricter)
    recorded = HISTORIES / "trivia-e2e.json"
    history = WorkflowHistory.from_json("trivia-e2e", recorded.read_text())
    await Replayer(workflows=[RenderVideo]).replay_workflow(history)
    with pytest.raises(JobError):  # the tightening is real: a new job would be refused
        contracts.job.parse_job({})


@pytest.mark.parametrize("history_file", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
async def test_every_prefix_of_a_saved_history_replays(history_file: Path) -> None:
    """What a worker without the workflow in its cache does at each task: replay the history so far.

    A whole history can replay cleanly while a prefix does not (a patch decided
    right after a local activity resolves, for one), and a prefix is what a
    worker sees after a restart or an eviction.
    """
    whole = WorkflowHistory.from_json(history_file.stem.split("@")[0], history_file.read_text())
    cuts = [n for n, e in enumerate(whole.events, 1) if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED]
    replayer = Replayer(workflows=[RenderVideo])
    for cut in cuts:
        await replayer.replay_workflow(WorkflowHistory(whole.workflow_id, whole.events[:cut]))


async def test_two_videos_claiming_one_output_at_once_leave_one_owner(client: Client, settings: Settings) -> None:
    first, second = unique("claim-a"), unique("claim-b")
    output = f"{settings.storage.output_roots[0]}/contested-{first}.mp4"
    renders = RenderClient(client)
    await asyncio.gather(*(renders.submit(small_job(v, output_uri=output)) for v in (first, second)))
    outcomes = await asyncio.gather(*(renders.result(v) for v in (first, second)), return_exceptions=True)
    won = [r for r in outcomes if isinstance(r, VideoResult)]
    assert len(won) == 1, outcomes  # exactly one publishes; the other is refused, never both "completed"
    loser = second if won[0].video_id == first else first
    error = await failure_of(client, loser)
    assert error.type == names.OUTPUT_TAKEN and repr(won[0].video_id) in error.message
    assert file_path(output).stat().st_size == won[0].bytes


@pytest.mark.parametrize("where", ["a directory", "under a file"])
async def test_an_output_that_can_never_be_written_fails_before_rendering(
    client: Client, settings: Settings, where: str
) -> None:
    video_id = unique("bad-place")
    root = file_path(settings.storage.output_roots[0])
    if where == "a directory":
        (root / f"{video_id}.mp4").mkdir()
        (root / f"{video_id}.mp4" / "keep.txt").write_text("someone's")
        output = f"{settings.storage.output_roots[0]}/{video_id}.mp4"
    else:
        (root / f"{video_id}.mp4").write_text("a file")
        output = f"{settings.storage.output_roots[0]}/{video_id}.mp4/child.mp4"
    await RenderClient(client).submit(small_job(video_id, output_uri=output))
    error = await failure_of(client, video_id)
    assert error.type == names.INVALID_JOB and error.message.startswith("output_uri: ")
    assert names.RENDER_CLIP not in await scheduled(client, video_id)
    if where == "a directory":
        assert (root / f"{video_id}.mp4" / "keep.txt").read_text() == "someone's"


async def test_unpublishing_removes_exactly_this_videos_output(deps: Deps, settings: Settings) -> None:
    """A cancel that raced the upload removes its own output and manifest, never a name that merely starts alike."""
    video_id, neighbour = unique("unpublish"), unique("neighbour")
    output = f"{settings.storage.output_roots[0]}/{video_id}.mp4"
    storage = deps.storages.for_uri(output)
    for uri, owner in ((output, video_id), (output + ".v2.mp4", neighbour)):
        file_path(uri).write_bytes(b"video")
        assert storage.create(Manifest(owner, "h").encode(), manifest_uri(uri))
    removed = await ActivityEnvironment().run(
        AssembleActivities(deps).discard_intermediates, DiscardInput(video_id, output_uri=output)
    )
    assert removed == 2 and not file_path(output).exists() and not file_path(manifest_uri(output)).exists()
    assert file_path(output + ".v2.mp4").exists() and file_path(manifest_uri(output + ".v2.mp4")).exists()
    # Someone else's output is never unpublished.
    assert (
        await ActivityEnvironment().run(
            AssembleActivities(deps).discard_intermediates, DiscardInput(video_id, output_uri=output + ".v2.mp4")
        )
        == 0
    )
    assert file_path(output + ".v2.mp4").exists()
