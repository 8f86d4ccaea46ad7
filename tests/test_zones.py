"""Nothing but background under the short-video players' own interface, in every portrait and square shape.

Each built-in theme's question and reveal are drawn without their background (what the clip lays over it),
with the longest answers the layout must hold; inside every platform zone the picture is fully transparent,
and the countdown ring and the progress bar (overlaid per frame) stay outside them too.
"""

from __future__ import annotations

import numpy as np
import pytest

from contracts.job import parse_job
from contracts.plan import plan_video
from contracts.themes import BUILTIN_THEMES
from engine.deps import Deps
from engine.media.layers import Fonts
from engine.media.themed import countdown_rings, regions, still_frame, theme_fonts
from engine.media.zones import PLATFORM_ZONES, zones

SHAPES = {"9:16": (1080, 1920), "4:5": (1080, 1350), "1:1": (1080, 1080)}
LONG = "Two long words answer here as well"


def question_job(width: int, height: int) -> dict[str, object]:
    clip = {"kind": "question", "question": "Which of these is the largest planet in the solar system?",
            "answers": ["Jupiter", LONG, "A third answer that is quite long", "Mercury"], "correct": 1}  # fmt: skip
    return {"video_id": "zones", "profile": {"width": width, "height": height, "fps": 5}, "clips": [clip]}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", BUILTIN_THEMES)
def test_nothing_but_background_inside_any_platform_zone(deps: Deps, name: str, shape: str) -> None:
    w, h = SHAPES[shape]
    theme = BUILTIN_THEMES[name]
    job = parse_job(question_job(w, h))
    fonts = theme_fonts(theme, Fonts(deps.settings.render.font, deps.settings.render.font_bold))
    found = zones(w, h)
    assert any("buttons" in zone for zone, _ in found)  # the right-hand column reaches every one of these shapes
    reg = regions(job.profile, theme)
    for clip in plan_video(job, theme).clips:
        drawn = np.asarray(still_frame(clip.spec, job.profile, fonts, theme, 1, 1, backdrop=False))[:, :, 3]
        ring = countdown_rings(clip.spec.duration, job.profile, fonts, theme)[0][1]
        for zone, (x, y, right, bottom) in found:
            inside = drawn[y:bottom, x:right]
            assert not inside.any(), (clip.spec.kind, zone, np.add(np.argwhere(inside)[:3], (y, x)).tolist())
            for part, rect in (("ring", reg.ring), ("bar", reg.bar)):
                overlaps = rect.x < right and x < rect.right and rect.y < bottom and y < rect.bottom
                assert not overlaps or (part == "ring" and not np.asarray(ring)[:, :, 3].any()), (part, zone)


def test_a_theme_may_keep_clear_of_one_platform_only() -> None:
    everything = zones(1080, 1920)
    assert len(everything) == sum(len(z) for z in PLATFORM_ZONES.values())
    assert len(zones(1080, 1920, "shorts")) == 3
    assert zones(1920, 1080) == []  # 16:9 plays in a landscape player: no zones
    # A square frame sits mid-screen: the top bars miss it, the button columns reach into it.
    assert not any("top bar" in zone for zone, _ in zones(1080, 1080))
