"""RenderVideo alone: every activity mocked, on the time-skipping dev server, in seconds.

These tests check the orchestration: the window, the pages, retries, failures, cancels at every
stage and what each leaves to discard. The activities themselves are tested against real media
elsewhere; here they only record what the workflow asked of them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import TypedSearchAttributes
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory, CancelledError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from contracts import names, search
from contracts.records import (
    AudioResult,
    BuildAudioInput,
    CheckJobInput,
    CheckJobResult,
    ClipResult,
    ClipTicket,
    ConcatInput,
    ConcatResult,
    DiscardInput,
    Loudness,
    NarrateInput,
    NarrateResult,
    RenderClipInput,
    TicketsInput,
    UploadInput,
    UploadResult,
    ValidatedJob,
    VideoFacts,
    VideoResult,
)
from devtools.devserver import temporal_binary
from starter.client import root_cause
from workflows import RenderVideo
from workflows.render_video import CLIP_PAGE

pytestmark = pytest.mark.mocked

FPS = 30
CLIP_FRAMES = 30
OUTPUT = "file:///out/video.mp4"
STAGES = ("check", "narrate", "render", "audio", "concat", "upload")
"""Where a mocked activity can block until canceled: every stage a cancel can catch."""


@pytest.fixture(scope="module")
async def time_skipping() -> AsyncIterator[WorkflowEnvironment]:
    """The installed dev server with per-workflow time skipping: a queue wait or a retry's backoff takes no time."""
    async with await WorkflowEnvironment.start_time_skipping_v2(
        dev_server_existing_path=temporal_binary(),
        dev_server_extra_args=["--dynamic-config-value", "frontend.WorkflowTimeSkippingEnabled=true"],
        dev_server_startup_timeout=timedelta(seconds=60),
        search_attributes=search.ALL,
    ) as environment:
        yield environment


