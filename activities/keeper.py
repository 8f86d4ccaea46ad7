"""Heartbeats through every phase of an activity, and blocking work that can be stopped.

The server cannot tell a silent activity from a dead one: a download, a decode
check, a join or an upload on a slow link or a busy machine takes longer than a
heartbeat timeout. `keep_heartbeating` re-sends the latest details on a timer
around the whole activity, so only a dead (or frozen) worker goes silent.

A heartbeat is also how an attempt learns it was abandoned: when its heartbeat
timeout passed, or the workflow canceled it, the SDK cancels the activity's task.
Work in a thread does not see that cancel, so the engine's `engine.threads.stoppable`
hands the thread a `threading.Event` that it checks between chunks, and waits for the
thread to finish before the cancel goes on: an abandoned attempt never publishes afterwards.

`Heartbeats` is what the engine reports progress to (`engine.progress.Progress`, which it satisfies).

The SDK's heartbeats are sent in the background, and their answer comes later. A worker that was
frozen (SIGSTOP, a paused VM) wakes up with attempts that were retried elsewhere meanwhile, some not
even started yet (the server handed them to its open polls), and would write before any answer
arrives. `Heartbeats.confirm` asks the server and waits: before an activity writes anything another
attempt may also write, it learns whether it is still the activity's current attempt, and it writes only
when the server says yes: no answer stops it too.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import asdict, dataclass, replace
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.api.workflowservice.v1 import RecordActivityTaskHeartbeatRequest
from temporalio.service import RPCError, RPCStatusCode

MIN_INTERVAL = 0.5
MAX_INTERVAL = 2.0
"""At least this often; the SDK throttles what reaches the server to its own interval."""


@dataclass(frozen=True)
class Beat:
    """What an activity reports in each heartbeat: its stage and how far it got.

    `segments_done` is the checkpoint a render's next attempt resumes from; the
    rest is for people (the Web UI's pending activities, `render status`).
    """

    stage: str = "starting"
    frames_done: int = 0
    frames_total: int = 0
    segments_done: int = 0
    bytes_done: int = 0
    bytes_total: int = 0
    clip: str = ""
    """Which clip a render works on ("clip 3/10 · question …"): the Web UI's pending activity names it."""

    def as_details(self) -> dict[str, Any]:
        return asdict(self)


class Heartbeats:
    """The latest `Beat` of the running activity, sent now and re-sent on a timer.

    `update` may be called from a worker thread (a transfer's progress): the beat
    is then sent from the event loop, where the SDK's heartbeat must run.
    """

    def __init__(self, beat: Beat) -> None:
        self.beat = beat
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()

    def update(self, **changes: Any) -> None:
        self.beat = replace(self.beat, **changes)
        if threading.get_ident() == self._loop_thread:
            self._send()
        else:
            self._loop.call_soon_threadsafe(self._send)

    def _send(self) -> None:
        activity.heartbeat(self.beat.as_details())

    def stage(self, stage: str) -> None:
        self.update(stage=stage)

    async def confirm(self, stage: str | None = None) -> None:
        """Raise `Superseded` unless the server says this attempt is still the activity's current one.

        A heartbeat of the latest beat, sent now and awaited (the SDK's own are sent later, and their answer
        only cancels): what a stalled attempt calls before it writes what another attempt may write.
        """
        if stage is not None:
            self.stage(stage)
        await confirm_attempt(self.beat.as_details())


class Superseded(Exception):
    """This attempt is no longer the activity's current one (it timed out, another took over, the workflow
    ended): whatever it would write now, another attempt has written or will. Its result is never read."""


class Unconfirmed(Exception):
    """The server could not say whether this attempt is still current (it was unreachable, or slow to answer,
    as a worker that has just woken from a freeze finds it). The attempt stops rather than write what another
    attempt may have written; when it was current, the activity's retry policy runs it again."""


CONFIRM_TRIES = 3
CONFIRM_TIMEOUT = timedelta(seconds=5)
CONFIRM_PAUSE = 0.5


async def confirm_attempt(details: Any = None) -> None:
    """`Heartbeats.confirm` for one activity: `details` are what the heartbeat records (the attempt's own
    heartbeat details when None, so a checkpoint is never lost to the question).

    It fails closed: `Superseded` when the server no longer knows the attempt, `Unconfirmed` when it does not
    answer in `CONFIRM_TRIES` tries. Only a "yes" lets the attempt write."""
    info = activity.info()
    if info.is_local:
        return
    try:
        client = activity.client()
    except RuntimeError:  # an activity run without a worker (tests): nothing to ask
        return
    kept = list(info.heartbeat_details) if details is None else [details]
    request = RecordActivityTaskHeartbeatRequest(
        task_token=info.task_token, namespace=client.namespace, identity=client.identity
    )
    if kept:
        request.details.payloads.extend(activity.payload_converter().to_payloads(kept))
    said = ""
    for tried in range(1, CONFIRM_TRIES + 1):
        try:
            async with asyncio.timeout(CONFIRM_TIMEOUT.total_seconds() + 1):
                await client.workflow_service.record_activity_task_heartbeat(request, timeout=CONFIRM_TIMEOUT)
            return
        except TimeoutError:
            said = f"no answer in {CONFIRM_TIMEOUT.total_seconds():g} s"
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise Superseded(
                    f"attempt {info.attempt} of {info.activity_type} for {info.workflow_id} was superseded "
                    f"(it timed out or the workflow moved on): {err.message}"
                ) from None
            said = f"{err.status.name}: {err.message}"
        if tried < CONFIRM_TRIES:
            await asyncio.sleep(CONFIRM_PAUSE)
    raise Unconfirmed(
        f"attempt {info.attempt} of {info.activity_type} for {info.workflow_id} stopped before writing: the "
        f"server did not confirm it is still current in {CONFIRM_TRIES} tries ({said})"
    )


def _interval(timeout: timedelta | None) -> float:
    if timeout is None:
        return MAX_INTERVAL
    return min(MAX_INTERVAL, max(MIN_INTERVAL, timeout.total_seconds() / 4))


@asynccontextmanager
async def keep_heartbeating(beat: Beat | None = None) -> AsyncIterator[Heartbeats]:
    """Heartbeat at a steady cadence for as long as the block runs, whatever it is doing."""
    beats = Heartbeats(beat or Beat())
    interval = _interval(activity.info().heartbeat_timeout)

    async def keep() -> None:
        while True:
            beats._send()
            await asyncio.sleep(interval)

    task = asyncio.ensure_future(keep())
    try:
        yield beats
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
