"""What the farm knows of its workers, kept in Temporal itself: the farm record and quarantine notes.

The farm record: the settings every worker of one build must share.

Workers of a farm share a work store, output and asset roots, fonts, an ffmpeg build and the engine's code.
A worker that differs in any of them takes tasks from the same queues and fails other workers' videos (an
asset outside its roots, a clip drawn with other fonts, a join of clips it cannot find). So the first
worker of a build records these settings (its fingerprint), and every later worker of that build compares
its own at start and refuses to start, naming each difference, rather than poll.

The record is a paused Schedule with no spec (it never runs anything), id `render-farm-<deployment>:<build
id>`, the fingerprint in its memo. Temporal is the one thing every worker of a farm surely shares (a work
store may be the very thing that differs), and creating a schedule is atomic: of two workers starting at
once, exactly one creates it and the other compares against it. It is keyed by build because a new build
may legitimately bring another ffmpeg or other fonts. Operators see records with `render farm` and remove
one with `render farm forget <build>` (the next worker of that build then writes it again). Temporal's
Web UI lists them under Schedules.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleSpec,
    ScheduleState,
)
from temporalio.service import RPCError, RPCStatusCode

PREFIX = "render-farm-"
UNVERSIONED = "unversioned"
"""The record's key for workers that join no Worker Deployment Version."""
MEMO = "render-farm"
SETTINGS = {
    "work_uri": "RENDER_WORK_URI",
    "output_roots": "RENDER_OUTPUT_ROOTS",
    "asset_roots": "RENDER_ASSET_ROOTS",
    "fonts": "RENDER_FONT, RENDER_FONT_BOLD and the installed fonts",
    "ffmpeg": "the ffmpeg on PATH",
    "engine": "the service's version and code",
}
"""What must agree across a farm, and where each comes from (RENDER_DATA_DIR sets the first three when unset)."""
NEVER_RUNS = "render-farm-record"
"""The record's action: a workflow type nobody implements, on a queue nobody polls; paused, with no spec, it never
starts."""


def record_id(build_key: str | None) -> str:
    """`render-farm-<deployment>:<build id>`, or `render-farm-unversioned`."""
    return PREFIX + (build_key or UNVERSIONED)


@dataclass(frozen=True)
class Difference:
    setting: str
    here: str | None
    farm: str | None

    def __str__(self) -> str:
        source = SETTINGS.get(self.setting, "a setting")
        return f"{self.setting} ({source}): {self.here or 'none'} here, {self.farm or 'none'} in the farm"


@dataclass(frozen=True)
class FarmRecord:
    build: str
    """`deployment:build id`, or `unversioned`."""
    fingerprint: dict[str, str]
    written_by: str = ""
    """The identity (pid@host) of the worker that wrote it."""
    written_at: str = ""
    record: str = field(default="")

    def differences(self, here: Mapping[str, str]) -> list[Difference]:
        keys = [*self.fingerprint, *(k for k in here if k not in self.fingerprint)]
        farm = self.fingerprint
        return [Difference(k, here.get(k), farm.get(k)) for k in keys if here.get(k) != farm.get(k)]

    def memo(self) -> dict[str, object]:
        return {MEMO: {"build": self.build, "fingerprint": self.fingerprint, "written_by": self.written_by,
                       "written_at": self.written_at}}  # fmt: skip

    @classmethod
    def from_memo(cls, record: str, memo: Mapping[str, object]) -> FarmRecord | None:
        found = memo.get(MEMO)
        if not isinstance(found, dict) or not isinstance(found.get("fingerprint"), dict):
            return None
        return cls(
            str(found.get("build", "")),
            {str(k): str(v) for k, v in found["fingerprint"].items()},
            str(found.get("written_by", "")),
            str(found.get("written_at", "")),
            record,
        )


class FarmMismatch(Exception):
    """This worker's fingerprint differs from its farm's record; the message names each difference."""

    def __init__(self, record: FarmRecord, differences: list[Difference]) -> None:
        self.record, self.differences = record, differences
        who = f"written by {record.written_by} at {record.written_at}" if record.written_by else "written earlier"
        super().__init__(
            f"this worker's settings differ from its farm's (build {record.build}; record {record.record}, {who}): "
            + "; ".join(str(d) for d in differences)
            + f". Give this worker the farm's settings; or, if the farm's are the wrong ones, stop its workers, "
            f"forget the record with `render farm forget {record.build}` and start them again"
        )


def identity() -> str:
    return f"{os.getpid()}@{socket.gethostname()}"


def record_schedule(build: str) -> Schedule:
    note = (
        f"render farm record of build {build}: the settings its workers must share (in the memo). "
        f"Never runs. `render farm` shows it; `render farm forget {build}` removes it."
    )
    action = ScheduleActionStartWorkflow(NEVER_RUNS, id=f"{record_id(build)}.never", task_queue=NEVER_RUNS)
    return Schedule(action=action, spec=ScheduleSpec(), state=ScheduleState(note=note, paused=True))


