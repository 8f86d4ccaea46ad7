"""Which picture a question shows: its own (`questions[i].image`, a question clip's `picture`), else its theme's
`question_image`; cards and other clips show none."""

from __future__ import annotations

from contracts.rules import ClipSpec
from contracts.themes import Theme

PICTURE_KINDS = ("question", "reveal")
"""A reveal shows its question's picture."""


def question_picture(spec: ClipSpec, theme: Theme | None) -> str | None:
    """The URI of the picture `spec` is drawn with under `theme`; None: no picture slot."""
    if spec.kind not in PICTURE_KINDS:
        return None
    return spec.picture or (theme.question_image if theme is not None else None)
