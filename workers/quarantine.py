"""Bad-worker quarantine: a worker whose own attempts keep failing takes itself out of the farm.

A worker with a bad GPU, a broken ffmpeg, a full or failing disk fails every attempt it takes, and fails
fast, so it is back polling before any healthy worker: it can use up a clip's attempts on its own. Render
farms blocklist such workers (Flamenco after 3 failures, Deadline per job); here the worker counts its own
failures and leaves:

* counted: failures that are the worker's, not the job's nor a shared service's: ffmpeg failing for a
  machine reason (`FfmpegError`: killed, I/O or memory errors), a full disk (`DiskFull`), lost writes
  (`MediaMismatch`), and attempts that stalled (timed out, or superseded while the worker was frozen).
  Never: a job's own mistakes (non-retryable, `InvalidJob`, `BadAsset`...), storage or speech services
  (every worker shares those), cancels and shutdowns.
* watched: the activities that do the work (clip renders, narration, the sound, the join, the publish); a
  success of any of them ends the streak.
* after `RENDER_QUARANTINE_AFTER` in a row (3), the worker checks itself before it leaves, so a job that
  breaks ffmpeg everywhere cannot empty the farm: a probe encode with its encoder, and room on its scratch
  disk. When both work and none of the failures was a stall, the failures look like the jobs': the streak
  ends and the worker stays. Otherwise it quarantines itself: `render_worker_quarantined` 1, /readyz 503,
  /status and the log say why, a note in Temporal names it in `render workers`, it stops polling (running
  work drains as on SIGTERM) and, after `RENDER_QUARANTINE_LINGER_SECONDS`, exits with status 4 for its
  pod to be replaced.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from prometheus_client import Counter, Gauge
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from activities.common import DISK_FULL
from activities.keeper import Superseded
from contracts import names
from engine import metrics
from engine.deps import SCRATCH_FULL_BYTES
from engine.media.encoder import PROBE_ARGS, choose_encoder
from engine.media.process import run_tool
from engine.settings import Settings

log = structlog.get_logger(__name__)

EXIT_QUARANTINED = 4
WORKER_FAULTS = frozenset({names.FFMPEG_FAILED, DISK_FULL, names.MEDIA_MISMATCH})
"""Retryable failure types that say something about the machine the attempt ran on."""
WATCHED = frozenset({names.RENDER_CLIP, names.NARRATE, names.BUILD_AUDIO, names.CONCAT_CLIPS, names.UPLOAD_VIDEO})
SELF_TEST_SECONDS = 60.0

STREAK = Gauge(
    "render_worker_failure_streak",
    "This worker's own failures in a row (ffmpeg, disk, lost writes, stalls); a success resets it",
)
STREAKS_FORGIVEN = Counter(
    "render_worker_streaks_forgiven",
    "Failure streaks that reached the quarantine count while the worker's self-test passed (the jobs' fault)",
)


def worker_fault(err: BaseException) -> tuple[str, bool] | None:
    """(what failed, whether it stalled) when the failure is the worker's own; None when it is not."""
    if isinstance(err, Superseded):
        return str(err), True
    if isinstance(err, asyncio.CancelledError):
        details = activity.cancellation_details()
        if details is not None and (details.timed_out or details.not_found):
            return "the attempt timed out (the worker stalled or froze)", True
        return None
    if isinstance(err, ApplicationError) and not err.non_retryable and err.type in WORKER_FAULTS:
        return f"{err.type}: {err.message}"[:300], False
    return None


@dataclass(frozen=True)
class Failure:
    activity: str
    video_id: str
    what: str
    stalled: bool

    def __str__(self) -> str:
        return f"{self.activity} of {self.video_id}: {self.what}"


async def self_test(settings: Settings) -> str | None:
    """Why this worker cannot work, or None: a probe encode with its encoder, and room on its scratch disk."""
    try:
        free = shutil.disk_usage(settings.storage.scratch_dir).free
    except OSError as err:
        return f"its scratch directory {settings.storage.scratch_dir} cannot be read: {err.strerror or err}"
    if free < SCRATCH_FULL_BYTES:
        return f"its scratch disk {settings.storage.scratch_dir} is full ({free} bytes free)"
    encoder = await choose_encoder(settings.render.encoder)
    try:
        async with asyncio.timeout(SELF_TEST_SECONDS):
            code, _, stderr = await run_tool("ffmpeg", *PROBE_ARGS, "-c:v", encoder, "-f", "null", "-")
    except TimeoutError:
        return f"a probe encode with {encoder} did not finish in {SELF_TEST_SECONDS:g} s"
    except OSError as error:
        return f"ffmpeg cannot run: {error.strerror or error}"
    if code != 0:
        said = (stderr.decode(errors="replace").strip().splitlines() or [""])[-1][:200]
        return f"a probe encode with {encoder} fails (exit {code}{': ' + said if said else ''})"
    return None


@dataclass
class Quarantine:
    """This worker's failure streak; `on_quarantine(reason)` is awaited once, when the worker must leave."""

    after: int
    settings: Settings
    on_quarantine: Callable[[str], Awaitable[None]]
    streak: list[Failure] = field(default_factory=list)
    reason: str | None = None
    _judging: asyncio.Task[None] | None = None

    def succeeded(self) -> None:
        if self.reason is None:
            self.streak.clear()
            STREAK.set(0)

    def failed(self, failure: Failure) -> None:
        if self.after <= 0 or self.reason is not None:
            return
        self.streak.append(failure)
        STREAK.set(len(self.streak))
        log.warning("this worker's own failure", failure=str(failure), in_a_row=len(self.streak), limit=self.after)
        if len(self.streak) >= self.after and self._judging is None:
            self._judging = asyncio.ensure_future(self._judge())

    async def _judge(self) -> None:
        try:
            streak = list(self.streak)
            stalled = [f for f in streak if f.stalled]
            trouble = await self_test(self.settings)
            if trouble is None and not stalled:
                log.warning("failures in a row, but this worker's probe encode and scratch disk work: the jobs' "
                            "fault, not the worker's; not quarantined", failures=[str(f) for f in streak])  # fmt: skip
                STREAKS_FORGIVEN.inc()
                self.streak.clear()
                STREAK.set(0)
                return
            why = trouble or f"{len(stalled)} of its attempts stalled"
            self.reason = f"{len(streak)} failures in a row ({why}); the last: {streak[-1]}"
            metrics.QUARANTINED.set(1)
            log.error("worker quarantined: it stops polling and exits for its pod to be replaced",
                      reason=self.reason, failures=[str(f) for f in streak])  # fmt: skip
            await self.on_quarantine(self.reason)
        finally:
            self._judging = None

    def interceptor(self) -> Interceptor:
        return QuarantineInterceptor(self)


class QuarantineInterceptor(Interceptor):
    def __init__(self, quarantine: Quarantine) -> None:
        self.quarantine = quarantine

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Watch(next, self.quarantine)


class _Watch(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, quarantine: Quarantine) -> None:
        super().__init__(next)
        self.quarantine = quarantine

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        if info.is_local or info.activity_type not in WATCHED:
            return await super().execute_activity(input)
        try:
            result = await super().execute_activity(input)
        except BaseException as err:
            if fault := worker_fault(err):
                what, stalled = fault
                self.quarantine.failed(Failure(info.activity_type, info.workflow_id or "?", what, stalled))
            raise
        self.quarantine.succeeded()
        return result
