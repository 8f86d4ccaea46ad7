"""Many channels on one farm: Temporal task priority and fairness keys, per-channel settings.

Every task a video schedules carries its job's priority key and its channel as the
fairness key, so the matching service dispatches urgent work first and, within one
priority, shares render workers between channels in proportion to their weights:
one channel's backlog of thousands of clips cannot starve another channel's video.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from temporalio.common import Priority

FAIRNESS_KEY_BYTES = 64
"""Temporal's limit on a fairness key."""
ANY_CHANNEL = "*"
"""In a channel map, the entry for every channel not named."""


def fairness_key(channel: str) -> str:
    """The channel as a fairness key: as it is when it fits, else a stable digest (channels allow 64 characters)."""
    if len(channel.encode()) <= FAIRNESS_KEY_BYTES:
        return channel
    return "sha256:" + hashlib.sha256(channel.encode()).hexdigest()[:48]


def task_priority(priority: int, channel: str, weight: float | None = None) -> Priority:
    """What every task of a video carries: its job's priority key, its channel's fairness key and weight.

    Temporal's type is imported here, not above: the engine reads this module's channel maps and never
    loads Temporal."""
    from temporalio.common import Priority

    return Priority(priority_key=priority, fairness_key=fairness_key(channel), fairness_weight=weight)


def parse_channel_map(value: str, variable: str) -> dict[str, float]:
    """'news=4,kids=0.5,*=1' → {'news': 4.0, 'kids': 0.5, '*': 1.0}; a bad entry names itself."""
    found: dict[str, float] = {}
    for entry in filter(None, (part.strip() for part in value.split(","))):
        name, sep, number = entry.rpartition("=")
        try:
            amount = float(number)
        except ValueError:
            amount = -1.0
        if not sep or not name.strip() or not amount > 0 or amount == float("inf"):
            raise ValueError(f"{variable}: {entry!r} is not CHANNEL=NUMBER with a number > 0")
        found[name.strip()] = amount
    return found


def for_channel(values: dict[str, float], channel: str, default: float | None = None) -> float | None:
    """A channel's own entry, else the '*' entry, else `default`."""
    return values.get(channel, values.get(ANY_CHANNEL, default))
