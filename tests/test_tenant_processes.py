"""What a tenant's media meets on a worker: ffmpeg without the worker's secrets, and health
endpoints that slow clients cannot hold."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import urllib.request
from pathlib import Path

import pytest
from temporalio.testing import ActivityEnvironment

from activities.render import RenderActivities
from contracts.job import parse_job
from contracts.plan import plan_video
from contracts.records import ClipResult, ClipWork
from engine import metrics
from engine.deps import Deps
from engine.media.process import child_env
from engine.scratch import child_home
from engine.settings import Settings
from workers.health import HealthServer, WorkerState
from workers.http import serve_routes
from workers.main import WorkerOptions

SECRETS = {
    "AWS_SECRET_ACCESS_KEY": "aws-secret-value-123",
    "AWS_ACCESS_KEY_ID": "AKIATENANTTEST",
    "RENDER_WEBHOOK_SECRET": "webhook-secret-456",
    "TEMPORAL_API_KEY": "temporal-key-789",
}


def children_named(name: str) -> list[int]:
    """Pids of this process's children running `name`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        command, _, rest = stat.partition("(")[2].rpartition(")")
        if command == name and int(rest.split()[1]) == os.getpid():
            found.append(int(entry.name))
    return found


def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.decode().partition("=")[::2] for item in raw.split(b"\0") if item)


async def test_ffmpeg_started_by_a_render_sees_none_of_the_worker_s_secrets(
    deps: Deps, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    clip = {"kind": "recipe", "recipe": "mandelbrot", "duration": 3, "params": {"maxiter": 2000}}
    job = {"video_id": "env-probe", "profile": {"width": 320, "height": 180}, "clips": [clip]}
    plan = plan_video(parse_job(job))
    inp = ClipWork("env-probe", plan.clips[0], plan.profile, "en", 1.0)
    render = asyncio.ensure_future(ActivityEnvironment().run(RenderActivities(deps).render, inp))
    seen: dict[int, dict[str, str]] = {}
    while not render.done():
        for pid in children_named("ffmpeg"):
            with contextlib.suppress(OSError):  # it may end between the listing and the read
                seen.setdefault(pid, environ_of(pid))
        await asyncio.sleep(0.02)
    result = await render
    assert isinstance(result, ClipResult)
    assert seen, "no running ffmpeg was seen"
    home = str(child_home(settings.storage.scratch_dir))
    for pid, env in seen.items():
        assert not set(env) & SECRETS.keys(), pid
        assert not set(env.values()) & set(SECRETS.values()), pid
        assert env["HOME"] == env["TMPDIR"] == home and env["LANG"] == "C.UTF-8"
        assert env["PATH"] and env["CUDA_VISIBLE_DEVICES"] == "0"  # what NVENC needs is kept
        assert set(env) <= {"PATH", "HOME", "TMPDIR", "LANG", "CUDA_VISIBLE_DEVICES", "LD_LIBRARY_PATH"}


def test_the_child_environment_keeps_only_what_media_tools_need() -> None:
    worker = {"PATH": "/usr/bin", "NVIDIA_VISIBLE_DEVICES": "all", "NVIDIA_DRIVER_CAPABILITIES": "video",
              "LD_LIBRARY_PATH": "/usr/local/nvidia/lib64", "PYTHONPATH": "/app", **SECRETS}  # fmt: skip
    env = child_env(worker)
    assert set(env) == {"PATH", "NVIDIA_VISIBLE_DEVICES", "NVIDIA_DRIVER_CAPABILITIES", "LD_LIBRARY_PATH",
                        "HOME", "TMPDIR", "LANG"}  # fmt: skip


def get(port: int, path: str = "/healthz") -> tuple[int, bytes]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return response.status, response.read()


async def test_slow_clients_cannot_hold_the_health_port() -> None:
    """Many connections that send nothing: probes still get answers, the idle ones are closed."""
    server = serve_routes({"/healthz": lambda: (200, b"ok\n", "text/plain")}, "127.0.0.1", 0, "test-health",
                          max_connections=4, timeout_seconds=1.0)  # fmt: skip
    port = int(server.server_address[1])
    try:
        slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(40)]
        for _ in range(5):  # while they sit there, a probe still gets through
            assert await asyncio.to_thread(get, port) == (200, b"ok\n")
        assert server.open_connections() <= 4 + 1
        for sock in slow:  # every idle one is closed by the server: evicted or timed out
            sock.settimeout(30)
            assert await asyncio.to_thread(sock.recv, 1) == b""
            sock.close()
        assert server.evicted > 0
        trickle = socket.create_connection(("127.0.0.1", port))
        trickle.settimeout(30)

        async def dribble() -> None:  # a byte a bit under the read timeout, forever
            try:
                for byte in b"GET /healthz HTTP/1.1\r\nX-Slow: " + b"a" * 1000:
                    trickle.send(bytes([byte]))
                    await asyncio.sleep(0.5)
            except OSError:
                pass

        sender = asyncio.ensure_future(dribble())
        assert await asyncio.to_thread(trickle.recv, 1) == b""  # cut at the overall deadline
        sender.cancel()
        trickle.close()
        assert await asyncio.to_thread(get, port) == (200, b"ok\n")
    finally:
        server.shutdown()
        server.server_close()


def test_the_health_server_binds_loopback_and_status_can_hide_ids() -> None:
    key = ("tenant-a-secret-video", 0)
    metrics.IN_FLIGHT[key] = metrics.ClipInFlight("tenant-a-secret-video", 0, 10, 100, "libx264")
    try:
        for detail, shown in (("counts", False), ("full", True)):
            state = WorkerState(mode="gpu", task_queues=["render-gpu"], render_slots=2, encoder="libx264",
                                status_detail=detail)  # fmt: skip
            with HealthServer(state, "127.0.0.1", 0) as health:
                assert health.httpd is not None and health.httpd.server_address[0] == "127.0.0.1"
                status, body = get(health.port, "/status")
            assert status == 200 and (b"tenant-a-secret-video" in body) == shown
            assert json.loads(body)["render_slots"]["used"] == 1
    finally:
        metrics.IN_FLIGHT.pop(key, None)
    assert WorkerOptions().health_address == "127.0.0.1"
