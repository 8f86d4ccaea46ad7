"""Many videos at once: a JSON Lines file or a folder of job files, started at a steady rate.

A batch is resumable by construction: the workflow id is the video id, so a video
already running or completed is skipped, and running the same batch again after an
interruption starts only what is missing. Every line ends in one outcome, and the
summary says which and why.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from activities.preflight import check
from contracts.job import JobError, parse_job
from starter.client import ChannelFull, JobRefused, RenderClient
from starter.files import UnreadableJob, job_lines, read_job_text

Outcome = Literal["started", "skipped", "refused", "failed"]
OUTCOMES: tuple[Outcome, ...] = ("started", "skipped", "refused", "failed")
ROOM_POLL_SECONDS = 2.0
"""How often a batch that waits for room asks how many of a channel's videos are in flight."""


@dataclass(frozen=True)
class BatchEntry:
    source: str
    """Where the job came from: `jobs.jsonl:12` (line number) or the job file's path."""
    outcome: Outcome
    video_id: str | None = None
    reason: str = ""


@dataclass
class BatchSummary:
    entries: list[BatchEntry] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        found = Counter(e.outcome for e in self.entries)
        return {outcome: found[outcome] for outcome in OUTCOMES}

    def as_json(self) -> dict[str, Any]:
        return {"counts": self.counts(), "entries": [asdict(e) for e in self.entries]}


class BatchError(Exception):
    """The batch itself cannot be read (no such path, not a file or folder)."""


def read_batch(path: Path) -> Iterator[tuple[str, dict[str, Any] | str]]:
    """(source, job) for each job, or (source, why it cannot be read): one bad line never hides the others.

    A folder gives its `*.json` files in name order; any other file is JSON Lines,
    one job per line, blank lines ignored.
    """
    if path.is_dir():
        for file in sorted(path.glob("*.json")):
            try:
                yield str(file), _job(read_job_text(file))
            except ValueError as err:
                yield str(file), f"cannot read the job: {err}"
        return
    try:
        lines = job_lines(path)
    except UnreadableJob as err:
        raise BatchError(f"cannot read batch {path}: {err}") from None
    for number, line in lines:
        yield from _line(path, number, line)


def _line(path: Path, number: int, line: str | UnreadableJob) -> Iterator[tuple[str, dict[str, Any] | str]]:
    if isinstance(line, UnreadableJob):
        yield f"{path}:{number}", f"cannot read the job: {line}"
    elif line.strip():
        try:
            yield f"{path}:{number}", _job(line)
        except ValueError as err:
            yield f"{path}:{number}", f"cannot read the job: {err}"


def _job(text: str) -> dict[str, Any]:
    raw = json.loads(text)
    if not isinstance(raw, dict):
        raise ValueError("expected a JSON object")
    return raw


