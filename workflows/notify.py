"""NotifyWebhook: deliver one completion notice, retrying with backoff until the receiver takes it."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from contracts import names
    from contracts.records import WebhookInput
    from contracts.webhooks import shown_url

# Receivers go down for minutes, not seconds: back off up to ten minutes, for about a day.
WEBHOOK_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
    maximum_attempts=150,
    non_retryable_error_types=[names.INVALID_JOB],
)


@workflow.defn(name=names.NOTIFY_WORKFLOW_NAME)
class NotifyWebhook:
    @workflow.run
    async def run(self, inp: WebhookInput) -> None:
        await workflow.execute_activity(
            names.NOTIFY_WEBHOOK,
            inp,
            task_queue=names.CONTROL_QUEUE,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=WEBHOOK_RETRY,
            summary=f"POST {shown_url(inp.url)} ({inp.body.get('state')})",
        )
