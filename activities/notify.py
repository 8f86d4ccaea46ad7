"""notify_webhook: POST a completion notice, signed, to a public address only.

The URL comes from a job, so from a tenant: it may name loopback, the cloud metadata
service, the Temporal frontend or a pod on the cluster network. The host is resolved
at delivery time, every address it resolves to must be public, and the request goes to
the address that was checked (no second lookup a DNS rebinding could answer
differently). Redirects are never followed. What the failure says is deliberately
plain: it must not tell a tenant which ports of which hosts answer.
"""

from __future__ import annotations

import asyncio
import http.client
import ipaddress
import json
import socket
import ssl
import time
import uuid
from dataclasses import dataclass

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.logs import activity_log
from contracts import names
from contracts.records import WebhookInput
from contracts.webhooks import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    BadWebhookUrl,
    checked_url,
    forbidden_address,
    shown_url,
    signature,
)

__all__ = ["SIGNATURE_HEADER", "NotifyActivities", "WebhookPolicy", "forbidden_address", "signature"]

RETRYABLE_STATUS = {408, 425, 429}
TIMEOUT_SECONDS = 20.0


@dataclass(frozen=True)
class WebhookPolicy:
    """Where webhooks may go (RENDER_WEBHOOK_HOSTS, RENDER_WEBHOOK_ALLOW_LOOPBACK)."""

    hosts: tuple[str, ...] = ()
    """Only these host names; empty: any host whose addresses are all public."""
    allow_loopback: bool = False
    """Development only: a receiver on this machine."""


class Refused(Exception):
    """The URL may never be delivered to: the same on every attempt."""


class Unreachable(Exception):
    """No delivery this time; another attempt may get through."""


def target(url: str, policy: WebhookPolicy) -> tuple[str, str, int, str]:
    """(scheme, host, port, request path) of a URL a webhook may go to, or Refused."""
    try:
        return checked_url(url, policy.hosts, allow_loopback=policy.allow_loopback)
    except BadWebhookUrl as err:
        raise Refused(str(err)) from None


def checked_address(host: str, port: int, policy: WebhookPolicy) -> str:
    """The address to connect to: every address `host` resolves to must be public, else Refused."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise Unreachable("the host name did not resolve") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addresses or any(forbidden_address(ip, allow_loopback=policy.allow_loopback) for ip in addresses):
        raise Refused(f"host {host!r} is not a public address")
    return str(addresses[0])


class _Pinned(http.client.HTTPConnection):
    """HTTP to a fixed, already-checked address; the Host header still names the host."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedTLS(_Pinned):
    """HTTPS to a fixed address, the certificate checked against the host name (SNI too)."""

    def connect(self) -> None:
        super().connect()
        self.sock = ssl.create_default_context().wrap_socket(self.sock, server_hostname=self.host)


def post(url: str, headers: dict[str, str], body: bytes, policy: WebhookPolicy) -> int:
    """POST once to a checked address; the status code (a redirect is an answer, not followed)."""
    scheme, host, port, path = target(url, policy)
    address = checked_address(host, port, policy)
    kind = _PinnedTLS if scheme == "https" else _Pinned
    connection = kind(host, port, address, TIMEOUT_SECONDS)
    try:
        connection.request("POST", path, body=body, headers=headers)
        return connection.getresponse().status
    except (OSError, http.client.HTTPException):
        raise Unreachable("no answer") from None
    finally:
        connection.close()


class NotifyActivities:
    def __init__(self, secret: str, policy: WebhookPolicy | None = None, *, enabled: bool = True) -> None:
        self.secret = secret
        self.policy = policy or WebhookPolicy()
        self.enabled = enabled

    @activity.defn(name=names.NOTIFY_WEBHOOK)
    async def notify_webhook(self, inp: WebhookInput) -> int:
        log = activity_log(video_id=inp.body.get("video_id"), url=shown_url(inp.url))
        if not self.enabled:
            raise ApplicationError("webhooks are turned off on this farm", non_retryable=True)
        if not self.secret:  # never sent unsigned: another worker, configured, may take the retry
            raise ApplicationError("webhook not sent: this worker has no signing secret")
        body = json.dumps(inp.body, sort_keys=True).encode()
        stamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: str(stamp),
            SIGNATURE_HEADER: signature(self.secret, stamp, body),
            DELIVERY_HEADER: uuid.uuid4().hex,
        }
        shown = shown_url(inp.url)
        try:
            status = await asyncio.to_thread(post, inp.url, headers, body, self.policy)
        except Refused as err:
            log.warning("webhook refused by policy", reason=str(err))
            raise ApplicationError(f"webhook {shown}: {err}; not sent", non_retryable=True) from None
        except Unreachable as err:
            log.warning("webhook unreachable", reason=str(err))
            raise ApplicationError(f"webhook {shown}: not delivered") from None
        if 300 <= status < 400:
            log.warning("webhook redirected; not followed", status=status)
            raise ApplicationError(f"webhook {shown} answered {status}; redirects are not followed", non_retryable=True)
        if status >= 400:
            retry = status >= 500 or status in RETRYABLE_STATUS
            log.warning("webhook refused", status=status, will_retry=retry)
            raise ApplicationError(f"webhook {shown} answered {status}", non_retryable=not retry)
        log.info("webhook delivered", status=status)
        return status
