"""Screenshots of the Temporal Web UI's workflow page while a video renders and after, taken by a real browser.

Starts a local cluster of its own (a dev server with its Web UI on free ports, one worker process), submits a
small bilingual trivia job with a few slow procedural clips, and shoots the video's workflow page with Debian's
headless chromium (`chromium --headless --screenshot`): its first tab, User Metadata and Pending Activities
while a clip renders (the current details: stage, clips and frames; the clip in flight and its progress), and
again when the video is done (the summary). The PNGs land in the folder given (default var/webui-shots/);
look at them.

    scripts/webui-shots [OUT_DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.server
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus

from devtools.local import LocalCluster
from starter import RenderClient

REPO = Path(__file__).resolve().parent.parent
WINDOW = (1600, 1300)
JS_SECONDS = 8
"""Seconds the Web UI gets to load its data and draw before the shot."""


def browser() -> str | None:
    """Debian's chromium (or Chrome) on PATH; None when none is installed."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


WAIT = "/__webui_shots_wait"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}


class _Holder(http.server.BaseHTTPRequestHandler):
    """The Web UI through a proxy that holds each page's `load` event back for `JS_SECONDS`.

    Headless chromium shoots at `load`, and the Web UI (a single-page app) draws only once its scripts have
    fetched the data: an image that takes `JS_SECONDS` to arrive is added to the page, so the shot waits for
    the drawing. (`--virtual-time-budget` cannot wait instead: a running workflow's page keeps a request
    open, so virtual time never runs out; and the Web UI refuses to be framed.)"""

    upstream = ""
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path == WAIT:
            time.sleep(JS_SECONDS)
            self._reply(200, [("Content-Type", "image/gif")], GIF)
            return
        self._forward()

    def do_POST(self) -> None:
        self._forward()

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP | {"host", "accept-encoding"}}
        request = urllib.request.Request(self.upstream + self.path, data=data, headers=headers, method=self.command)
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                status, items, body = answer.status, answer.getheaders(), answer.read()
        except urllib.error.HTTPError as err:
            status, items, body = err.code, err.headers.items(), err.read()
        kept = [(k, v) for k, v in items if k.lower() not in HOP_BY_HOP]
        if any(k.lower() == "content-type" and v.startswith("text/html") for k, v in kept):
            body = body.replace(b"</body>", f'<img src="{WAIT}" alt="" style="display:none"></body>'.encode(), 1)
        self._reply(status, kept, body)

    def _reply(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        with contextlib.suppress(ConnectionError):  # the browser leaves once it has its shot
            self.send_response(status)
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


GIF = bytes.fromhex("47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b")
"""A 1x1 transparent GIF."""


def shoot(binary: str, ui: str, path: str, out: Path, window: tuple[int, int] = WINDOW) -> Path:
    """One PNG of the Web UI at `ui` + `path` as headless chromium draws it, `JS_SECONDS` after it starts loading."""
    handler = type("Holder", (_Holder,), {"upstream": ui})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with tempfile.TemporaryDirectory(prefix="webui-shots-profile-") as profile:
            command = [
                binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                f"--user-data-dir={profile}", f"--window-size={window[0]},{window[1]}",
                f"--screenshot={out}", f"http://127.0.0.1:{server.server_address[1]}{path}",
            ]  # fmt: skip
            done = subprocess.run(command, capture_output=True, timeout=JS_SECONDS + 60, check=False)
    finally:
        server.shutdown()
        server.server_close()
    if not out.exists() or out.stat().st_size == 0:
        raise RuntimeError(f"chromium wrote no screenshot of {path}: {done.stderr.decode(errors='replace')[-500:]}")
    return out


def job(video_id: str) -> dict[str, Any]:
    """A bilingual trivia video with slow clips between: long enough to be caught rendering."""
    return {
        "video_id": video_id,
        "profile": {"width": 1280, "height": 720},
        "tts_voice": "en-US",
        "theme": "midnight",
        "question_seconds": 3,
        "reveal_seconds": 2,
        "questions": [
            {
                "question": "What is the capital of France?",
                "answer_a": "Paris",
                "answer_b": "Lyon",
                "answer_c": "Nice",
                "answer_d": "Lille",
                "correct_answer": "Paris",
            },
            {
                "question": "¿Cuál es la capital de España?",
                "answer_a": "Madrid",
                "answer_b": "Sevilla",
                "answer_c": "Valencia",
                "answer_d": "Bilbao",
                "correct_answer": "Madrid",
                "language": "es",
            },
        ],
        # Lengths of their own: equal clips would be rendered once and copied.
        "clips": [{"kind": "recipe", "recipe": "mandelbrot", "duration": 8 + n} for n in range(3)],
        "max_parallel_clips": 1,
    }


PAGES = {"history": "history", "metadata": "user-metadata", "pending": "pending-activities"}
"""The workflow page's tabs shot: its first tab (Event History), User Metadata, Pending Activities."""


async def until_rendering(renders: RenderClient, video_id: str, timeout: float = 120) -> None:
    """Wait until a procedural clip's render heartbeats its `rendering` stage: a clip in the middle of its render."""
    deadline = time.monotonic() + timeout
    while True:
        desc = await renders.describe(video_id)
        for pending in desc.raw_description.pending_activities:
            for payload in pending.heartbeat_details.payloads:
                beat = json.loads(payload.data)
                if isinstance(beat, dict) and "recipe" in str(beat.get("clip")) and beat.get("stage") == "rendering":
                    return
        if desc.status != WorkflowExecutionStatus.RUNNING:
            raise RuntimeError(f"{video_id} ended before a shot could be taken while it rendered")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{video_id} never reached its clip renders")
        await asyncio.sleep(0.1)


async def shots(out: Path, binary: str) -> list[Path]:
    """Shoot the workflow page's tabs while a clip renders and when the video is done."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="webui-shots-") as data:
        # A long heartbeat timeout: the render worker is held still (SIGSTOP) while the browser shoots, so the
        # in-flight shots show one moment of a real render, however slow the machine, and nothing is retried.
        env = {"RENDER_WEBHOOKS": "false", "RENDER_SLOTS": "1", "RENDER_HEARTBEAT_SECONDS": "300"}
        cluster = LocalCluster(Path(data), env=env)
        try:
            cluster.start_server()
            cluster.start_worker("control")
            gpu = cluster.start_worker("gpu")
            renders = RenderClient(await Client.connect(cluster.address))
            video_id = f"webui-shots-{time.strftime('%Y%m%d-%H%M%S')}"
            await renders.submit(job(video_id))
            run_id = (await renders.describe(video_id)).run_id
            ui = f"http://127.0.0.1:{cluster.ui_port}"
            base = f"/namespaces/default/workflows/{video_id}/{run_id}"
            taken = []
            await until_rendering(renders, video_id)
            gpu.send_signal(signal.SIGSTOP)
            try:
                status = await renders.status(video_id)
                print(f"during: {status.stage}, {status.clips_done}/{status.clips_total} clips", file=sys.stderr)
                for name, tab in PAGES.items():
                    taken.append(
                        await asyncio.to_thread(shoot, binary, ui, f"{base}/{tab}", out / f"during-{name}.png")
                    )
            finally:
                gpu.send_signal(signal.SIGCONT)
            result = await asyncio.wait_for(renders.result(video_id), timeout=600)
            print(f"after: {result.clips} clips, {result.duration_s:.1f} s of video", file=sys.stderr)
            for name in ("history", "metadata"):
                taken.append(
                    await asyncio.to_thread(shoot, binary, ui, f"{base}/{PAGES[name]}", out / f"after-{name}.png")
                )
            return taken
        finally:
            cluster.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="webui-shots", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?", type=Path, default=REPO / "var" / "webui-shots")
    args = parser.parse_args(argv)
    binary = browser()
    if binary is None:
        print("webui-shots: no chromium on PATH (apt-get install chromium)", file=sys.stderr)
        return 2
    for path in asyncio.run(shots(args.out, binary)):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
