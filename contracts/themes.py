"""Themes: the look of a video as data (fonts, colours, background, answer boxes, logo, sounds).

A job names a built-in theme or inlines one (validated in `contracts.theme_models`); a
channel's default comes from RENDER_CHANNEL_THEMES. The resolved theme is carried by every
planned clip and is part of its spec hash, so a clip never mixes two looks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from contracts.languages import answer_phrase
from contracts.material import without_defaults

CORNERS = ("top-left", "top-right", "bottom-left", "bottom-right")
DEFAULT_THEME = "midnight"
ANSWER = "{answer}"
ANSWER_PHRASE = "The answer is {answer}."
"""What a reveal says unless its theme words it otherwise: the words reveals have always spoken."""


@dataclass(frozen=True)
class Background:
    """One of: a colour, a two-colour gradient at `angle` degrees (0: left to right, 90: top to bottom), an image,
    or a video asset that loops, without its sound, for the whole clip."""

    colour: str | None = None
    gradient: tuple[str, ...] = ()
    angle: float = 90.0
    image: str | None = None
    video: str | None = None


@dataclass(frozen=True)
class BoxStyle:
    """Answer boxes: corner radius and inner padding as fractions of the box height, border as one of the frame."""

    radius: float = 0.3
    padding: float = 0.12
    border: float = 0.003


@dataclass(frozen=True)
class Logo:
    uri: str
    corner: str = "top-right"
    size: float = 0.07
    """Height as a fraction of the frame height."""


@dataclass(frozen=True)
class Sounds:
    """Audio assets mixed by the soundtrack: a tick on each countdown number of a question, a sting as
    each reveal starts, and a music bed under every clip with no sound of its own (ducked under narration)."""

    tick: str | None = None
    sting: str | None = None
    music: str | None = None


@dataclass(frozen=True)
class Theme:
    """Colours are #RRGGBB or #RRGGBBAA (alpha for translucent boxes)."""

    name: str
    background: Background
    text: str = "#FFFFFF"
    dim: str = "#8A93A8"
    highlight: str = "#F5B700"
    highlight_text: str = "#101010"
    accent: str = "#F5B700"
    box_fill: str = "#FFFFFF1F"
    box_border: str = "#FFFFFF40"
    box: BoxStyle = field(default_factory=BoxStyle)
    font: str | None = None
    """A font file path or an installed family name; None: the worker's RENDER_FONT."""
    font_bold: str | None = None
    logo: Logo | None = None
    sounds: Sounds = field(default_factory=Sounds)
    narrate_answer: bool = True
    """Each reveal speaks its answer in `answer_phrase`; False: reveals speak nothing (a sting may mark them)."""
    answer_phrase: str = ANSWER_PHRASE
    """Holds {answer} exactly once; the correct answer's text takes its place, as it is. Said in English, and
    in a language with no phrase of its own."""
    platform: str = "all"
    """Whose player's buttons and captions the layout keeps clear of: 'shorts', 'tiktok', 'reels', or all three."""
    answer_phrases: tuple[tuple[str, str], ...] = ()
    """(language tag, phrase) pairs over the built-in phrases (`contracts.languages.ANSWER_PHRASES`)."""
    motion: str = "none"
    """How the question, its answers and a reveal's highlight enter: 'none' (there from the first frame),
    'fade', 'slide' or 'pop' (`engine.media.motion`); with motion they leave the same way in the clip's last
    frames."""
    question_image: str | None = None
    """An image asset every question (and its reveal) shows in its picture slot when it has no picture of its own."""
    transition: str = "cut"
    """How a card, question or reveal begins and ends: 'cut' (as it is from its first frame to its last), 'fade'
    (in from and out to its background) or 'slide' (its picture slides in from the right over its background and
    out to the left); each clip's own first and last frames (`engine.media.transitions`)."""


ADDED_LATER: dict[str, object] = {
    "narrate_answer": True,
    "answer_phrase": ANSWER_PHRASE,
    "platform": "all",
    "answer_phrases": (),
    "motion": "none",
    "question_image": None,
    "transition": "cut",
}
"""Theme fields added after themed videos were first made, with their defaults: hashed only when set, so a
theme that leaves them alone keeps the job's hash and its clips' keys."""


BACKGROUND_ADDED_LATER: dict[str, object] = {"video": None}
"""Background fields added later, likewise."""

CACHE_ADDED_LATER: dict[str, object] = {"question_image": None}
"""Theme fields added after the clip cache first keyed whole themes (`engine.clip_cache.key_material`):
keyed only when set, so a cached clip under a theme that leaves them alone keeps its key."""


def theme_material(theme: Theme) -> dict[str, Any]:
    """The theme as hashed (in job hashes and clip keys)."""
    material = without_defaults(asdict(theme), ADDED_LATER)
    without_defaults(material["background"], BACKGROUND_ADDED_LATER)
    return material


