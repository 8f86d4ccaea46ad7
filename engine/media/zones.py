"""Where the short-video players draw their own interface over a video: text and answers stay out.

The zones are fractions of a full 9:16 phone screen (1080x1920), per platform. A video of another
shape plays fitted inside that screen (full width, centred), so its zones are the screen's, moved into
the frame: a 1:1 or 4:5 question still meets the right-hand button column. 16:9 plays in YouTube's
own player and the platforms' landscape views, with their controls hidden while it plays: no zones.
"""

from __future__ import annotations

from dataclasses import dataclass

PLATFORMS = ("all", "shorts", "tiktok", "reels")
"""'all' (the default): the union of the three, so one render publishes on any of them."""


@dataclass(frozen=True)
class Zone:
    """A part of the screen the player covers: (x, y, right, bottom), fractions of a 9:16 screen."""

    name: str
    x: float
    y: float
    right: float
    bottom: float


# Measured from the platforms' creator guidance and templates as of 2025-26 (YouTube Help "Shorts" layout,
# TikTok Creative Center "safe zone", Meta Business Help Center "Reels safe zones"), each rounded outward:
# the top bar (tabs, search, channel), the right-hand button column (like, comment, share, remix, sound)
# and the bottom band (title, handle, caption, sound label, progress bar).
PLATFORM_ZONES: dict[str, tuple[Zone, ...]] = {
    "shorts": (
        Zone("top bar", 0.0, 0.0, 1.0, 0.07),
        Zone("buttons", 0.86, 0.40, 1.0, 0.86),
        Zone("title and channel", 0.0, 0.80, 1.0, 1.0),
    ),
    "tiktok": (
        Zone("top bar", 0.0, 0.0, 1.0, 0.07),
        Zone("buttons", 0.85, 0.38, 1.0, 0.85),
        Zone("caption and sound", 0.0, 0.82, 1.0, 1.0),
    ),
    "reels": (
        Zone("top bar", 0.0, 0.0, 1.0, 0.10),
        Zone("buttons", 0.88, 0.45, 1.0, 0.85),
        Zone("caption and audio", 0.0, 0.78, 1.0, 1.0),
    ),
}


def zones(width: int, height: int, platform: str = "all") -> list[tuple[str, tuple[int, int, int, int]]]:
    """The zones a `width` x `height` frame has on `platform`, as (name, (x, y, right, bottom)) in pixels."""
    if width / height >= 1.3:
        return []
    chosen = PLATFORM_ZONES if platform == "all" else {platform: PLATFORM_ZONES[platform]}
    shown = (9 / 16) / (width / height) if width / height > 9 / 16 else 1.0
    top = (1 - shown) / 2
    found = []
    for name, platform_zones in chosen.items():
        for zone in platform_zones:
            y, bottom = max(0.0, (zone.y - top) / shown), min(1.0, (zone.bottom - top) / shown)
            if bottom > y and bottom > 0 and y < 1:
                box = (round(zone.x * width), round(y * height), round(zone.right * width), round(bottom * height))
                if box[3] > box[1]:
                    found.append((f"{name} {zone.name}", box))
    return found
