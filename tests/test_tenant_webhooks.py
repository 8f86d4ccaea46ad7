"""Webhooks as a hostile tenant would aim them: internal addresses refused after resolution, no
redirects followed, failures that say nothing about ports, signatures that cannot be replayed."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.notify import NotifyActivities, WebhookPolicy, forbidden_address
from activities.validate import checked_webhook
from contracts.job import JobError, parse_job
from contracts.records import WebhookInput
from contracts.webhooks import WebhookRejected, signature, verify
from devtools.local import free_port
from engine.settings import Settings
from workers.main import WorkerConfigError, check_webhook_secret

SECRET = "tenant-test-secret"
REPO = Path(__file__).resolve().parent.parent


@dataclass
class Receiver:
    """A real HTTP server on loopback that records what reaches it and answers `status`."""

    status: int = 200
    location: str = ""
    hits: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""

    def handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.hits.append((self.command, dict(self.headers), body))
                self.send_response(receiver.status)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_GET = _answer

            def log_message(self, *_: Any) -> None:
                pass

        return Handler


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    """Two receivers: the first redirects to the second."""
    started: list[tuple[ThreadingHTTPServer, Receiver]] = []
    for _ in range(2):
        receiver = Receiver()
        server = ThreadingHTTPServer(("127.0.0.1", 0), receiver.handler())
        receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append((server, receiver))
    first, second = started[0][1], started[1][1]
    first.status, first.location = 302, second.url
    yield [first, second]
    for server, _ in started:
        server.shutdown()


async def deliver(url: str, policy: WebhookPolicy | None = None) -> int:
    notice = WebhookInput(url=url, body={"video_id": "v1", "state": "completed", "error": None})
    result: int = await ActivityEnvironment().run(NotifyActivities(SECRET, policy).notify_webhook, notice)
    return result


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "192.168.1.1", "100.64.0.1", "169.254.169.254",
     "0.0.0.0", "224.0.0.251", "255.255.255.255", "::1", "::", "fe80::1", "fd00:ec2::254", "ff02::1",
     "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1", "64:ff9b::a9fe:a9fe", "2002:7f00:1::1",
     "::7f00:1", "::ffff:0:7f00:1", "64:ff9b:1::a00:1", "192.88.99.1", "2001::1", "2001:db8::1"],
)  # fmt: skip
def test_internal_addresses_are_forbidden(address: str) -> None:
    assert forbidden_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.215.14", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_not(address: str) -> None:
    assert not forbidden_address(ipaddress.ip_address(address))


def test_loopback_is_allowed_only_when_configured_and_nothing_else_with_it() -> None:
    assert not forbidden_address(ipaddress.ip_address("127.0.0.1"), allow_loopback=True)
    assert not forbidden_address(ipaddress.ip_address("::ffff:127.0.0.1"), allow_loopback=True)
    assert forbidden_address(ipaddress.ip_address("169.254.169.254"), allow_loopback=True)
    assert forbidden_address(ipaddress.ip_address("10.0.0.1"), allow_loopback=True)


async def test_a_real_receiver_on_loopback_is_refused_by_default(receivers: list[Receiver]) -> None:
    target = receivers[1]
    for url in (target.url, target.url.replace("127.0.0.1", "localhost"), target.url.replace("127.0.0.1", "[::1]")):
        with pytest.raises(ApplicationError) as err:
            await deliver(url)
        assert err.value.non_retryable and "is not a public address; not sent" in err.value.message, url
    assert target.hits == []


@pytest.mark.parametrize(
    "url",
    ["http://169.254.169.254/latest/meta-data/iam/", "http://10.0.0.1:7233/", "http://[::ffff:a9fe:a9fe]/",
     "http://100.100.100.200/latest/meta-data/", "http://0.0.0.0:9464/status", "http://[fd00:ec2::254]/"],
)  # fmt: skip
async def test_internal_targets_are_refused_without_a_connection(url: str) -> None:
    with pytest.raises(ApplicationError) as err:
        await deliver(url)
    assert err.value.non_retryable and err.value.message.endswith("is not a public address; not sent")


async def test_a_redirect_is_not_followed(receivers: list[Receiver]) -> None:
    redirecting, elsewhere = receivers
    with pytest.raises(ApplicationError) as err:
        await deliver(redirecting.url, WebhookPolicy(allow_loopback=True))
    assert err.value.non_retryable and "answered 302; redirects are not followed" in err.value.message
    assert len(redirecting.hits) == 1 and elsewhere.hits == []


async def test_a_delivery_is_signed_over_its_timestamp_with_a_fresh_id(receivers: list[Receiver]) -> None:
    target = receivers[1]
    policy = WebhookPolicy(allow_loopback=True)
    assert await deliver(target.url, policy) == 200
    assert await deliver(target.url, policy) == 200
    seen: set[str] = set()
    ids = [verify(SECRET, headers, body, seen=seen) for _, headers, body in target.hits]
    assert len(set(ids)) == 2  # one id per attempt
    _, headers, body = target.hits[0]
    with pytest.raises(WebhookRejected, match="already received"):
        verify(SECRET, headers, body, seen=seen)  # the same delivery, replayed
    with pytest.raises(WebhookRejected, match="s old"):
        verify(SECRET, headers, body, now=time.time() + 3600)  # replayed an hour later
    with pytest.raises(WebhookRejected, match="does not match"):
        verify(SECRET, headers, body.replace(b"completed", b"failed"))
    forged = dict(headers, **{"X-Render-Timestamp": str(int(time.time()) + 5)})
    with pytest.raises(WebhookRejected, match="does not match"):  # a fresh timestamp needs the key
        verify(SECRET, forged, body)
    stamp = int(headers["X-Render-Timestamp"])
    assert headers["X-Render-Signature"] == signature(SECRET, stamp, body)


async def test_the_allow_list_limits_hosts(receivers: list[Receiver]) -> None:
    target = receivers[1]
    policy = WebhookPolicy(hosts=("hooks.example.com",), allow_loopback=True)
    with pytest.raises(ApplicationError, match="not on this farm's list of webhook hosts") as err:
        await deliver(target.url, policy)
    assert err.value.non_retryable and target.hits == []
    assert await deliver(target.url, replace(policy, hosts=("127.0.0.1",))) == 200


async def test_failures_do_not_tell_open_ports_from_closed_ones(receivers: list[Receiver]) -> None:
    """Connection refused, reset or timed out: one plain message, no detail, never a port scan."""
    policy = WebhookPolicy(allow_loopback=True)
    closed = f"http://127.0.0.1:{free_port()}/hook"
    silent = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)  # accepts, then hangs up on garbage
    silent.RequestHandlerClass = type("Hangup", (BaseHTTPRequestHandler,), {"handle": lambda self: None})
    threading.Thread(target=silent.serve_forever, daemon=True).start()
    messages = []
    for url in (closed, f"http://127.0.0.1:{silent.server_address[1]}/hook"):
        with pytest.raises(ApplicationError) as err:
            await deliver(url, policy)
        assert not err.value.non_retryable  # the receiver may come back
        messages.append(err.value.message)
    silent.shutdown()
    assert messages == ["webhook http://127.0.0.1: not delivered"] * 2


@pytest.mark.server
def test_a_control_worker_with_webhooks_refuses_to_start_without_a_secret(settings: Settings) -> None:
    with pytest.raises(WorkerConfigError, match="RENDER_WEBHOOK_SECRET is empty"):
        check_webhook_secret(settings.replace(webhooks={"secret": ""}))
    check_webhook_secret(settings.replace(webhooks={"secret": "", "enabled": False}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RENDER_", "TEMPORAL_"))}
    env |= {"PYTHONPATH": str(REPO), "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}", "RENDER_HEALTH_PORT": "0"}
    done = subprocess.run([sys.executable, "-m", "workers", "--mode", "control"], env=env, capture_output=True,
                          timeout=60, text=True)  # fmt: skip
    assert done.returncode == 2
    said = [line for line in (done.stdout + done.stderr).splitlines() if "RENDER_WEBHOOK_SECRET" in line]
    assert len(said) == 1 and "set it, or RENDER_WEBHOOKS=false" in said[0]


def webhook_job(url: str) -> dict[str, Any]:
    return {"video_id": "hooked", "clips": [{"kind": "card", "duration": 1}], "webhook_url": url}


@pytest.mark.parametrize(
    ("url", "reason"),
    [("http://[::1/", "is not a valid URL"), ("http://example.com/ü", "must be ASCII"),
     ("http://exämple.com/", "must be ASCII"), ("http://:80/", "has no host"),
     ("http://a:b@example.com/", "must not carry credentials"), ("http://a@example.com/", "must not carry credentials"),
     ("http://example.com:99999/", "Port out of range"), ("http://example.com:0/", "port"),
     ("http://[fe80::1%25lo]/", "zone"), ("http://exa mple.com/", "expected an http:// or https:// URL"),
     ("http://-bad-.example.com/", "is not a valid host name")],
)  # fmt: skip
def test_a_malformed_webhook_url_is_refused_naming_the_field(url: str, reason: str) -> None:
    with pytest.raises(JobError) as err:
        parse_job(webhook_job(url))
    assert err.value.field == "webhook_url" and reason in err.value.message, err.value.message


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1/", "http://2130706433/", "http://0x7f.1/", "http://127.1:8080/", "http://[::1]/",
     "http://169.254.169.254/latest/", "http://[::ffff:a9fe:a9fe]/", "http://10.0.0.1:7233/"],
)  # fmt: skip
def test_a_literal_internal_address_is_refused_at_validation(url: str) -> None:
    assert parse_job(webhook_job(url)).webhook_url == url  # the contract alone cannot know the farm's policy
    with pytest.raises(JobError) as err:
        checked_webhook(parse_job(webhook_job(url)), WebhookPolicy())
    assert err.value.field == "webhook_url" and "is not a public address" in err.value.message
    if "127" in url or "::1" in url or "0x7f" in url:
        checked_webhook(parse_job(webhook_job(url)), WebhookPolicy(allow_loopback=True))


def test_a_public_webhook_url_passes_validation() -> None:
    for url in ("https://hooks.example.com:8443/a%20b?x=1", "http://93.184.215.14/", "https://xn--exmple-cua.com/"):
        checked_webhook(parse_job(webhook_job(url)), WebhookPolicy())


@pytest.mark.parametrize(
    "url", ["http://[::1/", "http://example.com/ü", "http://[fe80::1%25lo]/", "http://2130706433/"]
)
async def test_a_malformed_url_at_delivery_is_refused_not_retried(url: str) -> None:
    """A URL that slipped past validation (an older job) fails once, never on 150 retries."""
    with pytest.raises(ApplicationError) as err:
        await deliver(url)
    assert err.value.non_retryable and err.value.message.endswith("not sent"), err.value.message