class Pace:
    """At most `rate` starts per second, spaced evenly (no bursts after a pause)."""

    def __init__(self, rate: float) -> None:
        if not rate > 0:
            raise ValueError(f"rate: must be > 0 starts per second, got {rate:g}")
        self.interval = 1.0 / rate
        self._next = 0.0

    async def wait(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._next > now:
            await asyncio.sleep(self._next - now)
        self._next = max(now, self._next) + self.interval


async def existing_state(client: RenderClient, video_id: str) -> str | None:
    """'running' or 'completed' when this id needs no new start; None when it may be started."""
    try:
        desc = await client.handle(video_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    if desc.status == WorkflowExecutionStatus.RUNNING:
        return "running"
    if desc.status == WorkflowExecutionStatus.COMPLETED:
        return "completed"
    return None  # failed, canceled, terminated, timed out: a resubmit renders it again, reusing finished clips


async def submit_batch(
    client: RenderClient,
    path: Path,
    *,
    rate: float = 5.0,
    require_worker: bool = True,
    wait_for_room: bool = False,
    on_entry: Callable[[BatchEntry], None] | None = None,
    check_jobs: bool = False,
) -> BatchSummary:
    """Start every job under `path`, at most `rate` per second; returns what happened to each.

    Jobs are validated here before any request (a bad one is refused, naming its field), with every check
    of `render check` when `check_jobs` (this process's RENDER_* settings: the CLI's way);
    ids already running or completed are skipped; a full channel refuses its video, or
    with `wait_for_room` the batch waits until one of the channel's videos ends.
    """
    pace = Pace(rate)
    summary = BatchSummary()
    for source, job in read_batch(path):
        entry = await _one(client, source, job, pace, require_worker, wait_for_room, check_jobs)
        summary.entries.append(entry)
        if on_entry:
            on_entry(entry)
    return summary


async def _one(
    client: RenderClient,
    source: str,
    job: dict[str, Any] | str,
    pace: Pace,
    require_worker: bool,
    wait_for_room: bool,
    check_jobs: bool = False,
) -> BatchEntry:
    if isinstance(job, str):
        return BatchEntry(source, "refused", reason=job)
    try:
        video_id = parse_job(job).video_id
    except JobError as err:
        return BatchEntry(source, "refused", job.get("video_id") if isinstance(job.get("video_id"), str) else None,
                          str(err).replace("\n", "; "))  # fmt: skip
    if check_jobs and (problems := (await check(job)).problems):
        return BatchEntry(source, "refused", video_id, "; ".join(map(str, problems)))
    try:
        if state := await existing_state(client, video_id):
            return BatchEntry(source, "skipped", video_id, f"already {state}")
        while True:
            await pace.wait()
            try:
                await client.submit(job, require_worker=require_worker)
            except ChannelFull:
                if not wait_for_room:
                    raise
                await asyncio.sleep(ROOM_POLL_SECONDS)
                continue
            return BatchEntry(source, "started", video_id)
    except JobRefused as err:
        return BatchEntry(source, "refused", video_id, str(err).replace("\n", "; "))
    except (RPCError, RuntimeError) as err:
        return BatchEntry(source, "failed", video_id, f"not started: {err}")


def rate_arg(text: str) -> float:
    """--rate as argparse takes it: a number of starts per second above zero."""
    try:
        rate = float(text)
    except ValueError:
        rate = 0.0
    if not 0 < rate < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of starts per second > 0, got {text!r}")
    return rate


def summary_text(summary: BatchSummary) -> str:
    """The end of a batch for people: the counts, then each line that did not start and why."""
    counts = summary.counts()
    lines = [", ".join(f"{counts[o]} {o}" for o in OUTCOMES)]
    lines += [
        f"  {e.outcome}: {e.source}" + (f" ({e.video_id})" if e.video_id else "") + f": {e.reason}"
        for e in summary.entries
        if e.outcome in ("refused", "failed")
    ]
    return "\n".join(lines)


def exit_status(summary: BatchSummary) -> int:
    """0: everything started or was already there; 2: some job refused; 1: some start failed."""
    counts = summary.counts()
    return 1 if counts["failed"] else 2 if counts["refused"] else 0


async def run_cli(client: RenderClient, args: argparse.Namespace) -> int:
    """`render submit-batch`: one line per job on stderr as it goes, the summary on stdout."""

    def progress(entry: BatchEntry) -> None:
        print(f"{entry.outcome:8} {entry.video_id or '-'}  {entry.source}", file=sys.stderr, flush=True)

    try:
        summary = await submit_batch(
            client,
            Path(args.path),
            rate=args.rate,
            require_worker=not args.allow_no_worker,
            wait_for_room=args.wait_for_room,
            on_entry=None if args.json else progress,
            check_jobs=True,
        )
    except BatchError as err:
        print(f"render: {err}", file=sys.stderr)
        return 2
    print(json.dumps(summary.as_json(), indent=2) if args.json else summary_text(summary))
    return exit_status(summary)
