"""How a webhook is signed, and how a receiver checks it (importable by receivers, no service code).

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
import time
from collections.abc import Mapping, MutableSet

SIGNATURE_HEADER = "X-Render-Signature"
TIMESTAMP_HEADER = "X-Render-Timestamp"
DELIVERY_HEADER = "X-Render-Delivery"
TOLERANCE_SECONDS = 300


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
