"""What the CLI shows people and scripts: statuses, results, lists and workers as text or JSON.

The workflow's recorded results stay as they are (running histories must replay); this layer turns
them into what a reader needs: costs as plain numbers and the costliest clips as records, numbered
from 1 as their labels are ("clip 1/4"). Every clip's own record is in the manifest beside the
video (`manifest_uri`), not in the result.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from rich.cells import cell_len

from contracts.plan import shown
from contracts.records import VideoResult
from runtime.farm import FarmRecord
from starter.client import Deployment, Poller, VideoStatus, VideoSummary, worker_command

COST_DIGITS = 6
"""Costs are shown to the millionth of a dollar."""
_COST = "\x00cost\x00"
_COSTLIEST = re.compile(r"^(?P<label>clip (?P<clip>\d+)/\d+.*): \$(?P<usd>[0-9.]+)$")


def dumps(value: Any, *, one_line: bool = False) -> str:
    """JSON as a person and a script both want it: text as written (no \\u escapes), costs in plain decimals."""
    text = json.dumps(_mark_costs(value), indent=None if one_line else 2, ensure_ascii=False)
    return re.sub(r'"\\u0000cost\\u0000(-?[0-9.]+)"', r"\1", text)


def _mark_costs(value: Any, key: str = "") -> Any:
    """Costs become tagged strings that `dumps` writes back as fixed-point numbers (never 4.9e-05)."""
    if isinstance(value, dict):
        return {k: _mark_costs(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_mark_costs(v) for v in value]
    if isinstance(value, float) and key.endswith("cost_usd"):
        return _COST + money(value)
    return value


def money(usd: float) -> str:
    """'0.000049', '0.12': fixed point, at most six decimals, no trailing zeros."""
    text = f"{usd:.{COST_DIGITS}f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def costliest(entries: list[str] | None) -> list[dict[str, Any]]:
    """The result's 'clip 3/10 · recipe … : $0.0012' lines as records; an unknown shape keeps its label."""
    records: list[dict[str, Any]] = []
    for entry in entries or []:
        match = _COSTLIEST.match(entry)
        if match:
            usd = round(float(match["usd"]), COST_DIGITS)
            records.append({"clip": int(match["clip"]), "label": match["label"], "cost_usd": usd})
        else:
            records.append({"clip": None, "label": entry, "cost_usd": None})
    return records


def waiting(queues: list[str]) -> list[dict[str, str]]:
    return [{"queue": queue, "start": worker_command(queue)} for queue in queues]


def status_record(status: VideoStatus) -> dict[str, Any]:
    record = asdict(status)
    record["percent"] = round(status.fraction * 100, 1)
    record["cost_usd"] = None if status.cost_usd is None else round(status.cost_usd, COST_DIGITS)
    record["costliest_clips"] = costliest(status.costliest_clips)
    record["waiting_for"] = waiting(status.waiting_for)
    return record


def result_record(result: VideoResult) -> dict[str, Any]:
    """The result with its costs as plain numbers and its costliest clips as records."""
    record = asdict(result)
    record["cost_usd"] = round(result.cost_usd, COST_DIGITS)
    record["costliest_clips"] = costliest(result.costliest_clips)
    return record


def summary_record(video: VideoSummary) -> dict[str, Any]:
    record = asdict(video)
    for key in ("started_at", "closed_at"):
        record[key] = _iso(record[key])
    if video.cost_usd is not None:
        record["cost_usd"] = round(video.cost_usd, COST_DIGITS)
    return record


def poller_records(pollers: dict[str, list[Poller]]) -> dict[str, list[dict[str, Any]]]:
    return {queue: [asdict(p) for p in found] for queue, found in pollers.items()}


