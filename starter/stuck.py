"""A video whose workflow task fails again and again looks Running and idle: say so, with the server's reason.

A workflow task that cannot complete (a payload over the server's limit, a deadlock, a nondeterministic
replay after a deploy) is retried by the server for ever, and the workflow stays Running. The pending
workflow task's attempt count shows it within one retry, and the last failure recorded in history says why.
"""

from __future__ import annotations

from typing import Any

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryReverseRequest
from temporalio.client import Client

RECENT_EVENTS = 50
"""Events read back from the end of history to find the last failure: it is among the last few."""
REASON_CHARS = 300


def failing_attempts(raw: Any) -> int:
    """How many times the pending workflow task has been tried (0 when none is pending or it never failed)."""
    if not raw.HasField("pending_workflow_task"):
        return 0
    attempt = int(raw.pending_workflow_task.attempt)
    return attempt if attempt > 1 else 0


async def failing_workflow_task(client: Client, video_id: str, raw: Any) -> str | None:
    """One line saying that the workflow task keeps failing and why, or None when it does not."""
    attempts = failing_attempts(raw)
    if not attempts:
        return None
    reason = await last_task_failure(client, video_id, raw.workflow_execution_info.execution.run_id)
    return f"the workflow task has failed {attempts - 1} times and is retried: {reason or 'reason not recorded'}"


async def last_task_failure(client: Client, video_id: str, run_id: str) -> str | None:
    request = GetWorkflowExecutionHistoryReverseRequest(
        namespace=client.namespace,
        execution=WorkflowExecution(workflow_id=video_id, run_id=run_id),
        maximum_page_size=RECENT_EVENTS,
    )
    response = await client.workflow_service.get_workflow_execution_history_reverse(request)
    for event in response.history.events:
        if event.event_type != EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            continue
        failed = event.workflow_task_failed_event_attributes
        cause = WorkflowTaskFailedCause.Name(failed.cause).removeprefix("WORKFLOW_TASK_FAILED_CAUSE_").lower()
        message = " ".join(failed.failure.message.split())[:REASON_CHARS]
        return f"{cause.replace('_', ' ')}: {message}" if message else cause.replace("_", " ")
    return None
