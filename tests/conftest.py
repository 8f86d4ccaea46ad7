"""Shared fixtures: one real Temporal dev server and one set of real workers per session."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from moto.server import ThreadedMotoServer
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from contracts import plan, search
from devtools.devserver import temporal_binary
from devtools.local import LocalCluster, free_port
from engine import clip_cache
from engine.deps import Deps
from engine.settings import LimitSettings, RenderSettings, Settings, StorageSettings, WebhookSettings, file_uri
from runtime.logs import configure_logging
from starter import RenderClient
from starter.client import root_cause
from tests.fault_proxy import FaultProxy, fault_proxy
from tests.tiers import guard_unit_tier, is_unit
from workers.main import WorkerOptions, build_workers, run_until_stopped

SEED_JOB = Path(__file__).resolve().parent.parent / "examples" / "trivia-sample.json"
WEBHOOK_SECRET = "webhook-test-secret"
_exit_status = 0


@pytest.fixture(autouse=True)
def unit_tier_guard(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("unit") is not None:
        guard_unit_tier(monkeypatch)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("render-data")


@pytest.fixture(scope="session")
def settings(data_dir: Path) -> Settings:
    for sub in ("work", "output", "assets", "scratch"):
        (data_dir / sub).mkdir(exist_ok=True)
    return Settings(
        storage=StorageSettings(
            work_uri=file_uri(data_dir / "work"),
            output_roots=(file_uri(data_dir / "output"),),
            asset_roots=(file_uri(data_dir / "assets"),),
            scratch_dir=data_dir / "scratch",
        ),
        render=RenderSettings(encoder="libx264", ffmpeg_threads=1),
        webhooks=WebhookSettings(secret=WEBHOOK_SECRET, allow_loopback=True),
        limits=LimitSettings(clip_cache_gb=0),
    )


@pytest.fixture(scope="session")
def deps(settings: Settings) -> Deps:
    return Deps.from_settings(settings)


@pytest.fixture
def engine_2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plans and clip cache keys made as engine version 2 made them: keys recorded before a later bump still
    show that a feature left the keys of jobs without it as they were."""
    monkeypatch.setattr(plan, "ENGINE_VERSION", "2")
    monkeypatch.setattr(clip_cache, "ENGINE_VERSION", "2")


@pytest.fixture(scope="session")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    # The installed `temporal` binary: nothing is downloaded at test time.
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(), search_attributes=search.ALL
    ) as environment:
        yield environment


@pytest.fixture(scope="session")
def client(env: WorkflowEnvironment) -> Client:
    return env.client


@pytest.fixture(scope="session")
async def workers(client: Client, deps: Deps) -> AsyncIterator[None]:
    """A control and a render worker in this process, polling the real queues."""
    running = await build_workers(client, WorkerOptions(mode="all", render_slots=2, drain_seconds=5), deps)
    stop = asyncio.Event()
    task = asyncio.ensure_future(run_until_stopped(running, stop))
    yield
    stop.set()
    await task


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3 API over HTTP on loopback (moto's server), shared by every S3 test; each uses its own buckets."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def proxy(s3_endpoint: str) -> Iterator[FaultProxy]:
    """The S3 endpoint behind a proxy that injects faults and slows the link on cue."""
    with fault_proxy(s3_endpoint) as running:
        yield running


@pytest.fixture
async def renders(cluster: LocalCluster) -> AsyncIterator[RenderClient]:
    """A starter client on the test module's own local cluster (modules that run worker processes)."""
    yield RenderClient(await Client.connect(cluster.address))


@pytest.fixture
def seed_job() -> dict[str, Any]:
    """The trivia farm's job format, small enough for CI: 320x180, short clips."""
    job: dict[str, Any] = json.loads(SEED_JOB.read_text())
    job["profile"] = {"width": 320, "height": 180, "fps": 30}
    job["question_seconds"] = 1.5
    job["reveal_seconds"] = 1
    job["questions"] = job["questions"][:2]
    job["total_questions"] = 2
    job["clips"] = [{"kind": "recipe", "recipe": "mandelbrot", "duration": 0.5}]
    return job


async def failure_of(client: Client, video_id: str) -> ApplicationError:
    """Wait (bounded) for the render to fail; return the root ApplicationError."""
    with pytest.raises(WorkflowFailureError) as caught:
        await asyncio.wait_for(client.get_workflow_handle(video_id).result(), timeout=60)
    cause = root_cause(caught.value)
    assert isinstance(cause, ApplicationError), cause
    return cause


def pytest_configure(config: pytest.Config) -> None:
    """The in-process workers log as the service does, to stderr: structlog's default is stdout, where a
    worker's line would land inside the JSON a CLI test reads back."""
    configure_logging("console", "INFO")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Sort every test into its tier: `unit` unless it needs a Temporal server or worker processes.

    The tier follows from what a test asks for (a server fixture, or an explicit `server`, `load` or
    `newcomer` mark), so a new test lands in the right tier without anyone remembering to mark it;
    `tests/tiers.py` stops any unit test that starts a server or a worker anyway.
    """
    for item in items:
        if is_unit(item):
            item.add_marker(pytest.mark.unit)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _exit_status
    _exit_status = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    # A process that ran a temporalio worker can abort while the interpreter tears
    # down the SDK's native runtime (temporalio/sdk-python#300). By now pytest has
    # printed its summary and written its reports, so leave with the real status
    # instead of letting that teardown turn a green run red at random.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_exit_status)
