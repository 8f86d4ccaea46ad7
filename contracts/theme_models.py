"""A job's `theme` as typed models: a built-in theme's name, or a whole theme inlined.

Validated on its own so every problem is named by its full path (`theme.colours.text`),
then turned into the `contracts.themes.Theme` dataclass the plan carries.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal, NoReturn

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from contracts.languages import LANGUAGE_PATTERN, language_problem
from contracts.rules import NAMED_COLOURS, JobError, brief, check_text, check_uri, field_key, type_name
from contracts.theme_inherit import extended
from contracts.themes import ANSWER, ANSWER_PHRASE, BUILTIN_THEMES, Background, BoxStyle, Logo, Sounds, Theme

COLOUR = re.compile(r"^#[0-9A-Fa-f]{6}([0-9A-Fa-f]{2})?$")


def _fail(message: str) -> NoReturn:
    raise PydanticCustomError("theme", "{message}", {"message": message})


def _colour(value: Any) -> str:
    if not isinstance(value, str):
        _fail(f"expected a colour string, got {type_name(value)}")
    colour = NAMED_COLOURS.get(value.lower(), value)
    if not COLOUR.match(colour):
        _fail(f"expected #RRGGBB, #RRGGBBAA or one of {', '.join(sorted(NAMED_COLOURS))}, got {brief(value)}")
    return colour.upper()


def _uri(value: Any) -> str:
    if not isinstance(value, str):
        _fail(f"expected a file:// or s3:// URI, got {type_name(value)}")
    try:
        return check_uri("", check_text("", value, limit=1024))
    except JobError as err:
        _fail(err.message)


def _fraction(low: float, high: float) -> Any:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            _fail(f"expected a number, got {type_name(value)}")
        if not (isinstance(value, int) or math.isfinite(value)) or not low <= value <= high:
            _fail(f"must be between {low:g} and {high:g}, got {brief(value)}")
        return float(value)

    return Annotated[float, PlainValidator(check), WithJsonSchema({"type": "number", "minimum": low, "maximum": high})]


def _font(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        _fail("expected a font file path or an installed family name")
    if not value.startswith("/") and not re.match(r"^[A-Za-z0-9 ._-]{1,64}$", value):
        _fail(f"expected an absolute font path or a family name like 'Noto Sans', got {brief(value)}")
    return str(check_text("", value, limit=256))


def _phrase(value: Any) -> str:
    if not isinstance(value, str):
        _fail(f"expected text holding {ANSWER}, got {type_name(value)}")
    try:
        phrase = str(check_text("", value, limit=200))
    except JobError as err:
        _fail(err.message)
    if phrase.count(ANSWER) != 1:
        _fail(f"must hold {ANSWER} exactly once (where the answer is spoken), got {brief(value)}")
    return phrase


Colour = Annotated[str, PlainValidator(_colour), WithJsonSchema({"type": "string", "pattern": COLOUR.pattern})]
URI = Annotated[str, PlainValidator(_uri), WithJsonSchema({"type": "string", "pattern": "^(file:///|s3://[^/]+/.)"})]
Font = Annotated[str, PlainValidator(_font), WithJsonSchema({"type": "string", "maxLength": 256})]
Phrase = Annotated[
    str, PlainValidator(_phrase), WithJsonSchema({"type": "string", "maxLength": 200, "pattern": "\\{answer\\}"})
]


def _language_key(value: Any) -> str:
    if not isinstance(value, str):
        _fail(f"expected a language tag, got {type_name(value)}")
    problem = language_problem(value)
    if problem:
        _fail(problem)
    return value


LanguageKey = Annotated[
    str, PlainValidator(_language_key), WithJsonSchema({"type": "string", "pattern": LANGUAGE_PATTERN.pattern})
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColoursIn(_Model):
    text: Colour = "#FFFFFF"
    dim: Colour = "#8A93A8"
    highlight: Colour = "#F5B700"
    highlight_text: Colour = "#101010"
    accent: Colour = "#F5B700"
    box_fill: Colour = "#FFFFFF1F"
    box_border: Colour = "#FFFFFF40"


class BackgroundIn(_Model):
    """Exactly one of `colour`, `gradient` (two colours, with `angle`), `image` or `video` (a looping asset)."""

    colour: Colour | None = None
    gradient: Annotated[list[Colour], Field(min_length=2, max_length=2)] | None = None
    angle: _fraction(-360, 360) = 90.0  # type: ignore[valid-type]
    image: URI | None = None
    video: URI | None = None

    @model_validator(mode="after")
    def _one(self) -> BackgroundIn:
        given = [name for name in ("colour", "gradient", "image", "video") if getattr(self, name) is not None]
        if len(given) != 1:
            _fail(f"needs exactly one of colour, gradient, image or video, got {', '.join(given) or 'none'}")
        return self


class BoxIn(_Model):
    radius: _fraction(0, 0.5) = 0.3  # type: ignore[valid-type]
    padding: _fraction(0, 0.3) = 0.12  # type: ignore[valid-type]
    border: _fraction(0, 0.02) = 0.003  # type: ignore[valid-type]


class LogoIn(_Model):
    uri: URI
    corner: Literal["top-left", "top-right", "bottom-left", "bottom-right"] = "top-right"
    size: _fraction(0.02, 0.2) = 0.07  # type: ignore[valid-type]


class FontsIn(_Model):
    regular: Font | None = None
    bold: Font | None = None


class SoundsIn(_Model):
    """Audio asset URIs: a countdown tick, a reveal sting, a music bed (under clips with no sound of their own)."""

    tick: URI | None = None
    sting: URI | None = None
    music: URI | None = None


class ThemeIn(_Model):
    """An inlined theme. Colours are #RRGGBB, #RRGGBBAA (with alpha) or a colour name."""

    model_config = ConfigDict(title="Theme")

    extends: Literal[tuple(sorted(BUILTIN_THEMES))] | None = Field(  # type: ignore[valid-type]
        None,
        description="a built-in theme: every field this theme leaves unset is that theme's (one colour, one sound)",
    )
    name: Annotated[str, Field(min_length=1, max_length=64)] = "custom"
    background: BackgroundIn = Field(default_factory=lambda: BackgroundIn(colour="#101828"))
    colours: ColoursIn = Field(default_factory=ColoursIn)
    box: BoxIn = Field(default_factory=BoxIn)
    fonts: FontsIn = Field(default_factory=FontsIn)
    logo: LogoIn | None = None
    sounds: SoundsIn = Field(default_factory=SoundsIn)
    narrate_answer: StrictBool = True
    """Each reveal speaks its answer in `answer_phrase`; false: reveals speak nothing."""
    answer_phrase: Phrase = ANSWER_PHRASE
    """What a reveal says, holding {answer} exactly once: the correct answer's text takes its place."""
    platform: Literal["all", "shorts", "tiktok", "reels"] = "all"
    """Whose player interface 9:16, 4:5 and 1:1 layouts keep clear of; 'all': every one of them."""
    motion: Literal["none", "fade", "slide", "pop"] = Field(
        "none",
        description="how the question, the answers (one after another) and a reveal's highlight enter; "
        "a question's and a reveal's parts leave the same way at the end",
    )
    transition: Literal["cut", "fade", "slide"] = Field(
        "cut",
        description="how each card, question and reveal begins and ends: cut, fade (from and to its background) "
        "or slide (in from the right, out to the left)",
    )
    question_image: URI | None = Field(
        None, description="an image shown beside or above every question (and its reveal) without one of its own"
    )
    answer_phrases: Annotated[dict[LanguageKey, Phrase], Field(max_length=64)] = Field(
        default_factory=dict,
        description="a reveal's words by language tag (es, pt-BR), over the built-in phrases; English is answer_phrase",
    )

    @field_validator("answer_phrases")
    @classmethod
    def _one_phrase_a_tag(cls, phrases: dict[str, str]) -> dict[str, str]:
        """Tags compare whatever their case: `pt-BR` and `pt-br` are one tag, which must have one phrase."""
        seen: dict[str, str] = {}
        for tag in phrases:
            if (folded := tag.replace("_", "-").lower()) in seen:
                _fail(f"names the tag {tag!r} twice (as {seen[folded]!r} too); tags are the same whatever their case")
            seen[folded] = tag
        return phrases

    def theme(self) -> Theme:
        bg, c = self.background, self.colours
        return Theme(
            name=self.name,
            background=Background(bg.colour, tuple(bg.gradient or ()), bg.angle, bg.image, bg.video),
            text=c.text,
            dim=c.dim,
            highlight=c.highlight,
            highlight_text=c.highlight_text,
            accent=c.accent,
            box_fill=c.box_fill,
            box_border=c.box_border,
            box=BoxStyle(self.box.radius, self.box.padding, self.box.border),
            font=self.fonts.regular,
            font_bold=self.fonts.bold,
            logo=Logo(self.logo.uri, self.logo.corner, self.logo.size) if self.logo else None,
            sounds=Sounds(self.sounds.tick, self.sounds.sting, self.sounds.music),
            narrate_answer=self.narrate_answer,
            answer_phrase=self.answer_phrase,
            platform=self.platform,
            answer_phrases=tuple(sorted(self.answer_phrases.items())),
            motion=self.motion,
            question_image=self.question_image,
            transition=self.transition,
        )


