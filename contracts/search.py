"""Custom search attributes: what `temporal workflow list --query` and the Web UI filter on."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

VIDEO_STATUS = SearchAttributeKey.for_keyword("VideoStatus")
CHANNEL = SearchAttributeKey.for_keyword("Channel")
CLIP_COUNT = SearchAttributeKey.for_int("ClipCount")
ENCODER = SearchAttributeKey.for_keyword("Encoder")
COST_USD = SearchAttributeKey.for_float("CostUsd")

ALL = (VIDEO_STATUS, CHANNEL, CLIP_COUNT, ENCODER, COST_USD)
CLI_TYPES: dict[type, str] = {str: "Keyword", int: "Int", float: "Double"}
"""Search-attribute kinds as `temporal operator search-attribute create --type` names them."""


def cli_definitions() -> dict[str, str]:
    """Name → CLI type, for registering them on a server."""
    return {key.name: CLI_TYPES[key.value_type] for key in ALL}