TRANSITION_KINDS = ("card", "question", "reveal")
"""The clips a theme's transition applies to; video, image and recipe clips show their own pictures as they are."""
EXIT_KINDS = ("question", "reveal")
"""The clips whose parts leave at the end when the theme has motion (a card has no moving parts)."""


def _kind_material(material: dict[str, Any], theme: Theme, kind: str) -> dict[str, Any]:
    """`material` as it keys a clip of `kind`: the transition only where it changes the clip's pictures (not
    `cut`, and only on the kinds it applies to), and a mark on questions and reveals with motion, whose parts
    now leave too."""
    if theme.transition == "cut" or kind not in TRANSITION_KINDS:
        material.pop("transition", None)
    if theme.motion != "none" and kind in EXIT_KINDS:
        material["exit"] = True
    return material


def look_material(theme: Theme, kind: str) -> dict[str, Any]:
    """The theme as hashed in the key of a clip of `kind` (`theme_material`, then the kind's choices)."""
    return _kind_material(theme_material(theme), theme, kind)


def cache_material(theme: Theme, kind: str) -> dict[str, Any]:
    """The whole theme as the clip cache keys a clip of `kind` by: every field, those added later only when
    set, then the kind's choices as `look_material` makes them."""
    return _kind_material(without_defaults(asdict(theme), CACHE_ADDED_LATER), theme, kind)


def answer_narration(theme: Theme, answer: str, language: str = "") -> str | None:
    """What a reveal of `answer` in `language` says under this theme; the answer is inserted as data, never
    formatted."""
    if not theme.narrate_answer:
        return None
    return answer_phrase(language, dict(theme.answer_phrases), theme.answer_phrase).replace(ANSWER, answer)


BUILTIN_THEMES: dict[str, Theme] = {
    "midnight": Theme(
        name="midnight",
        background=Background(gradient=("#0B1433", "#23306E"), angle=120.0),
        text="#FFFFFF",
        dim="#7E88A8",
        highlight="#F5B700",
        highlight_text="#14172B",
        accent="#F5B700",
        box_fill="#FFFFFF1C",
        box_border="#FFFFFF3D",
        box=BoxStyle(radius=0.5, padding=0.14, border=0.0028),
        font="Noto Sans",
        font_bold="Noto Sans Display",
        motion="slide",
        transition="fade",
    ),
    "studio": Theme(
        name="studio",
        background=Background(gradient=("#F7F4EE", "#E4E9F2"), angle=90.0),
        text="#1B1F2A",
        dim="#A2A8B5",
        highlight="#13A46B",
        highlight_text="#FFFFFF",
        accent="#E4572E",
        box_fill="#FFFFFFE6",
        box_border="#1B1F2A26",
        box=BoxStyle(radius=0.22, padding=0.14, border=0.002),
        font="Noto Sans",
        font_bold="Noto Sans Display",
        motion="fade",
        transition="fade",
    ),
    "neon": Theme(
        name="neon",
        background=Background(gradient=("#0A0014", "#2A0845"), angle=45.0),
        text="#F4F1FF",
        dim="#6D5E8C",
        highlight="#00F5D4",
        highlight_text="#0A0014",
        accent="#FF2E97",
        box_fill="#FF2E9714",
        box_border="#FF2E97B3",
        box=BoxStyle(radius=0.18, padding=0.14, border=0.0035),
        font="Noto Sans",
        font_bold="Noto Sans Display",
        motion="pop",
        transition="fade",
    ),
}
"""The themes a job names. Each moves by default (a channel publishes the default output as it is): its question
and answers enter and leave (`motion`) and each card, question and reveal fades in and out (`transition`);
`{"extends": ..., "motion": "none", "transition": "cut"}` is the still look of before, with its hashes and keys."""


def parse_channel_themes(value: str, variable: str = "RENDER_CHANNEL_THEMES") -> dict[str, str]:
    """'news=studio,*=midnight' → {'news': 'studio', '*': 'midnight'}; an unknown theme names itself."""
    themes = {}
    for entry in filter(None, (part.strip() for part in value.split(","))):
        channel, _, name = (part.strip() for part in entry.partition("="))
        if not channel or name not in BUILTIN_THEMES:
            known = ", ".join(sorted(BUILTIN_THEMES))
            raise ValueError(f"{variable}: {entry!r} is not CHANNEL=THEME (themes: {known})")
        themes[channel] = name
    return themes


def channel_theme(channel: str, themes: dict[str, str]) -> Theme:
    """The channel's default theme: its own entry, else '*', else the built-in default."""
    return BUILTIN_THEMES[themes.get(channel, themes.get("*", DEFAULT_THEME))]
