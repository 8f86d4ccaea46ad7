"""The job file's field types, shared by `contracts.job_models` and the clip kinds (`contracts.kinds`).

Each type validates the raw JSON value itself (nothing is coerced: "5" is not a number, true is not 1) and
describes itself to the JSON Schema; a problem is raised in the contract's words (`must be between 0.1 and 600,
got -1`). This module sits below both the kinds and the job's models, so a kind's model is declared from these
types without importing the job's models, and the job's models read the kinds' registry without a circle.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Annotated, Any, NoReturn

from pydantic import BaseModel, ConfigDict, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from contracts.languages import ANSWER_PHRASES, LANGUAGE_PATTERN, language_problem
from contracts.rules import (
    HEX_COLOUR,
    MAX_CLIP_SECONDS,
    MAX_TEXT_CHARS,
    MAX_URI_CHARS,
    MIN_CLIP_SECONDS,
    NAMED_COLOURS,
    VOICE_PATTERN,
    JobError,
    brief,
    check_output_uri,
    check_text,
    check_uri,
    type_name,
)


def default_of(record: type[Any], name: str) -> Any:
    """The default the recorded dataclass `record` declares for its field `name`, for the input model's field
    that becomes it: each default is written once, on the record, so the job file and its record cannot drift."""
    found = {field.name: field for field in dataclasses.fields(record)}[name]
    if found.default is not dataclasses.MISSING:
        return found.default
    if found.default_factory is not dataclasses.MISSING:
        return found.default_factory()
    raise KeyError(f"{record.__name__}.{name} has no default")


def _fail(message: str) -> NoReturn:
    raise PydanticCustomError("job", "{message}", {"message": message})


def _checked(check: Callable[[], Any]) -> Any:
    """Run one of the contract's check functions; its JobError becomes this field's error."""
    try:
        return check()
    except JobError as err:
        _fail(err.message)


# --- field types: each validates the raw JSON value itself and describes itself to the schema ---


def _text_check(limit: int, pattern: Any = None, pattern_message: str = "") -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value is None:
            _fail("is required")
        if not isinstance(value, str):
            _fail(f"expected a string, got {type_name(value)}")
        _checked(lambda: check_text("", value, limit=limit))
        if pattern is not None and not pattern.match(value):
            _fail(pattern_message.format(value=value[:80]))
        return value

    return check


def Text(limit: int = MAX_TEXT_CHARS, **schema: Any) -> Any:
    return Annotated[
        str, PlainValidator(_text_check(limit)), WithJsonSchema({"type": "string", "maxLength": limit, **schema})
    ]


def Choice(*values: str) -> Any:
    """One of a few named values, listed in the error and in the schema."""

    def check(value: Any) -> str:
        if not isinstance(value, str) or value not in values:
            got = brief(value) if isinstance(value, str) else type_name(value)
            _fail(f"expected one of {', '.join(values)}, got {got}")
        return value

    return Annotated[str, PlainValidator(check), WithJsonSchema({"enum": list(values)})]


def _number_check(low: float, high: float) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        if value is None:
            _fail("is required")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            _fail(f"expected a number, got {type_name(value)}")
        # Integers are compared as integers: JSON allows 10**400, which no float holds.
        finite = isinstance(value, int) or math.isfinite(value)
        if not finite or not low <= value <= high:
            _fail(f"must be between {low:g} and {high:g}, got {brief(value)}")
        return float(value)

    return check


def Number(low: float, high: float) -> Any:
    return Annotated[
        float,
        PlainValidator(_number_check(low, high)),
        WithJsonSchema({"type": "number", "minimum": low, "maximum": high}),
    ]


def _integer_check(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if value is None:
            _fail("is required")
        if isinstance(value, bool) or not isinstance(value, int):
            _fail(f"expected an integer, got {type_name(value)}")
        if not low <= value <= high:
            _fail(f"must be between {low} and {high}, got {brief(value)}")
        return value

    return check


def Integer(low: int, high: int, **schema: Any) -> Any:
    return Annotated[
        int,
        PlainValidator(_integer_check(low, high)),
        WithJsonSchema({"type": "integer", "minimum": low, "maximum": high, **schema}),
    ]


def _items(low: int, high: int) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if not isinstance(value, list):
            _fail(f"expected a list, got {type_name(value)}")
        if not low <= len(value) <= high:
            _fail(f"must have between {low} and {high} items, got {len(value)}")
        return value

    return check


def _uri(value: Any) -> str:
    text: str = _text_check(MAX_URI_CHARS)(value)
    return str(_checked(lambda: check_uri("", text)))


def _output_uri(value: Any) -> str:
    text: str = _text_check(MAX_URI_CHARS)(value)
    return str(_checked(lambda: check_output_uri("", text)))


OutputURI = Annotated[
    str,
    PlainValidator(_output_uri),
    WithJsonSchema(
        {"type": "string", "maxLength": MAX_URI_CHARS, "pattern": r"^(file:///|s3://[^/]+/.).*\.(mp4|m4v|mov)$"}
    ),
]
"""Where the video is published: a URI whose file name is a video's."""