def deployment_record(deployment: Deployment, pollers: dict[str, list[Poller]]) -> dict[str, Any]:
    """`render workers --json`: the deployment's routing, each version, and the pollers by queue."""
    routing = deployment.routing
    return {
        "deployment": deployment.name,
        "current": routing.current,
        "ramping": routing.ramping,
        "ramp_percent": routing.ramp_percent if routing.ramping else None,
        "versions": [asdict(v) for v in deployment.versions],
        "queues": poller_records(pollers),
        "quarantined": [asdict(n) for n in deployment.quarantined],
    }


def deployment_lines(deployment: Deployment, pollers: dict[str, list[Poller]]) -> list[str]:
    """`render workers` for people: one line per version, then each queue's workers."""
    routing = deployment.routing
    ramp = f", ramping {routing.ramping} at {routing.ramp_percent:g} %" if routing.ramping else ""
    lines = [f"worker deployment {deployment.name}: current {routing.current or 'none'}{ramp}"]
    for v in deployment.versions:
        polling = ", ".join(f"{q} {n}" for q, n in v.pollers.items()) or "no workers"
        videos = f"{v.running_videos} running video{'' if v.running_videos == 1 else 's'}"
        lines.append(f"  {v.build_id}  {v.status}  {polling}  {videos}")
    for queue, found in pollers.items():
        lines.append(f"{queue}: {len(found)} worker(s)")
        lines += [f"  {p.identity}  build {p.build_id or 'unversioned'}  polled {p.age_s:.0f} s ago" for p in found]
    if deployment.quarantined:
        lines.append(f"quarantined in the last 24 hours: {len(deployment.quarantined)} worker(s)")
        lines += [f"  {n.identity}  build {n.build}  at {n.at}: {n.reason}" for n in deployment.quarantined]
    return lines


def status_lines(status: VideoStatus) -> list[str]:
    """`render status` for people."""
    lines = [f"{status.video_id}  {status.state}" + (f"  ({status.stage})" if status.stage != status.state else "")]
    if status.clips_total or status.frames_total:
        lines.append(
            f"  clips {status.clips_done}/{status.clips_total}  frames {status.frames_done}/{status.frames_total}"
            f"  {status.fraction:.1%}"
        )
    if status.error:
        lines.append(f"  error: {status.error}")
    if status.output_uri:
        lines.append(f"  output: {status.output_uri}")
    if status.cost_usd is not None:
        lines.append(f"  cost: ${money(status.cost_usd)}")
    lines += [
        f"  waiting: no worker polls {queue}; start one with `{worker_command(queue)}`" for queue in status.waiting_for
    ]
    return lines


def summary_lines(videos: list[VideoSummary]) -> list[str]:
    """`render list` for people: a table, newest first, padded by display width (a CJK character is two columns)."""
    rows = [("STARTED (UTC)", "STATE", "CHANNEL", "CLIPS", "COST USD", "VIDEO ID")]
    for v in videos:
        started = v.started_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if v.started_at else "-"
        cost = money(v.cost_usd) if v.cost_usd is not None else "-"
        clips = str(v.clips) if v.clips is not None else "-"
        rows.append((started, v.state, shown(v.channel or "-"), clips, cost, v.video_id))
    widths = [max(cell_len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return [
        "  ".join(cell + " " * (w - cell_len(cell)) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1]
        for row in rows
    ]


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="seconds") if value else None


def farm_record(record: FarmRecord) -> dict[str, Any]:
    """`render farm --json`: one build's record."""
    return {"build": record.build, "record": record.record, "written_by": record.written_by,
            "written_at": record.written_at, "settings": record.fingerprint}  # fmt: skip


def farm_lines(records: list[FarmRecord]) -> list[str]:
    """`render farm` for people: each build's record, one setting a line."""
    if not records:
        return ["no farm record: the first worker of each build writes one when it starts"]
    lines = []
    for r in records:
        lines.append(f"{r.build}  written by {r.written_by or '?'} at {r.written_at or '?'}  ({r.record})")
        lines += [f"  {setting}: {value}" for setting, value in r.fingerprint.items()]
    return lines
