"""Where a workflow's time went, read from its history's event timestamps.

The server stamps every event, so these spans include what no activity can time
itself: queueing before a worker picks a task up, and the workflow tasks between.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory


@dataclass(frozen=True)
class ActivitySpan:
    name: str
    scheduled: float
    started: float
    closed: float

    @property
    def queued_s(self) -> float:
        return self.started - self.scheduled

    @property
    def run_s(self) -> float:
        return self.closed - self.started


@dataclass(frozen=True)
class Timeline:
    started: float
    closed: float
    activities: list[ActivitySpan]

    @property
    def total_s(self) -> float:
        return self.closed - self.started

    def run_s(self, *names: str) -> float:
        """Seconds activities of these types ran, summed."""
        return sum(a.run_s for a in self.activities if a.name in names)

    def queued_s(self, *names: str) -> float:
        return sum(a.queued_s for a in self.activities if a.name in names)

    def share(self, *names: str) -> float:
        return self.run_s(*names) / self.total_s if self.total_s else 0.0


def timeline(history: WorkflowHistory) -> Timeline:
    """Activity spans (scheduled, started, closed) and the workflow's own start and close."""
    scheduled: dict[int, tuple[str, float]] = {}
    started: dict[int, float] = {}
    spans: list[ActivitySpan] = []
    opened = closed = 0.0
    for event in history.events:
        at = event.event_time.ToNanoseconds() / 1e9
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            opened = at
        elif kind in (
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
        ):
            closed = at
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            scheduled[event.event_id] = (attrs.activity_type.name, at)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started[event.activity_task_started_event_attributes.scheduled_event_id] = at
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            sid = event.activity_task_completed_event_attributes.scheduled_event_id
            name, when = scheduled[sid]
            spans.append(ActivitySpan(name, when, started.get(sid, when), at))
    return Timeline(opened, closed, spans)


def per_type(line: Timeline) -> dict[str, tuple[int, float, float]]:
    """Activity type → (count, seconds running, seconds queued)."""
    table: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    for span in line.activities:
        row = table[span.name]
        row[0] += 1
        row[1] += span.run_s
        row[2] += span.queued_s
    return {name: (int(row[0]), row[1], row[2]) for name, row in table.items()}
