"""notify_webhook: POST a completion notice signed with HMAC-SHA256 of the body."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import urllib.error
import urllib.request

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.logs import activity_log
from contracts import names
from contracts.records import WebhookInput

SIGNATURE_HEADER = "X-Render-Signature"
RETRYABLE_STATUS = {408, 425, 429}


def signature(secret: str, body: bytes) -> str:
    """What receivers recompute: 'sha256=' + hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class NotifyActivities:
    def __init__(self, secret: str) -> None:
        self.secret = secret

    @activity.defn(name=names.NOTIFY_WEBHOOK)
    async def notify_webhook(self, inp: WebhookInput) -> int:
        body = json.dumps(inp.body, sort_keys=True).encode()
        request = urllib.request.Request(inp.url, data=body, method="POST")
        request.add_header("Content-Type", "application/json")
        request.add_header(SIGNATURE_HEADER, signature(self.secret, body))
        request.add_header("X-Render-Delivery", f"{activity.info().workflow_id}")
        log = activity_log(video_id=inp.body.get("video_id"), url=inp.url)
        try:
            status = await asyncio.to_thread(_post, request)
        except urllib.error.HTTPError as err:
            retry = err.code >= 500 or err.code in RETRYABLE_STATUS
            log.warning("webhook refused", status=err.code, will_retry=retry)
            raise ApplicationError(f"webhook {inp.url} answered {err.code}", non_retryable=not retry) from None
        except (urllib.error.URLError, OSError) as err:
            log.warning("webhook unreachable", reason=str(err))
            raise ApplicationError(f"webhook {inp.url} unreachable: {err}") from None
        log.info("webhook delivered", status=status)
        return status


def _post(request: urllib.request.Request) -> int:
    with urllib.request.urlopen(request, timeout=20) as response:
        return int(response.status)
