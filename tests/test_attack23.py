"""Hostile operators and jobs against the settings, the clip kinds and the ffmpeg command builder."""

from __future__ import annotations

from temporalio.testing import ActivityEnvironment

from activities.render import RenderActivities
from engine.deps import Deps
from engine.storage import file_path
from tests.media import frame
from tests.test_render_engine import clip_inputs, make_asset


async def test_an_image_whose_name_has_a_percent_sign_renders(deps: Deps) -> None:
    """ffmpeg's image demuxer reads `%` in a file name as a frame-number pattern; an asset named so still renders."""
    image = make_asset(
        deps, "we'ird:na\\me,[x];=%{pts}%d.png", "-f", "lavfi", "-i", "color=c=red:s=64x36", "-frames:v", "1",
        "-update", "1",
    )  # fmt: skip
    [inp] = clip_inputs("attack23-percent", [{"kind": "image", "duration": 1, "source": image}])
    result = await ActivityEnvironment().run(RenderActivities(deps).render, inp)
    pixels = frame(file_path(result.uri), 0.5, 320, 180)
    assert 60 < pixels[90, 160] < 100  # red, in grey: the picture was read, not a black frame
