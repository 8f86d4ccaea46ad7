"""What a hash is taken over: fields added after outputs were first made count only when set."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def without_defaults(material: dict[str, Any], added_later: Mapping[str, object]) -> dict[str, Any]:
    """`material` without the later-added fields that still hold their defaults, so a job, clip or theme
    that leaves them alone hashes as it did before they existed (its published output and its clips'
    keys stay its own)."""
    for name, default in added_later.items():
        if name in material and material[name] == default:
            del material[name]
    return material
