"""Rendering through the service as a user would: submit, wait for the result, then read the history."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.client import Client

from bench.cluster import ACTIVITY_QUEUE, WORKFLOW_QUEUE, WorkerProcess, Workers, service_worker_args
from bench.history import Timeline, timeline
from bench.plain import Toolkit
from contracts import names
from contracts.job import Profile
from contracts.records import VideoResult
from engine.media.encoder import choose_encoder, video_args
from engine.media.graphs import Fonts
from engine.media.probe import probe
from engine.settings import Settings
from engine.tts import make_tts
from starter import RenderClient


@dataclass(frozen=True)
class ServiceRun:
    seconds: float
    """Wall time seen by the submitter: from submit until the result is in hand."""
    result: VideoResult
    timeline: Timeline


async def render_with_service(client: Client, job: dict[str, Any]) -> ServiceRun:
    renders = RenderClient(client)
    started = time.monotonic()
    video_id = await renders.submit(job)
    result = await renders.result(video_id)
    seconds = time.monotonic() - started
    history = await client.get_workflow_handle(video_id).fetch_history()
    return ServiceRun(seconds, result, timeline(history))


async def start_service_workers(group: Workers, render_slots: int = 0) -> tuple[WorkerProcess, WorkerProcess]:
    """One control and one render worker, as deployed; render slots 0 means the worker's own default."""
    control = await group.start(
        "control",
        service_worker_args("control"),
        [(names.CONTROL_QUEUE, WORKFLOW_QUEUE), (names.CONTROL_QUEUE, ACTIVITY_QUEUE)],
    )
    render = await group.start(
        "render",
        service_worker_args("gpu"),
        [(names.GPU_QUEUE, ACTIVITY_QUEUE)],
        {"RENDER_SLOTS": str(render_slots)},
    )
    return control, render


async def toolkit(settings: Settings, profile: Profile) -> tuple[Toolkit, str]:
    """The fonts, TTS engine and encoder arguments a render worker with `settings` uses; and the encoder."""
    encoder = await choose_encoder(settings.render.encoder)
    kit = Toolkit(
        fonts=Fonts(settings.render.font, settings.render.font_bold),
        tts=make_tts(settings.speech.engine, settings),
        video_args=video_args(encoder, profile, settings.render.ffmpeg_threads),
    )
    return kit, encoder


async def frames_in(path: Path) -> int:
    """Video frames in a finished file, to check that every run made the same video."""
    info = await probe(path)
    return info.video.packets if info.video else 0