URI = Annotated[
    str,
    PlainValidator(_uri),
    WithJsonSchema({"type": "string", "maxLength": MAX_URI_CHARS, "pattern": "^(file:///|s3://[^/]+/.)"}),
]


def _colour(value: Any) -> str:
    text = _text_check(32)(value)
    colour = NAMED_COLOURS.get(text.lower(), text)
    if not HEX_COLOUR.match(colour):
        _fail(f"expected #RRGGBB or one of {', '.join(sorted(NAMED_COLOURS))}, got {brief(text)}")
    return colour.upper()


Colour = Annotated[
    str,
    PlainValidator(_colour),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": HEX_COLOUR.pattern},
                {"enum": sorted(NAMED_COLOURS)},
            ],
            "description": "#RRGGBB or a colour name",
        }
    ),
]


def _answer(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        _fail("expected a non-empty string")
    return str(_checked(lambda: check_text("", value, limit=200)))


Answer = Annotated[str, PlainValidator(_answer), WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 200})]


def _question(value: Any) -> str:
    """A question with no words draws an empty box and speaks nothing before its answers."""
    text = _text_check(MAX_TEXT_CHARS)(value)
    if not text.strip():
        _fail("expected a non-empty string")
    return text


Question = Annotated[
    str, PlainValidator(_question), WithJsonSchema({"type": "string", "minLength": 1, "maxLength": MAX_TEXT_CHARS})
]
Line = Text(MAX_TEXT_CHARS)
Duration = Number(MIN_CLIP_SECONDS, MAX_CLIP_SECONDS)


def _unambiguous(value: str, answers: list[Any], hint: str) -> None:
    """Refuse a letter that is also another answer's text: 'A' when answer B reads 'A' could mean either."""
    if value.upper() in ("A", "B", "C", "D") and value in answers:
        letter, text = "ABCD".index(value.upper()), answers.index(value)
        if letter != text:
            _fail(f"{value!r} is both answer {'ABCD'[text]}'s text and answer {'ABCD'[letter]}'s letter; {hint}")


def _optional(check: Callable[[Any], str]) -> Callable[[Any], str | None]:
    """A field that may be left out or set to null."""
    return lambda value: None if value is None else check(value)


def _language(value: Any) -> str:
    tag: str = _text_check(32)(value)
    problem = language_problem(tag)
    if problem:
        _fail(problem)
    return tag


Language = Annotated[
    str | None,
    PlainValidator(_optional(_language)),
    WithJsonSchema(
        {
            "type": ["string", "null"],
            "pattern": LANGUAGE_PATTERN.pattern,
            "description": "the language its text is in (BCP-47: es, pt-BR); its first part one of "
            + ", ".join(sorted(ANSWER_PHRASES))
            + "; unset: the job's",
        }
    ),
]
VOICE_MESSAGE = "expected a voice name like 'en-US' or 'en-US-Neural2-F', got {value!r}"
Voice = Annotated[
    str | None,
    PlainValidator(_optional(_text_check(64, VOICE_PATTERN, VOICE_MESSAGE))),
    WithJsonSchema(
        {
            "type": ["string", "null"],
            "pattern": VOICE_PATTERN.pattern,
            "description": "the voice that reads it (as tts_voice); unset: one for its language, else the job's",
        }
    ),
]


class _Spoken(BaseModel):
    """A clip with words: the language they are in and the voice that reads them, each defaulting to the job's."""

    language: Language = None
    voice: Voice = None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=False)
