"""The `question` clip's pictures, and its `reveal`'s: a card's background, one frame repeated; a theme draws both.

The question counts down its seconds (and ticks under a theme); the reveal plays the theme's sting.
"""

from __future__ import annotations

from engine.kinds import KindRenderer, register
from engine.kinds.card import video

RENDERER = register(KindRenderer(kind="question", video=video, still=True, themed=True, countdown=True, sound="tick"))
REVEAL = register(KindRenderer(kind="reveal", video=video, still=True, themed=True, sound="sting"))
