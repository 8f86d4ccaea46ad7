"""Inline themes that extend a built-in one (`"extends": "midnight"`): every field they leave unset is the
built-in theme's, deeply (one colour overrides that colour only), so a theme that only adds sounds keeps
the built-in look instead of the inline defaults (a flat background and the worker's font).
"""

from __future__ import annotations

from typing import Any

from contracts.themes import Theme

BACKGROUND_KINDS = ("colour", "gradient", "image", "video")
"""A background is one of these: setting any of them replaces the base's kind, not joins it."""


def inline_form(theme: Theme) -> dict[str, Any]:
    """The theme as an inline theme's JSON would spell it."""
    bg = theme.background
    background: dict[str, Any] = {"angle": bg.angle}
    for kind, value in (("colour", bg.colour), ("gradient", list(bg.gradient) or None), ("image", bg.image),
                        ("video", bg.video)):  # fmt: skip
        if value is not None:
            background[kind] = value
    form: dict[str, Any] = {
        "name": theme.name,
        "background": background,
        "colours": {
            "text": theme.text,
            "dim": theme.dim,
            "highlight": theme.highlight,
            "highlight_text": theme.highlight_text,
            "accent": theme.accent,
            "box_fill": theme.box_fill,
            "box_border": theme.box_border,
        },
        "box": {"radius": theme.box.radius, "padding": theme.box.padding, "border": theme.box.border},
        "fonts": {"regular": theme.font, "bold": theme.font_bold},
        "sounds": {"tick": theme.sounds.tick, "sting": theme.sounds.sting, "music": theme.sounds.music},
        "narrate_answer": theme.narrate_answer,
        "answer_phrase": theme.answer_phrase,
        "platform": theme.platform,
        "answer_phrases": dict(theme.answer_phrases),
        "motion": theme.motion,
        "question_image": theme.question_image,
        "transition": theme.transition,
    }
    if theme.logo is not None:
        form["logo"] = {"uri": theme.logo.uri, "corner": theme.logo.corner, "size": theme.logo.size}
    return _set(form)


def _set(form: dict[str, Any]) -> dict[str, Any]:
    """Only the fields the theme sets: an unset font or sound is left out, as a job would leave it out."""
    return {k: _set(v) if isinstance(v, dict) else v for k, v in form.items() if v is not None}


def extended(base: Theme, theme: dict[str, Any]) -> dict[str, Any]:
    """The inline theme `theme` (without `extends`) over `base`: objects merge key by key, anything else replaces."""
    over = dict(theme)
    background = over.get("background")
    form = inline_form(base)
    if isinstance(background, dict) and any(kind in background for kind in BACKGROUND_KINDS):
        form["background"] = {k: v for k, v in form["background"].items() if k not in BACKGROUND_KINDS}
    return _merged(form, over)


def _merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        below = merged.get(key)
        merged[key] = _merged(below, value) if isinstance(below, dict) and isinstance(value, dict) else value
    return merged
