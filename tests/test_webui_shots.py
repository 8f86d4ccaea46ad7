"""devtools.webui_shots' browser side: headless chromium shoots a page through the proxy that holds its `load`
back until scripts have drawn it. (The whole script, a render and five shots, takes a minute or two: run
`scripts/webui-shots` by hand and look at the PNGs.)"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from devtools import webui_shots

DRAWN_LATE = b"""<!doctype html><body style="margin:0;background:#fff">
<div id="box" style="width:100vw;height:100vh"></div>
<script>setTimeout(() => { document.getElementById("box").style.background = "#c00000"; }, 1000);</script>
</body>"""


class _Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(DRAWN_LATE)))
        self.end_headers()
        self.wfile.write(DRAWN_LATE)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def site() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_shot_waits_for_what_the_pages_scripts_draw(
    site: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary = webui_shots.browser()
    if binary is None:
        pytest.skip("no chromium on PATH")
    monkeypatch.setattr(webui_shots, "JS_SECONDS", 2)
    out = webui_shots.shoot(binary, site, "/", tmp_path / "page.png", window=(320, 240))
    with Image.open(out) as shot:
        assert shot.size == (320, 240)
        red, green, blue = shot.convert("RGB").getpixel((160, 120))  # type: ignore[misc]
    assert red > 150 and green < 60 and blue < 60  # drawn 1 s after load began: the shot waited for it
