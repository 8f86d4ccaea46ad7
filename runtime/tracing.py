"""Traces: OpenTelemetry through `temporalio.contrib.opentelemetry`, one trace per video.

On when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set: spans go
by OTLP/HTTP (the exporter reads the OpenTelemetry SDK's own variables for the rest); off, and
nothing imported, otherwise. Workers put the interceptor on their workers; the `render` CLI on its
client, so a video it submits starts its trace with the StartWorkflow span.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping

import structlog
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from temporalio import workflow
from temporalio.contrib.opentelemetry import TracingInterceptor, TracingWorkflowInboundInterceptor
from temporalio.worker import WorkflowInterceptorClassInput

log = structlog.get_logger(__name__)

OTLP_ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
"""The OpenTelemetry SDK's own variables: either one turns tracing on."""
Carrier = dict[str, str | list[str]]
"""A text map of trace context, as the SDK's tracing interceptor keeps it."""
_configured: VideoTracing | None = None


class VideoTraceInbound(TracingWorkflowInboundInterceptor):
    """A video started without a client span (the `temporal` CLI, a schedule, an untraced starter) still
    gets one trace: its parent is derived from the workflow and run ids, the same on every replay, so
    spans recorded after a worker restart join the same trace instead of starting orphans."""

    def _load_workflow_context_carrier(self) -> Carrier | None:
        if carrier := super()._load_workflow_context_carrier():
            return carrier
        info = workflow.info()
        digest = hashlib.sha256(f"{info.workflow_id}/{info.run_id}".encode()).digest()
        parent = SpanContext(
            trace_id=int.from_bytes(digest[:16]),
            span_id=int.from_bytes(digest[16:24]),
            is_remote=True,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
        made: Carrier = {}
        self.text_map_propagator.inject(made, trace.set_span_in_context(NonRecordingSpan(parent)))
        self._workflow_context_carrier = made
        return made


class VideoTracing(TracingInterceptor):
    """`TracingInterceptor` whose workflows always join their video's trace (see `VideoTraceInbound`)."""

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[TracingWorkflowInboundInterceptor]:
        super().workflow_interceptor_class(input)  # registers the extern that records workflow spans
        return VideoTraceInbound


def tracing_interceptor(environ: Mapping[str, str] | None = None) -> TracingInterceptor | None:
    """Traces by OTLP/HTTP when an OTLP endpoint is configured, else None (no tracer, no cost).

    The tracer provider is process-wide: it is made once, and later calls return the same interceptor.
    """
    global _configured
    env = os.environ if environ is None else environ
    if not any(env.get(name) for name in OTLP_ENDPOINTS):
        return None
    if _configured is not None:
        return _configured
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": env.get("OTEL_SERVICE_NAME", "render")}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    log.info("tracing on", endpoint=next(env[n] for n in OTLP_ENDPOINTS if env.get(n)))
    _configured = VideoTracing(provider.get_tracer("render"))
    return _configured


def flush_traces() -> None:
    """Send the spans still batched before the process exits (it ends with os._exit)."""
    shutdown = getattr(trace.get_tracer_provider(), "shutdown", None)
    if callable(shutdown):
        shutdown()