ThemeField = Literal[tuple(sorted(BUILTIN_THEMES))] | ThemeIn | None  # type: ignore[valid-type]
"""A built-in theme's name or an inlined theme, as the schema shows it."""


def _where(loc: tuple[str | int, ...]) -> str:
    return "theme" + "".join(f"[{p}]" if isinstance(p, int) else f".{field_key(p)}" for p in loc)


def parse_theme(value: Any) -> tuple[Theme | None, list[tuple[str, str]]]:
    """The job's `theme` field: (the theme, []) or (None, every problem with its field path)."""
    if value is None:
        return None, []
    if isinstance(value, str):
        if value in BUILTIN_THEMES:
            return BUILTIN_THEMES[value], []
        return None, [("theme", f"unknown theme {brief(value)} (built-in: {', '.join(sorted(BUILTIN_THEMES))})")]
    if not isinstance(value, dict):
        return None, [("theme", f"expected a theme name or a theme object, got {type_name(value)}")]
    base = value.get("extends")
    if base is not None:
        if not isinstance(base, str) or base not in BUILTIN_THEMES:
            known = ", ".join(sorted(BUILTIN_THEMES))
            return None, [("theme.extends", f"unknown theme {brief(base)} (built-in: {known})")]
        value = extended(BUILTIN_THEMES[base], {k: v for k, v in value.items() if k != "extends"})
    try:
        return ThemeIn.model_validate(value).theme(), []
    except ValidationError as err:
        problems = []
        for e in err.errors(include_url=False):
            loc = tuple(e["loc"])
            if e["type"] == "theme":
                message = str((e.get("ctx") or {}).get("message", ""))
            elif e["type"] == "extra_forbidden":
                message = "unknown field"
            elif e["type"] == "missing":
                message = "is required"
            else:
                message = "".join(ch if ch.isprintable() else "?" for ch in str(e.get("msg", e["type"])))[:200]
            problems.append((_where(loc), message))
        return None, problems
