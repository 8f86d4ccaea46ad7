"""Structured logs: console locally, JSON in production; colour only on a terminal."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

SECRET_WORDS = ("secret", "password", "token", "api_key", "credential", "authorization")


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Never log credentials, even when a caller passes them by mistake."""
    for key in list(event):
        if any(word in key.lower() for word in SECRET_WORDS):
            event[key] = "[redacted]"
    return event


def console_renderer(stream: TextIO) -> structlog.dev.ConsoleRenderer:
    """Colours and rich tracebacks on a terminal; plain text in a file or a pipe, which would keep the escapes."""
    if stream.isatty():
        return structlog.dev.ConsoleRenderer()
    return structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)


def configure_logging(fmt: str = "console", level: str = "INFO") -> None:
    renderer: Any = structlog.processors.JSONRenderer() if fmt == "json" else console_renderer(sys.stderr)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
