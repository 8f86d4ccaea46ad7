"""A newcomer's first hour, as CI: a fresh clone, the README's quick start in order, then their own job.

Covers: `git clone`, `scripts/demo` (bootstrap, dev server, the sample video), then `render submit
job.json --wait` for a job of the user's own, which must say within seconds that no worker serves it
(the demo's have gone) rather than stall; Ctrl-C, which leaves the render waiting; then, as the quick
start says, a worker started beside the dev server the demo left running, and `render watch` until
the render completes. The clone reuses this checkout's bootstrapped
virtual environment through a symlink (its packages are already installed; the clone's own code is put
first on the import path and checked to be the code that runs), so the test costs the two renders,
not a reinstall. The dev server listens on a free port (TEMPORAL_ADDRESS), so a server already
running on 7233 is left alone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.local import free_port

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.newcomer


@pytest.fixture
def clone(tmp_path: Path) -> Iterator[Path]:
    where = tmp_path / "render-service"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(where)], check=True, timeout=120)
    (where / ".venv").symlink_to(Path(sys.prefix))
    # The clone's files are all new; bootstrap reinstalls when pyproject.toml is newer than the venv's mark.
    os.utime(where / "pyproject.toml", (0, 0))
    yield where
    subprocess.run([str(where / ".venv/bin/render-dev"), "dev-server", "stop"], cwd=where, env=newcomer_env(where),
                   capture_output=True, timeout=60)  # fmt: skip


def newcomer_env(clone: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "RENDER_"))}
    return {**env, "PYTHONPATH": str(clone), **extra}


def test_a_fresh_clone_runs_the_demo_then_renders_its_own_job(clone: Path, tmp_path: Path) -> None:
    env = newcomer_env(
        clone,
        TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}",
        TEMPORAL_UI_URL=f"http://localhost:{free_port()}",
        RENDER_HEALTH_PORT="0",
    )
    python = clone / ".venv/bin/python"
    where = subprocess.run([str(python), "-c", "import starter, workers; print(starter.__file__, workers.__file__)"],
                           cwd=clone, env=env, capture_output=True, text=True, check=True)  # fmt: skip
    assert all(path.startswith(str(clone)) for path in where.stdout.split()), where.stdout  # the clone's code runs

    demo = subprocess.run(["scripts/demo"], cwd=clone, env=env, capture_output=True, text=True, timeout=600)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "rendered trivia-sample-" in demo.stdout and f"file://{clone}/var/output/" in demo.stdout
    assert "RENDER_WEBHOOKS=false .venv/bin/render-worker" in demo.stdout  # how to render one's own jobs after it

    job = {
        "video_id": "my-first-video",
        "profile": {"width": 320, "height": 180},
        "clips": [{"kind": "card", "duration": 1, "lines": ["My own video"]},
                  {"kind": "recipe", "recipe": "mandelbrot", "duration": 1}],
    }  # fmt: skip
    (clone / "job.json").write_text(json.dumps(job))
    # The demo's workers have gone (the server lists them for a while yet): the render waits, and says why.
    early = subprocess.Popen([".venv/bin/render", "submit", "job.json", "--wait"], cwd=clone, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    watchdog = threading.Timer(120, early.kill)
    watchdog.start()
    assert early.stderr is not None
    said = [early.stderr.readline()]
    while said[-1] and "no worker" not in said[-1]:
        said.append(early.stderr.readline())
    # The hint runs as printed: the worker's path (not on PATH here) and the setting it needs without a key.
    started = "render: no worker polls render-control; start one with `RENDER_WEBHOOKS=false .venv/bin/render-worker`"
    assert started in said[-1], said
    early.send_signal(signal.SIGINT)  # the newcomer stops watching to start a worker
    _, rest = early.communicate(timeout=60)
    watchdog.cancel()
    assert early.returncode == 130 and "my-first-video goes on rendering" in rest, rest

    # The quick start: a worker in another terminal, beside the dev server the demo left running.
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen([".venv/bin/render-worker"], cwd=clone, env={**env, "RENDER_WEBHOOKS": "false"},
                              stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while "worker started" not in (tmp_path / "worker.log").read_text() and time.monotonic() < deadline:
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()
            time.sleep(0.2)
        watch = subprocess.run([".venv/bin/render", "watch", "my-first-video"], cwd=clone, env=env,
                               capture_output=True, text=True, timeout=300)  # fmt: skip
        assert watch.returncode == 0, watch.stdout + watch.stderr
        assert f"rendered my-first-video: file://{clone}/var/output/my-first-video.mp4" in watch.stdout
        assert (clone / "var/output/my-first-video.mp4").stat().st_size > 0
    finally:
        worker.terminate()
        worker.wait(timeout=90)
        log.close()
