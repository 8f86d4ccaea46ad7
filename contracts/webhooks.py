"""How a webhook URL is checked and a webhook signed, and how a receiver checks it (importable by
receivers, no service code).

Each delivery carries three headers:

    X-Render-Timestamp: 1767225600             (Unix seconds when this attempt was sent)
    X-Render-Delivery:  7c0d3f0e9a…            (unique per attempt)
    X-Render-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">

The timestamp is inside the signed material, so an old delivery replayed later fails
the age check, and a receiver that remembers delivery ids turns away a replay within
that window too. `verify` does all three checks.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import socket
import time
from collections.abc import Mapping, MutableSet
from urllib.parse import urlsplit

SIGNATURE_HEADER = "X-Render-Signature"
TIMESTAMP_HEADER = "X-Render-Timestamp"
DELIVERY_HEADER = "X-Render-Delivery"
TOLERANCE_SECONDS = 300


Address = ipaddress.IPv4Address | ipaddress.IPv6Address
NOT_PUBLIC = [
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
        "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4",
        "192.88.99.0/24", "::/96", "::ffff:0:0:0/96", "64:ff9b:1::/48", "fc00::/7", "fe80::/10", "fec0::/10",
        "ff00::/8",
    )
]  # fmt: skip
"""Beyond what `is_global` already refuses, spelled out: private, CGNAT, loopback, link-local
(169.254.169.254 and fd00:ec2::254 are the cloud metadata services), multicast, unspecified, and
IPv6 forms that carry an IPv4 address (IPv4-compatible, IPv4-translated, local NAT64)."""
NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_LEGACY_IPV4 = re.compile(r"^[0-9a-fx.]+$")


class BadWebhookUrl(ValueError):
    """A webhook URL that can never be delivered to; the message says why."""


def forbidden_address(ip: Address, *, allow_loopback: bool = False) -> bool:
    """Whether `ip` is anything but a public unicast address (IPv4 inside IPv6 is judged as IPv4)."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (
            ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in NAT64 else None
        )  # fmt: skip
        if embedded is not None:
            return forbidden_address(embedded, allow_loopback=allow_loopback)
    if allow_loopback and ip.is_loopback:
        return False
    return not ip.is_global or ip.is_multicast or any(ip in net for net in NOT_PUBLIC if net.version == ip.version)


def literal_address(host: str) -> Address | None:
    """The address a host written as one names, in any form a resolver reads (2130706433, 0x7f.1,
    127.1 are 127.0.0.1); None for a host name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _LEGACY_IPV4.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def split_url(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, request path) of a well-formed webhook URL, or BadWebhookUrl saying why.

    Strict, so that what passes validation can be sent: ASCII only (a path percent-encoded, a host
    in IDNA), no credentials, no IPv6 zone, a port from 1 to 65535, a host that is an address or
    a valid DNS name.
    """
    if not url.isascii():
        raise BadWebhookUrl("must be ASCII: percent-encode the path and write the host in IDNA (xn--…)")
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError as err:
        raise BadWebhookUrl(f"is not a valid URL: {err}") from None
    if parts.scheme not in ("http", "https"):
        raise BadWebhookUrl("is not an http:// or https:// URL")
    if "@" in parts.netloc:
        raise BadWebhookUrl("must not carry credentials")
    if not host:
        raise BadWebhookUrl("has no host")
    if "%" in host:
        raise BadWebhookUrl("must not carry an IPv6 zone")
    if port is not None and not 1 <= port <= 65535:
        raise BadWebhookUrl(f"port {port} is not from 1 to 65535")
    if literal_address(host) is None and (
        len(host) > 253 or not all(_LABEL.match(label) for label in host.removesuffix(".").split("."))
    ):
        raise BadWebhookUrl(f"{host!r} is not a valid host name")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80), path


def checked_url(url: str, hosts: tuple[str, ...] = (), *, allow_loopback: bool = False) -> tuple[str, str, int, str]:
    """`split_url`, and the farm's policy where it can be judged without a lookup: the host list,
    and a host written as an address must be public."""
    scheme, host, port, path = split_url(url)
    if hosts and host not in hosts:
        raise BadWebhookUrl(f"host {host!r} is not on this farm's list of webhook hosts")
    address = literal_address(host)
    if address is not None and forbidden_address(address, allow_loopback=allow_loopback):
        raise BadWebhookUrl(f"host {host!r} is not a public address")
    return scheme, host, port, path


class WebhookRejected(ValueError):
    """A delivery a receiver must not act on: bad signature, too old, or seen before."""


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """'sha256=' + hex HMAC-SHA256 of '<timestamp>.' followed by the raw body."""
    material = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), material, hashlib.sha256).hexdigest()


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    seen: MutableSet[str] | None = None,
    now: float | None = None,
    tolerance: float = TOLERANCE_SECONDS,
) -> str:
    """Check a delivery as received; return its delivery id, or raise WebhookRejected saying why.

    `seen`: the delivery ids already accepted (kept for at least `tolerance` seconds);
    a delivery id in it is a replay.
    """
    lower = {key.lower(): value for key, value in headers.items()}
    stamp = lower.get(TIMESTAMP_HEADER.lower(), "")
    given = lower.get(SIGNATURE_HEADER.lower(), "")
    delivery = lower.get(DELIVERY_HEADER.lower(), "")
    if not stamp.isdigit() or not given or not delivery:
        raise WebhookRejected("missing signature, timestamp or delivery id")
    if not hmac.compare_digest(given, signature(secret, int(stamp), body)):
        raise WebhookRejected("signature does not match")
    age = (time.time() if now is None else now) - int(stamp)
    if abs(age) > tolerance:
        raise WebhookRejected(f"timestamp is {age:.0f} s old; the limit is {tolerance:g} s")
    if seen is not None:
        if delivery in seen:
            raise WebhookRejected(f"delivery {delivery} was already received")
        seen.add(delivery)
    return delivery


def shown_url(url: str) -> str:
    """The URL as logs, summaries and failures show it: scheme and host only (a path or query may hold a
    receiver's token)."""
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.hostname or '?'}"
    except ValueError:
        return "(malformed URL)"
