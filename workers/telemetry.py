"""What a worker adds to every workflow and activity for operators: per-channel metrics and traces.

Both are worker interceptors, so neither the workflow nor the activities change for them:

* `VideoMetrics` counts each video once as it starts and once as it ends (completed, failed by
  error type, canceled), with its time to video and cost, through the SDK's
  `workflow.metric_meter()`: the SDK drops what a replay records, so a history replayed after a
  restart or an eviction is never counted twice. Its series reach /metrics through the SDK's port.
* The activity side times each attempt's wait in its task queue, adds clip render seconds to its
  channel, and puts the video id, channel and clip index on the activity's span.

Traces (runtime/tracing.py) are the SDK's tracing interceptor, placed before these.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from temporalio import activity, workflow
from temporalio.exceptions import ApplicationError, FailureError, is_cancelled_exception
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    ExecuteWorkflowInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from contracts import names
from engine import metrics
from engine.metrics import Channels, ErrorTypes, VideoMetric

SPAN_VIDEO_ID, SPAN_CHANNEL, SPAN_CLIP_INDEX = "render.video_id", "render.channel", "render.clip_index"


def job_channel(args: Sequence[Any]) -> str | None:
    """The channel of RenderVideo's raw job input, read as JSON without validating it (it may be anything)."""
    payload = getattr(args[0], "payload", None) if args else None
    try:
        job = json.loads(payload.data) if payload is not None else None
    except Exception:  # not JSON, a 5,000-digit number, nesting past the recursion limit: `other`
        return None
    channel = job.get("channel") if isinstance(job, dict) else None
    return channel if isinstance(channel, str) else None


def _record(metric: VideoMetric, value: float, labels: dict[str, str]) -> None:
    meter = workflow.metric_meter()
    if metric.kind == "counter":
        meter.create_counter(metric.name, metric.description).add(int(value), labels)
    else:
        meter.create_histogram_float(metric.name, metric.description).record(value, labels)


def video_metrics_class(channels: Channels, errors: ErrorTypes) -> type[WorkflowInboundInterceptor]:
    """A workflow interceptor class bound to this worker's configured channels."""

    class VideoMetrics(WorkflowInboundInterceptor):
        async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
            if workflow.info().workflow_type != names.WORKFLOW_NAME:
                return await super().execute_workflow(input)
            label = ""

            def channel() -> dict[str, str]:
                nonlocal label
                label = label or channels.label(job_channel(input.args))
                return {"channel": label}

            def count(metric: VideoMetric, value: float = 1, **extra: str) -> None:
                # The meter would drop it too; this spares the job's parse. An eviction cancels the
                # workflow's tasks under replay as well, so it is never counted as a cancel.
                if workflow.unsafe.is_replaying():
                    return
                try:
                    _record(metric, value, channel() | extra)
                except Exception as err:  # a metric must never fail a workflow task
                    workflow.logger.warning("video metric not recorded: %s", err)

            count(metrics.VIDEOS_STARTED)
            try:
                result = await super().execute_workflow(input)
            except BaseException as err:
                if is_cancelled_exception(err):
                    count(metrics.VIDEOS_CANCELED)
                elif isinstance(err, ApplicationError):
                    count(metrics.VIDEOS_FAILED, error_type=errors.label(err.type or "ApplicationError"))
                elif isinstance(err, FailureError):
                    count(metrics.VIDEOS_FAILED, error_type=errors.label(type(err).__name__))
                # Anything else fails the workflow task, not the video: temporal_workflow_task_execution_failed.
                raise
            count(metrics.VIDEOS_COMPLETED)
            count(metrics.TIME_TO_VIDEO, (workflow.now() - workflow.info().start_time).total_seconds())
            cost = getattr(result, "cost_usd", None)
            if isinstance(cost, int | float):
                count(metrics.VIDEO_COST, float(cost))
            return result

    return VideoMetrics


class ActivityMetrics(ActivityInboundInterceptor):
    """Queue wait and render seconds by channel, and the clip's identity on the activity's span."""

    def __init__(self, next: ActivityInboundInterceptor, channels: Channels) -> None:
        super().__init__(next)
        self.channels = channels

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        arg = input.args[0] if input.args else None
        raw_channel = getattr(arg, "channel", None)
        channel = self.channels.label(raw_channel)
        if not info.is_local and info.current_attempt_scheduled_time and info.started_time:
            wait = (info.started_time - info.current_attempt_scheduled_time).total_seconds()
            metrics.QUEUE_WAIT.labels(channel, info.task_queue).observe(max(wait, 0.0))
        span = trace.get_current_span()
        if span.is_recording():
            if video_id := getattr(arg, "video_id", None):
                span.set_attribute(SPAN_VIDEO_ID, str(video_id))
            if isinstance(raw_channel, str):
                span.set_attribute(SPAN_CHANNEL, raw_channel)
            index = getattr(arg, "index", None)  # RenderClipInput names its clip by index
            if isinstance(index, int):
                span.set_attribute(SPAN_CLIP_INDEX, index)
        started = time.monotonic()
        try:
            return await super().execute_activity(input)
        finally:
            if info.activity_type == names.RENDER_CLIP:
                metrics.CHANNEL_RENDER_SECONDS.labels(channel).inc(time.monotonic() - started)


class OperatorInterceptor(Interceptor):
    """Per-channel metrics for every worker; its channels come from configuration, never from jobs."""

    def __init__(self, channels: Channels) -> None:
        self.channels = channels
        self._workflow_class = video_metrics_class(channels, ErrorTypes())

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return ActivityMetrics(next, self.channels)

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        return self._workflow_class
