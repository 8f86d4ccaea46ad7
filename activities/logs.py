"""Activity log lines carry their context; the format is set up by runtime.logs."""

from __future__ import annotations

from typing import Any

import structlog
from temporalio import activity


def activity_log(**extra: Any) -> structlog.stdlib.BoundLogger:
    """A logger bound to the running activity: workflow id, run id, activity, attempt."""
    info = activity.info()
    return structlog.get_logger("activity").bind(  # type: ignore[no-any-return]
        workflow_id=info.workflow_id,
        run_id=info.workflow_run_id,
        activity=info.activity_type,
        attempt=info.attempt,
        **extra,
    )