async def read_record(client: Client, build: str) -> FarmRecord | None:
    """The record of `build`, or None when there is none."""
    handle = client.get_schedule_handle(record_id(build))
    try:
        described = await handle.describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    return FarmRecord.from_memo(record_id(build), await described.memo())


async def join(client: Client, build: str | None, fingerprint: Mapping[str, str]) -> tuple[FarmRecord, bool]:
    """Write the farm's record if `build` has none (atomically: one writer wins), else compare against it.

    Returns the record and whether this call wrote it; raises FarmMismatch naming each difference.
    """
    key = build or UNVERSIONED
    mine = FarmRecord(key, dict(fingerprint), identity(), datetime.now(UTC).isoformat(timespec="seconds"),
                      record_id(key))  # fmt: skip
    for _ in range(5):
        try:
            await client.create_schedule(record_id(key), record_schedule(key), memo=mine.memo())
            return mine, True
        except ScheduleAlreadyRunningError:
            pass
        found = await read_record(client, key)
        if found is None:
            continue  # forgotten between our create and our read: try to be the writer again
        if differences := found.differences(fingerprint):
            raise FarmMismatch(found, differences)
        return found, False
    raise RuntimeError(f"the farm record {record_id(key)} kept appearing and vanishing; try again")


async def records(client: Client) -> list[FarmRecord]:
    """Every farm record in the namespace (a list is eventually consistent: a record written a moment ago
    may be missing)."""
    found = []
    async for listed in await client.list_schedules():
        if not listed.id.startswith(PREFIX):
            continue
        record = FarmRecord.from_memo(listed.id, await listed.memo())
        if record is None:  # listed before its memo is visible, or not ours: ask for it
            record = await read_record(client, listed.id.removeprefix(PREFIX))
        if record is not None:
            found.append(record)
    return sorted(found, key=lambda r: r.written_at)


async def forget(client: Client, build: str) -> bool:
    """Remove `build`'s record; whether there was one."""
    try:
        await client.get_schedule_handle(record_id(build)).delete()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


QUARANTINE_PREFIX = "render-quarantined-"
QUARANTINE_MEMO = "render-quarantine"
QUARANTINE_KEPT = timedelta(days=7)
"""Notes older than this are removed by the next worker that writes one."""


@dataclass(frozen=True)
class QuarantineNote:
    """A worker that took itself out of the farm (workers/quarantine.py), as `render workers` names it."""

    identity: str
    build: str
    reason: str
    at: str
    note: str = ""
    """The note's schedule id."""

    def memo(self) -> dict[str, object]:
        return {QUARANTINE_MEMO: {"identity": self.identity, "build": self.build, "reason": self.reason,
                                  "at": self.at}}  # fmt: skip

    @classmethod
    def from_memo(cls, note: str, memo: Mapping[str, object]) -> QuarantineNote | None:
        found = memo.get(QUARANTINE_MEMO)
        if not isinstance(found, dict):
            return None
        return cls(str(found.get("identity", "")), str(found.get("build", "")), str(found.get("reason", "")),
                   str(found.get("at", "")), note)  # fmt: skip

    @property
    def written(self) -> datetime | None:
        try:
            return datetime.fromisoformat(self.at)
        except ValueError:
            return None


async def note_quarantine(client: Client, build: str | None, reason: str) -> QuarantineNote:
    """Record that this worker quarantined itself (a paused, never-running schedule like the farm record), and
    remove notes older than `QUARANTINE_KEPT`."""
    now = datetime.now(UTC)
    mine = QuarantineNote(identity(), build or UNVERSIONED, reason, now.isoformat(timespec="seconds"))
    note = f"{QUARANTINE_PREFIX}{mine.identity}-{int(now.timestamp())}"
    action = ScheduleActionStartWorkflow(NEVER_RUNS, id=f"{note}.never", task_queue=NEVER_RUNS)
    text = f"worker {mine.identity} of build {mine.build} quarantined itself: {reason[:500]}. Never runs."
    schedule = Schedule(action=action, spec=ScheduleSpec(), state=ScheduleState(note=text, paused=True))
    with contextlib.suppress(ScheduleAlreadyRunningError):
        await client.create_schedule(note, schedule, memo=mine.memo())
    for old in await quarantined(client, since=QUARANTINE_KEPT, older=True):
        with contextlib.suppress(RPCError):
            await client.get_schedule_handle(old.note).delete()
    return dataclasses.replace(mine, note=note)


async def quarantined(client: Client, since: timedelta, *, older: bool = False) -> list[QuarantineNote]:
    """Notes of workers quarantined within `since` (or, with `older`, before it), oldest first."""
    cutoff = datetime.now(UTC) - since
    found = []
    async for listed in await client.list_schedules():
        if not listed.id.startswith(QUARANTINE_PREFIX):
            continue
        note = QuarantineNote.from_memo(listed.id, await listed.memo())
        if note is None or note.written is None or (note.written < cutoff) != older:
            continue
        found.append(note)
    return sorted(found, key=lambda n: n.at)