@dataclass
class MockFarm:
    """Mocked activities that record every call; each behaviour is a field a test sets."""

    clips: int = 3
    narrated: int = 0
    max_parallel: int = 4
    gpu_class: str | None = None
    published: VideoResult | None = None
    block: str | None = None
    """The stage whose activity heartbeats until canceled."""
    refuse: Callable[[str, int], ApplicationError | None] = lambda stage, attempt: None
    """(stage or "clip N", attempt) -> an error to raise, or None."""
    queue_served: bool = False
    queue_wait: float = 30.0
    calls: dict[str, list[Any]] = field(default_factory=dict)
    canceled: list[str] = field(default_factory=list)
    blocked: asyncio.Event = field(default_factory=asyncio.Event)
    rendering: int = 0
    started: int = 0
    peak: int = 0

    def called(self, stage: str, what: Any) -> None:
        self.calls.setdefault(stage, []).append(what)
        error = self.refuse(stage, activity.info().attempt)
        if error is not None:
            raise error

    async def hold(self, stage: str) -> None:
        """Heartbeat until canceled, when this stage is the one to block."""
        if self.block != stage:
            return
        self.blocked.set()
        try:
            while True:
                activity.heartbeat()
                await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            self.canceled.append(stage)
            raise

    def activities(self, video_id: str) -> tuple[list[Callable[..., Any]], list[Callable[..., Any]]]:
        """(control queue activities, render queue activities)."""
        farm = self

        @activity.defn(name=names.VALIDATE_JOB)
        async def validate_job(raw: Any) -> ValidatedJob:
            farm.called("validate", raw)
            facts = VideoFacts(video_id, "news", 2, farm.gpu_class, farm.max_parallel, OUTPUT, "youtube",
                               "en", 1.0, None, None, farm.narrated)  # fmt: skip
            return ValidatedJob(facts, f"{video_id}/plans/abc", "abc", farm.clips, farm.clips * CLIP_FRAMES, FPS, 0)

        @activity.defn(name=names.CLIP_TICKETS)
        async def clip_tickets(inp: TicketsInput) -> list[ClipTicket]:
            farm.called("tickets", inp.first)
            last = min(inp.first + inp.count, farm.clips)
            return [ClipTicket(i, f"clip {i + 1}", CLIP_FRAMES, 60.0) for i in range(inp.first, last)]

        @activity.defn(name=names.CHECK_JOB)
        async def check_job(inp: CheckJobInput) -> CheckJobResult:
            farm.called("check", inp.video_id)
            await farm.hold("check")
            return CheckJobResult(OUTPUT, 2.0, {"gpu": 3.6, "cpu": 0.36}, farm.queue_wait, 1.0, farm.published)

        @activity.defn(name=names.NARRATE)
        async def narrate(inp: NarrateInput) -> NarrateResult:
            farm.called("narrate", inp.plan_key)
            await farm.hold("narrate")
            return NarrateResult(f"{video_id}/plans/fitted", farm.clips * CLIP_FRAMES, farm.narrated, 0, "espeak-ng")

        @activity.defn(name=names.RENDER_CLIP)
        async def render_clip(inp: RenderClipInput) -> ClipResult:
            farm.rendering += 1
            farm.started += 1
            farm.peak = max(farm.peak, farm.rendering)
            try:
                farm.called(f"clip {inp.index + 1}", inp.index)
                farm.calls.setdefault("render", []).append(inp.index)
                await farm.hold("render")
                # Each render holds until the window is full (or every clip has started), so the window's
                # limit is what is measured, not how fast tasks happen to be dispatched.
                async with asyncio.timeout(30):
                    while farm.rendering < farm.max_parallel and farm.started < farm.clips:
                        activity.heartbeat()
                        await asyncio.sleep(0.005)
                return ClipResult(inp.index, f"clips/{inp.index}.mov", CLIP_FRAMES, "libx264", 0.1, False,
                                  gpu_seconds=1.0, cpu_seconds=0.5)  # fmt: skip
            finally:
                farm.rendering -= 1

        @activity.defn(name=names.BUILD_AUDIO)
        async def build_audio(inp: BuildAudioInput) -> AudioResult:
            farm.called("audio", inp.plan_key)
            await farm.hold("audio")
            return AudioResult("audio.m4a", Loudness(-14.0, -2.0, 5.0, -14.0, -2.0), 0.5)

        @activity.defn(name=names.CONCAT_CLIPS)
        async def concat_clips(inp: ConcatInput) -> ConcatResult:
            farm.called("concat", inp.plan_key)
            await farm.hold("concat")
            return ConcatResult("joined.mp4", farm.clips * CLIP_FRAMES, False, 0.2)

        @activity.defn(name=names.UPLOAD_VIDEO)
        async def upload_video(inp: UploadInput) -> UploadResult:
            farm.called("upload", inp.output_uri)
            await farm.hold("upload")
            return UploadResult(inp.output_uri, 1234, manifest_uri=inp.output_uri + ".render.json")

        @activity.defn(name=names.DISCARD_INTERMEDIATES)
        async def discard_intermediates(inp: DiscardInput) -> int:
            farm.called("discard", inp.output_uri)
            return 7

        @activity.defn(name=names.QUEUE_HAS_WORKERS)
        async def queue_has_workers(queue: str) -> bool:
            farm.called("who polls", queue)
            return farm.queue_served

        control: list[Callable[..., Any]] = [validate_job, clip_tickets, check_job, build_audio, concat_clips,
                                             upload_video, discard_intermediates, queue_has_workers]  # fmt: skip
        return control, [narrate, render_clip]


async def start(env: WorkflowEnvironment, farm: MockFarm) -> tuple[WorkflowHandle[Any, Any], list[Worker]]:
    video_id = f"mocked-{uuid.uuid4().hex[:10]}"
    control, gpu = farm.activities(video_id)
    client: Client = env.client
    # Cancels reach a heartbeating mock at once, not after the SDK's default throttle of up to 60 s.
    throttle = timedelta(milliseconds=100)
    workers = [
        Worker(
            client,
            task_queue=names.CONTROL_QUEUE,
            workflows=[RenderVideo],
            activities=control,
            max_heartbeat_throttle_interval=throttle,
        ),
        Worker(client, task_queue=names.GPU_QUEUE, activities=gpu, max_heartbeat_throttle_interval=throttle),
    ]
    handle = await client.start_workflow(
        names.WORKFLOW_NAME, {"video_id": video_id}, id=video_id, task_queue=names.CONTROL_QUEUE
    )
    return handle, workers


