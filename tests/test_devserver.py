"""The embedded dev server is ready for a client the moment `start` returns."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import Client

from devtools import devserver
from devtools.local import free_port


def test_nothing_listening_is_not_serving() -> None:
    assert not devserver.frontend_serving(free_port())


@pytest.mark.server
async def test_a_client_connects_at_once_after_start(tmp_path: Path) -> None:
    port = free_port()
    devserver.start(tmp_path, port, free_port())
    try:
        assert devserver.frontend_serving(port)
        client = await Client.connect(f"127.0.0.1:{port}")
        assert (await client.service_client.check_health()) is True
    finally:
        assert devserver.stop(tmp_path)
