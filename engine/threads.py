"""Blocking work in a thread that a cancel can stop, and waits for: nothing runs on behind the caller's back.

A cancel does not reach work in a thread, so `stoppable` hands the thread a `threading.Event` that it checks
between chunks, and waits for the thread to finish before the cancel goes on: abandoned work never publishes
afterwards. Plain asyncio and threading; the activities' heartbeats (`activities.keeper`) build on it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from contextlib import suppress
from typing import Any, TypeVar

T = TypeVar("T")


class Stopped(Exception):
    """Blocking work saw its stop event and gave up before finishing (or publishing)."""


async def stoppable(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run `fn(*args, stop=event, **kwargs)` in a thread; a cancel sets `event` and waits for the thread.

    `fn` checks `stop` between chunks and raises `Stopped` (or returns) without
    publishing anything once it is set. The cancel is re-raised only after the
    thread has finished, so nothing runs on behind the caller's back.
    """
    stop = threading.Event()
    future = asyncio.ensure_future(asyncio.to_thread(fn, *args, stop=stop, **kwargs))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        stop.set()
        with suppress(BaseException):
            await future
        raise


async def in_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run a short blocking call (a HEAD, a small write) in a thread; a cancel waits for it like `stoppable`."""
    return await stoppable(lambda *given, stop: fn(*given), *args)