async def run(env: WorkflowEnvironment, farm: MockFarm, *, cancel_when_blocked: bool = False) -> Any:
    handle, workers = await start(env, farm)
    async with workers[0], workers[1]:
        if cancel_when_blocked:
            await asyncio.wait_for(farm.blocked.wait(), timeout=60)
            await handle.cancel()
        return await asyncio.wait_for(handle.result(), timeout=120)


async def failure(env: WorkflowEnvironment, farm: MockFarm, **kwargs: Any) -> WorkflowFailureError:
    with pytest.raises(WorkflowFailureError) as caught:
        await run(env, farm, **kwargs)
    return caught.value


async def status(env: WorkflowEnvironment, video_id: str) -> str | None:
    described = await env.client.get_workflow_handle(video_id).describe()
    attributes: TypedSearchAttributes = described.typed_search_attributes
    return attributes.get(search.VIDEO_STATUS)


async def test_sixty_clips_fan_out_a_page_at_a_time_within_the_window(time_skipping: WorkflowEnvironment) -> None:
    farm = MockFarm(clips=60, max_parallel=4)
    result = await run(time_skipping, farm)
    assert sorted(farm.calls["render"]) == list(range(60))
    assert farm.calls["tickets"] == [0, CLIP_PAGE, 2 * CLIP_PAGE]
    assert farm.peak == 4, "the window is full but never exceeded"
    assert result["clips"] == 60 and result["frames"] == 60 * CLIP_FRAMES
    assert result["gpu_seconds"] == 60.0 and result["bytes"] == 1234
    assert len(result["costliest_clips"]) == 3
    assert [len(farm.calls[stage]) for stage in ("check", "audio", "concat", "upload")] == [1, 1, 1, 1]
    assert "discard" not in farm.calls and "narrate" not in farm.calls
    assert await status(time_skipping, result["video_id"]) == "completed"


async def test_a_narrated_video_renders_from_the_fitted_plan(time_skipping: WorkflowEnvironment) -> None:
    farm = MockFarm(clips=2, narrated=2)
    await run(time_skipping, farm)
    assert len(farm.calls["narrate"]) == 1
    assert farm.calls["concat"] == [farm.calls["narrate"][0].replace("/abc", "/fitted")]
    assert farm.calls["audio"] == farm.calls["concat"]


async def test_a_transient_render_failure_is_retried_and_the_video_completes(
    time_skipping: WorkflowEnvironment,
) -> None:
    def flaky(stage: str, attempt: int) -> ApplicationError | None:
        return ApplicationError("worker lost", type=names.FFMPEG_FAILED) if stage == "clip 2" and attempt < 3 else None

    farm = MockFarm(clips=3, refuse=flaky)
    result = await run(time_skipping, farm)
    assert result["clips"] == 3
    assert farm.calls["clip 2"] == [1, 1, 1], "two failed attempts, then one that rendered"


async def test_a_clip_refused_for_good_fails_the_video_naming_it_and_stops_the_rest(
    time_skipping: WorkflowEnvironment,
) -> None:
    def refused(stage: str, attempt: int) -> ApplicationError | None:
        return (
            ApplicationError("bad filter", type=names.FFMPEG_REJECTED, non_retryable=True)
            if stage == "clip 2"
            else None
        )

    farm = MockFarm(clips=3, block="render", refuse=refused)
    err = await failure(time_skipping, farm)
    cause = root_cause(err)
    assert isinstance(cause, ApplicationError)
    assert cause.type == names.FFMPEG_REJECTED and cause.message.startswith("clip 2: ")
    assert len(farm.calls["clip 2"]) == 1, "not retried"
    assert sorted(farm.canceled) == ["render", "render"], "the other clips were stopped"
    assert "concat" not in farm.calls and "upload" not in farm.calls


