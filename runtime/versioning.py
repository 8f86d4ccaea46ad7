"""Worker Versioning: which build this process is, and what the server says about the service's Worker Deployment.

Every worker joins the Worker Deployment `RENDER_DEPLOYMENT_NAME` as version `RENDER_BUILD_ID`, and
RenderVideo and NotifyWebhook are pinned: a video started on a build finishes on that build, so a deploy
never replays a running video against new workflow code.

Activities follow their workflow's version. Measured on the CLI's dev server (server 1.32, temporalio
1.35): a pinned workflow of build v1 whose `render-gpu` workers had all stopped, with v2 current and v2's
GPU workers polling, scheduled its clip render and it waited (15 s, untaken) until a v1 GPU worker polled
again, then ran there. The same workflow with its GPU workers unversioned, or in a deployment of their
own, ran the clip on v2. We keep the GPU workers in the same deployment on purpose: clip inputs, clip
records and the clip cache's keys change between builds, so a clip of a v1 video is only safe on a v1
worker. The price is that a build's GPU workers must outlive its videos: a retried clip finds a worker
because old versions drain (see `drained`) instead of being stopped at deploy time, and the autoscaler
scales each version on its own backlog. tests/test_deploys.py checks both halves with worker processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import importlib.metadata
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog
from temporalio.api.deployment.v1 import RoutingConfig
from temporalio.api.enums.v1 import WorkerDeploymentVersionStatus
from temporalio.api.workflowservice.v1 import (
    DescribeWorkerDeploymentRequest,
    SetWorkerDeploymentCurrentVersionRequest,
)
from temporalio.client import Client
from temporalio.common import WorkerDeploymentVersion
from temporalio.service import RPCError, RPCStatusCode

from runtime.settings import DeploymentEnv

log = structlog.get_logger(__name__)

ROOT = Path(__file__).resolve().parent.parent
SOURCE_PACKAGES = ("contracts", "workflows", "engine", "activities", "workers", "runtime")
"""What a worker runs: a change to any of these files is a new build."""
PACKAGE = "render-service"
VISIBILITY_LAG = timedelta(seconds=5)
"""How long a routing change is given before visibility is trusted to count the videos it sent to a version."""


@functools.cache
def source_build_id(root: Path = ROOT) -> str:
    """`<package version>+<12 hex digits>`: the version and a hash of every source file of the worker.

    Computed once per process. Two builds that differ in any byte of their code never share an id,
    and the same tree always gives the same id, so every worker of one image lands in one version.
    """
    digest = hashlib.sha256()
    for package in SOURCE_PACKAGES:
        for path in sorted((root / package).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                digest.update(path.relative_to(root).as_posix().encode() + b"\0")
                digest.update(path.read_bytes() + b"\0")
    try:
        version = importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        version = "0"
    return f"{version}+{digest.hexdigest()[:12]}"


@dataclass(frozen=True)
class Build:
    """One Worker Deployment Version: the deployment's name and this build's id."""

    deployment: str
    build_id: str

    @classmethod
    def from_env(cls, env: DeploymentEnv) -> Build:
        return cls(env.deployment_name, env.build_id or source_build_id())

    @property
    def version(self) -> WorkerDeploymentVersion:
        return WorkerDeploymentVersion(deployment_name=self.deployment, build_id=self.build_id)

    @property
    def key(self) -> str:
        """How visibility spells the version (search attribute TemporalWorkerDeploymentVersion)."""
        return f"{self.deployment}:{self.build_id}"

    def running_query(self) -> str:
        return f"TemporalWorkerDeploymentVersion = '{self.key}' AND ExecutionStatus = 'Running'"


@dataclass(frozen=True)
class VersionState:
    build_id: str
    status: str
    """current, ramping, draining, drained, inactive (the server's words, lower case). Inactive: never
    current nor ramping (a build waiting to be rolled out); draining and drained: it was, and is no more."""
    deactivated_at: datetime | None = None
    """When it last stopped being current or ramping."""


@dataclass(frozen=True)
class Routing:
    """Where the deployment sends new videos, as the server has it now."""

    current: str | None
    """The current version's build id; None: unversioned workers (nothing, for this service)."""
    ramping: str | None = None
    ramp_percent: float = 0.0
    chosen: bool = False
    """Whether anyone ever set the current version (even to unversioned): then it is an operator's choice."""
    changed_at: datetime | None = None
    """When the current or ramping version last changed."""
    conflict_token: bytes = b""
    versions: list[VersionState] = field(default_factory=list)

    def targets(self, build_id: str) -> bool:
        """Whether new videos may go to `build_id`."""
        return build_id in (self.current, self.ramping)


def _routing(config: RoutingConfig) -> tuple[str | None, str | None, float, bool, datetime | None]:
    current = config.current_deployment_version.build_id or None
    ramping = config.ramping_deployment_version.build_id or None
    times = [
        t.ToDatetime(tzinfo=UTC)
        for name in ("current_version_changed_time", "ramping_version_changed_time")
        if config.HasField(name) and (t := getattr(config, name)).seconds
    ]
    chosen = config.HasField("current_version_changed_time") and config.current_version_changed_time.seconds > 0
    return current, ramping, config.ramping_version_percentage, chosen, max(times, default=None)


async def routing(client: Client, deployment: str, *, attempts: int = 4) -> Routing | None:
    """The deployment's routing and versions; None when no worker of it has ever polled.

    The server answers this from one entity per deployment and refuses callers past a few at once
    ("too many requests issued to Worker Deployment"): such a refusal is asked again after a pause.
    """
    for attempt in range(attempts):
        try:
            described = await client.workflow_service.describe_worker_deployment(
                DescribeWorkerDeploymentRequest(namespace=client.namespace, deployment_name=deployment)
            )
            break
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return None
            if err.status != RPCStatusCode.RESOURCE_EXHAUSTED or attempt == attempts - 1:
                raise
            await asyncio.sleep(0.25 * 2**attempt + random.random() / 4)
    info = described.worker_deployment_info
    current, ramping, percent, chosen, changed = _routing(info.routing_config)
    versions = [
        VersionState(
            s.deployment_version.build_id,
            _status_name(s.status),
            s.last_deactivation_time.ToDatetime(tzinfo=UTC) if s.last_deactivation_time.seconds else None,
        )
        for s in info.version_summaries
    ]
    return Routing(current, ramping, percent, chosen, changed, described.conflict_token, versions)


def _status_name(status: WorkerDeploymentVersionStatus.ValueType) -> str:
    return str(WorkerDeploymentVersionStatus.Name(status)).removeprefix("WORKER_DEPLOYMENT_VERSION_STATUS_").lower()


async def adopt_if_none(client: Client, build: Build, *, timeout: float = 30.0, identity: str = "") -> bool:
    """Make `build` current if its deployment never had a current version; whether this call did.

    A fresh deployment has none, and then no versioned worker gets a new video: this is how the quick
    start and the tests work without a deploy step. Once anyone has chosen a current version (an operator
    with `temporal worker deployment set-current-version`, or an earlier worker), nothing is overridden;
    the conflict token makes two workers racing on a fresh deployment agree on one.
    """
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            found = await routing(client, build.deployment)
            if found is not None and (found.chosen or found.current):
                if found.current != build.build_id:
                    log.info("worker deployment has a current version; not changing it",
                             deployment=build.deployment, current=found.current, build_id=build.build_id)  # fmt: skip
                return False
            if found is not None:  # the version registers on its first poll: until then there is nothing to set
                await client.workflow_service.set_worker_deployment_current_version(
                    SetWorkerDeploymentCurrentVersionRequest(
                        namespace=client.namespace,
                        deployment_name=build.deployment,
                        build_id=build.build_id,
                        conflict_token=found.conflict_token,
                        identity=identity or f"render-worker {build.build_id}",
                    )
                )
                log.info("made this build the deployment's first current version",
                         deployment=build.deployment, build_id=build.build_id)  # fmt: skip
                return True
        except RPCError as err:
            # NOT_FOUND: this version has not registered yet; FAILED_PRECONDITION / ABORTED: another worker
            # changed the routing first (the next look says so); RESOURCE_EXHAUSTED: many workers asked at once.
            retried = (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION, RPCStatusCode.ABORTED,
                       RPCStatusCode.RESOURCE_EXHAUSTED)  # fmt: skip
            if err.status not in retried:
                raise
        if asyncio.get_running_loop().time() >= deadline:
            log.warning("could not make this build current; set it with `temporal worker deployment "
                        "set-current-version`", deployment=build.deployment, build_id=build.build_id)  # fmt: skip
            return False
        await asyncio.sleep(random.uniform(0.3, 1.0))  # jittered: a fleet starting together spreads its asks


async def running_videos(client: Client, build: Build) -> int:
    """Workflows pinned to `build` that are still running (visibility's count)."""
    return (await client.count_workflows(build.running_query())).count


async def drained(client: Client, build: Build, *, lag: timedelta = VISIBILITY_LAG) -> bool:
    """Whether `build` may stop: it was current or ramping, is neither now, and no video pinned to it runs.

    New videos reach only the current and ramping versions; a version that stopped being either more
    than `lag` ago (visibility writes a moment after a start) and counts no running workflow has nothing
    left to do, and its activities neither: they belong to those workflows. A build never rolled out
    (inactive) is waiting for its turn, not drained. The cheap count is asked first: the deployment is
    described only when it is 0, as the server limits how many ask it at once.
    """
    if await running_videos(client, build):
        return False
    found = await routing(client, build.deployment)
    state = next((v for v in found.versions if v.build_id == build.build_id), None) if found else None
    if state is None or state.status not in ("draining", "drained"):
        return False
    if state.deactivated_at is not None and datetime.now(UTC) - state.deactivated_at < lag:
        return False
    return await running_videos(client, build) == 0


async def stop_when_drained(client: Client, build: Build, stop: asyncio.Event, every: float) -> None:
    """Set `stop` once `build` has drained, asking every `every` seconds; a failed look is tried again."""
    while not stop.is_set():
        try:
            if await drained(client, build):
                log.info("this version has drained: no new videos reach it and none of its videos runs; leaving",
                         deployment=build.deployment, build_id=build.build_id)  # fmt: skip
                stop.set()
                return
        except RPCError as err:
            log.info("cannot tell yet whether this version has drained", reason=err.message)
        with contextlib.suppress(TimeoutError):  # jittered: a fleet's workers do not ask all at once
            await asyncio.wait_for(stop.wait(), timeout=every * random.uniform(0.8, 1.2))