async def test_an_invalid_job_fails_at_once_as_the_jobs_own_mistake(time_skipping: WorkflowEnvironment) -> None:
    def invalid(stage: str, attempt: int) -> ApplicationError | None:
        if stage != "validate":
            return None
        return ApplicationError("questions[0].text: too long", {"field": "questions[0].text"}, type=names.INVALID_JOB,
                                non_retryable=True)  # fmt: skip

    farm = MockFarm(refuse=invalid)
    err = await failure(time_skipping, farm)
    cause = err.cause  # the workflow's own failure, not the activity's under it
    assert isinstance(cause, ApplicationError)
    assert cause.type == names.INVALID_JOB and cause.category == ApplicationErrorCategory.BENIGN
    assert cause.details == ({"field": "questions[0].text"},)
    assert list(farm.calls) == ["validate"], "nothing else ran"
    assert await status(time_skipping, farm.calls["validate"][0]["video_id"]) == "invalid"


async def test_a_missing_audio_track_stops_the_renders(time_skipping: WorkflowEnvironment) -> None:
    def no_music(stage: str, attempt: int) -> ApplicationError | None:
        return (
            ApplicationError("music: not found", type=names.BAD_ASSET, non_retryable=True) if stage == "audio" else None
        )

    farm = MockFarm(clips=4, max_parallel=2, block="render", refuse=no_music)
    cause = root_cause(await failure(time_skipping, farm))
    assert isinstance(cause, ApplicationError) and cause.type == names.BAD_ASSET
    assert sorted(farm.canceled) == ["render", "render"] and "concat" not in farm.calls


async def test_a_clip_no_worker_takes_fails_the_video_naming_the_queue(time_skipping: WorkflowEnvironment) -> None:
    farm = MockFarm(clips=1, gpu_class="l4", queue_wait=2.0)
    cause = root_cause(await failure(time_skipping, farm))
    assert isinstance(cause, ApplicationError) and cause.type == "NoWorker"
    assert "no worker polls task queue render-gpu-l4" in cause.message
    assert "RENDER_GPU_CLASS=l4 render-worker --mode gpu" in cause.message
    assert farm.calls["who polls"] == ["render-gpu-l4"]


async def test_a_restart_of_a_published_video_returns_its_result_and_renders_nothing(
    time_skipping: WorkflowEnvironment,
) -> None:
    published = VideoResult("earlier", OUTPUT, 3.0, 90, 999, "h264_nvenc", False, clips=3)
    farm = MockFarm(published=published)
    result = await run(time_skipping, farm)
    assert result["bytes"] == 999 and result["encoder"] == "h264_nvenc"
    assert "render" not in farm.calls and farm.calls["discard"] == [None]


@pytest.mark.parametrize("stage", STAGES)
async def test_a_cancel_at_each_stage_stops_it_and_discards(time_skipping: WorkflowEnvironment, stage: str) -> None:
    farm = MockFarm(clips=3, narrated=3 if stage == "narrate" else 0, block=stage)
    err = await failure(time_skipping, farm, cancel_when_blocked=True)
    assert isinstance(err.cause, CancelledError), err.cause
    assert stage in farm.canceled, "the blocked activity saw the cancel"
    # Only a cancel during the upload may have published: only then is the output unpublished.
    assert farm.calls["discard"] == [OUTPUT if stage == "upload" else None]
    later = STAGES[STAGES.index(stage) + 1 :]
    assert not [s for s in later if s in farm.calls and s not in ("render", "audio")], "nothing after the cancel"
    video_id = farm.calls["check"][0]
    assert await status(time_skipping, video_id) == "canceled"


async def test_every_mocked_history_replays(time_skipping: WorkflowEnvironment) -> None:
    """The histories these tests wrote replay on today's workflow: the orchestration is deterministic."""
    replayed = 0
    async for history in time_skipping.client.list_workflows("WorkflowType = 'RenderVideo'").map_histories():
        result = await Replayer(workflows=[RenderVideo]).replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, (history.workflow_id, result.replay_failure)
        replayed += 1
    assert replayed >= 10
