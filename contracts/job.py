"""The job contract: JSON in, a validated `Job` out, or a `JobError` naming the field.

The same parser runs at the edge (starter) and inside the workflow, so a job sent
with the raw `temporal` CLI is held to exactly the same rules.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from contracts.gpus import GPU_CLASSES, class_for_memory
from contracts.recipes import RECIPES

VIDEO_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
VOICE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_+-]{0,63}$")
HEX_COLOUR = re.compile(r"^#[0-9A-Fa-f]{6}$")
NAMED_COLOURS = {
    "black": "#000000",
    "white": "#FFFFFF",
    "navy": "#0B1F4D",
    "blue": "#1E50C8",
    "red": "#C0392B",
    "green": "#1E8449",
    "purple": "#5B2C6F",
    "orange": "#D35400",
    "grey": "#555555",
    "gray": "#555555",
}
# Control characters break text layout; newline is allowed and means "new line".
FORBIDDEN_TEXT_CHARS = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")
# JSON can carry half of a surrogate pair ("\\ud83c"): such text cannot be written as UTF-8.
LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")
FORBIDDEN_URI_CHARS = re.compile(r"[\x00-\x1f\x7f]")
PLAIN_KEY = re.compile(r"^[A-Za-z0-9_]{1,40}$")
URI_SCHEMES = ("file://", "s3://")
WEBHOOK_PATTERN = re.compile(r"^https?://[^\s/?#]+[^\s]*$")

MAX_CLIPS = 500
"""Each clip costs a handful of history events; 500 keeps a video far inside
Temporal's 50,000-event history limit without continue-as-new."""
MAX_JOB_BYTES = 512 * 1024
"""The job as JSON (ASCII, as Temporal sends it). Its text is carried again by every clip's
render input, so this bounds the video's history to a few MB; it is also the SDK's payload
warning threshold, far below the server's 2 MB blob limit and 4 MB message limit."""
MAX_CLIP_SECONDS = 600.0
MIN_CLIP_SECONDS = 0.1
MAX_TEXT_CHARS = 500
MAX_LINES = 12
MAX_URI_CHARS = 1024
AUDIO_RATE = 48_000


class JobError(ValueError):
    """A job that can never render; `field` names where the problem is."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Profile:
    """Encoding profile shared by every clip of one video."""

    width: int = 1280
    height: int = 720
    fps: int = 30
    quality: int = 23
    """Constant-quality target: libx264 CRF or NVENC CQ (lower is better)."""


@dataclass(frozen=True)
class ClipSpec:
    """One clip as the user asked for it. Flat, so it round-trips through JSON."""

    kind: str
    duration: float
    background: str = "#000000"
    image: str | None = None
    lines: tuple[str, ...] = ()
    audio: str | None = None
    narration: str | None = None
    question: str | None = None
    answers: tuple[str, ...] = ()
    correct: int = -1
    recipe: str | None = None
    params: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class Job:
    """A validated render job."""

    video_id: str
    clips: tuple[ClipSpec, ...]
    profile: Profile = field(default_factory=Profile)
    output_uri: str | None = None
    channel: str = "default"
    tts_voice: str = "en"
    tts_speed: float = 1.0
    max_parallel_clips: int = 8
    gpu_class: str | None = None
    """Render on this GPU class's queue (render-gpu-<class>); None = any render worker."""
    webhook_url: str | None = None

    def asset_uris(self) -> list[str]:
        """Every asset the job reads, for the pre-flight check."""
        uris = [u for c in self.clips for u in (c.image, c.audio) if u]
        return sorted(set(uris))


class _Reader:
    """Reads typed fields out of one JSON object, naming the path on error."""

    def __init__(self, raw: Any, path: str) -> None:
        if not isinstance(raw, dict):
            raise JobError(path or "job", f"expected a JSON object, got {_type_name(raw)}")
        self.raw = raw
        self.path = path

    def name(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def reject_unknown(self, allowed: set[str]) -> None:
        unknown = sorted((key for key in self.raw if key not in allowed), key=str)
        if unknown:
            raise JobError(self.name(_key(unknown[0])), f"unknown field (allowed: {', '.join(sorted(allowed))})")

    def has(self, key: str) -> bool:
        return self.raw.get(key) is not None

    def string(self, key: str, default: str | None = None, *, limit: int = MAX_TEXT_CHARS) -> str:
        value = self.raw.get(key, default)
        if value is None:
            raise JobError(self.name(key), "is required")
        if not isinstance(value, str):
            raise JobError(self.name(key), f"expected a string, got {_type_name(value)}")
        return check_text(self.name(key), value, limit=limit)

    def optional_string(self, key: str, *, limit: int = MAX_TEXT_CHARS) -> str | None:
        return self.string(key, limit=limit) if self.has(key) else None

    def number(self, key: str, default: float | None, low: float, high: float) -> float:
        value = self.raw.get(key, default)
        if value is None:
            raise JobError(self.name(key), "is required")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise JobError(self.name(key), f"expected a number, got {_type_name(value)}")
        # Integers are compared as integers: JSON allows 10**400, which no float holds.
        finite = isinstance(value, int) or math.isfinite(value)
        if not finite or not low <= value <= high:
            raise JobError(self.name(key), f"must be between {low:g} and {high:g}, got {_brief(value)}")
        return float(value)

    def integer(self, key: str, default: int | None, low: int, high: int) -> int:
        value = self.raw.get(key, default)
        if value is None:
            raise JobError(self.name(key), "is required")
        if isinstance(value, bool) or not isinstance(value, int):
            raise JobError(self.name(key), f"expected an integer, got {_type_name(value)}")
        if not low <= value <= high:
            raise JobError(self.name(key), f"must be between {low} and {high}, got {_brief(value)}")
        return value

    def array(self, key: str, *, low: int, high: int) -> list[Any]:
        value = self.raw.get(key, [])
        if not isinstance(value, list):
            raise JobError(self.name(key), f"expected a list, got {_type_name(value)}")
        if not low <= len(value) <= high:
            raise JobError(self.name(key), f"must have between {low} and {high} items, got {len(value)}")
        return value


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value),
        "null" if value is None else "a number" if isinstance(value, (int, float)) else type(value).__name__,
    )


def _brief(value: Any, limit: int = 60) -> str:
    """A value as an error message may quote it: bounded, whatever the job sent."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**limit:
        return f"an integer of about {value.bit_length() * 3 // 10} digits"  # str() refuses > 4300 digits
    text = repr(value) if isinstance(value, (str, int, float)) else _type_name(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _key(key: Any) -> str:
    """An unknown field's name as it appears in a field path: plain names as they are, others quoted and cut."""
    return key if isinstance(key, str) and PLAIN_KEY.match(key) else _brief(str(key), 40)


def check_text(name: str, value: str, *, limit: int = MAX_TEXT_CHARS) -> str:
    """Refuse text that cannot be laid out; everything else renders literally."""
    if len(value) > limit:
        raise JobError(name, f"is {len(value)} characters long; the limit is {limit}")
    bad = FORBIDDEN_TEXT_CHARS.search(value)
    if bad:
        raise JobError(name, f"contains control character U+{ord(bad.group()):04X}; only newlines are allowed")
    half = LONE_SURROGATE.search(value)
    if half:
        raise JobError(name, f"contains an unpaired surrogate U+{ord(half.group()):04X}; text must be valid Unicode")
    return value


def check_uri(name: str, value: str) -> str:
    """Structural URI check; confinement to allowed roots happens where the roots are known.

    Checked as written and percent-decoded, since `file://` paths are decoded before
    use: `%2e%2e` is `..` and `%00` would cut the path short.
    """
    if not value.startswith(URI_SCHEMES):
        raise JobError(name, f"must be a file:// or s3:// URI, got {value[:80]!r}")
    path = value.split("://", 1)[1]
    for form in (path, unquote(path)):
        bad = FORBIDDEN_URI_CHARS.search(form)
        if bad:
            raise JobError(name, f"contains control character U+{ord(bad.group()):04X}")
        if any(part in ("..", ".") for part in form.split("/")):
            raise JobError(name, "must not contain '.' or '..' path segments")
    return value


def _colour(reader: _Reader, key: str) -> str:
    value = reader.string(key, "black", limit=32)
    colour = NAMED_COLOURS.get(value.lower(), value)
    if not HEX_COLOUR.match(colour):
        raise JobError(
            reader.name(key), f"expected #RRGGBB or one of {', '.join(sorted(NAMED_COLOURS))}, got {value!r}"
        )
    return colour.upper()


def _uri(reader: _Reader, key: str) -> str | None:
    value = reader.optional_string(key, limit=MAX_URI_CHARS)
    return check_uri(reader.name(key), value) if value is not None else None


def parse_profile(raw: Any) -> Profile:
    r = _Reader(raw if raw is not None else {}, "profile")
    r.reject_unknown({"width", "height", "fps", "quality"})
    width = r.integer("width", 1280, 64, 3840)
    height = r.integer("height", 720, 64, 2160)
    for key, value in (("width", width), ("height", height)):
        if value % 2:
            raise JobError(r.name(key), f"must be even for yuv420p, got {value}")
    fps = r.integer("fps", 30, 1, 60)
    if AUDIO_RATE % fps:
        raise JobError(r.name("fps"), f"must divide {AUDIO_RATE} so every frame holds whole audio samples, got {fps}")
    # 0 would ask libx264 for lossless, which the high profile every clip uses cannot encode.
    return Profile(width=width, height=height, fps=fps, quality=r.integer("quality", 23, 1, 51))


def parse_clip(raw: Any, path: str, defaults: dict[str, float]) -> list[ClipSpec]:
    """One JSON clip → one ClipSpec, or two for a question (question, then reveal)."""
    r = _Reader(raw, path)
    kind = r.string("kind", limit=32)
    common = {"kind", "duration", "background", "image", "audio", "narration"}
    if kind == "card":
        r.reject_unknown(common | {"lines"})
        lines = r.array("lines", low=0, high=MAX_LINES)
        return [
            ClipSpec(
                kind="card",
                duration=r.number("duration", None, MIN_CLIP_SECONDS, MAX_CLIP_SECONDS),
                background=_colour(r, "background"),
                image=_uri(r, "image"),
                audio=_uri(r, "audio"),
                narration=r.optional_string("narration"),
                lines=tuple(_line(r, i, line) for i, line in enumerate(lines)),
            )
        ]
    if kind == "recipe":
        r.reject_unknown({"kind", "duration", "recipe", "params", "audio"})
        name = r.string("recipe", limit=64)
        recipe = RECIPES.get(name)
        if recipe is None:
            raise JobError(r.name("recipe"), f"unknown recipe {name!r} (known: {', '.join(sorted(RECIPES))})")
        params = _Reader(r.raw.get("params") or {}, r.name("params"))
        params.reject_unknown(set(recipe.params))
        values = tuple(
            (key, params.number(key, bound.default, bound.low, bound.high))
            for key, bound in sorted(recipe.params.items())
        )
        return [
            ClipSpec(
                kind="recipe",
                duration=r.number("duration", None, MIN_CLIP_SECONDS, MAX_CLIP_SECONDS),
                recipe=name,
                params=values,
                audio=_uri(r, "audio"),
            )
        ]
    if kind == "question":
        r.reject_unknown(common | {"question", "answers", "correct", "reveal_duration"})
        question = r.string("question")
        answers = r.array("answers", low=4, high=4)
        texts = tuple(_answer(r, i, a) for i, a in enumerate(answers))
        correct = _correct(r, texts)
        background = _colour(r, "background")
        shared = dict(background=background, image=_uri(r, "image"), question=question, answers=texts, correct=correct)
        return [
            ClipSpec(
                kind="question",
                duration=r.number("duration", defaults["question_seconds"], 1.0, MAX_CLIP_SECONDS),
                narration=r.optional_string("narration") or question,
                audio=_uri(r, "audio"),
                **shared,  # type: ignore[arg-type]
            ),
            ClipSpec(
                kind="reveal",
                duration=r.number("reveal_duration", defaults["reveal_seconds"], MIN_CLIP_SECONDS, MAX_CLIP_SECONDS),
                narration=f"The answer is {texts[correct]}.",
                **shared,  # type: ignore[arg-type]
            ),
        ]
    raise JobError(r.name("kind"), f"unknown clip kind {kind!r} (known: card, question, recipe)")


def _line(r: _Reader, i: int, value: Any) -> str:
    name = f"{r.name('lines')}[{i}]"
    if not isinstance(value, str):
        raise JobError(name, f"expected a string, got {_type_name(value)}")
    return check_text(name, value)


def _answer(r: _Reader, i: int, value: Any) -> str:
    name = f"{r.name('answers')}[{i}]"
    if not isinstance(value, str) or not value.strip():
        raise JobError(name, "expected a non-empty string")
    return check_text(name, value, limit=200)


def _correct(r: _Reader, answers: tuple[str, ...]) -> int:
    """The correct answer, given as its letter (A-D), its index (0-3) or its text."""
    value = r.raw.get("correct")
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 4:
        return value
    if isinstance(value, str):
        if value in answers:
            return answers.index(value)
        if value.upper() in ("A", "B", "C", "D"):
            return "ABCD".index(value.upper())
    raise JobError(r.name("correct"), f"must be one of the answers, a letter A-D or an index 0-3, got {_brief(value)}")


def _seed_question(raw: Any, path: str) -> dict[str, Any]:
    """The trivia farm's question format (answer_a..answer_d, correct_answer) → a question clip."""
    r = _Reader(raw, path)
    r.reject_unknown({"question", "answer_a", "answer_b", "answer_c", "answer_d", "correct_answer"})
    answers = [r.string(f"answer_{x}", limit=200) for x in "abcd"]
    correct = r.string("correct_answer", limit=200)
    if correct not in answers and correct.upper() not in ("A", "B", "C", "D"):
        raise JobError(
            r.name("correct_answer"), f"must equal one of answer_a..answer_d or be a letter A-D, got {correct!r}"
        )
    return {
        "kind": "question",
        "question": r.raw.get("question"),
        "answers": answers,
        "correct": correct,
    }


def _check_size(raw: Any) -> None:
    try:
        size = len(json.dumps(raw, separators=(",", ":"), ensure_ascii=True))
    except (TypeError, ValueError) as err:
        raise JobError("job", f"is not plain JSON: {str(err)[:100]}") from None
    if size > MAX_JOB_BYTES:
        raise JobError(
            "job", f"is {size} bytes as JSON; the limit is {MAX_JOB_BYTES} (it is kept in the video's history)"
        )


JOB_FIELDS = {
    "video_id",
    "output_uri",
    "channel",
    "profile",
    "clips",
    "questions",
    "total_questions",
    "tts_voice",
    "tts_speed",
    "question_seconds",
    "reveal_seconds",
    "max_parallel_clips",
    "gpu_class",
    "min_gpu_memory_gb",
    "webhook_url",
}


def parse_job(raw: Any) -> Job:
    """Validate a job as submitted (JSON-decoded). Raises JobError naming the field."""
    r = _Reader(raw, "")
    r.reject_unknown(JOB_FIELDS)
    video_id = r.string("video_id", limit=128)
    if not VIDEO_ID_PATTERN.match(video_id):
        raise JobError("video_id", "use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit")
    voice = r.string("tts_voice", "en", limit=64)
    if not VOICE_PATTERN.match(voice):
        raise JobError("tts_voice", f"expected a voice name like 'en-US' or 'en-US-Neural2-F', got {voice!r}")
    defaults = {
        "question_seconds": r.number("question_seconds", 10.0, 1.0, MAX_CLIP_SECONDS),
        "reveal_seconds": r.number("reveal_seconds", 4.0, MIN_CLIP_SECONDS, MAX_CLIP_SECONDS),
    }
    questions = r.array("questions", low=0, high=MAX_CLIPS // 2)
    if r.has("total_questions"):
        r.integer("total_questions", None, len(questions), len(questions))
    raw_clips = [_seed_question(q, f"questions[{i}]") for i, q in enumerate(questions)]
    paths = [f"questions[{i}]" for i in range(len(questions))]
    extra = r.array("clips", low=0, high=MAX_CLIPS)
    raw_clips += extra
    paths += [f"clips[{i}]" for i in range(len(extra))]
    clips = [spec for raw, path in zip(raw_clips, paths, strict=True) for spec in parse_clip(raw, path, defaults)]
    if not clips:
        raise JobError("clips", "a job needs at least one clip or question")
    if len(clips) > MAX_CLIPS:
        raise JobError("clips", f"the job plans {len(clips)} clips; the limit is {MAX_CLIPS} per video")
    output_uri = r.optional_string("output_uri", limit=MAX_URI_CHARS)
    webhook_url = r.optional_string("webhook_url", limit=MAX_URI_CHARS)
    if webhook_url is not None and not WEBHOOK_PATTERN.match(webhook_url):
        raise JobError("webhook_url", f"expected an http:// or https:// URL, got {webhook_url[:80]!r}")
    job = Job(
        video_id=video_id,
        clips=tuple(clips),
        profile=parse_profile(r.raw.get("profile")),
        output_uri=check_uri("output_uri", output_uri) if output_uri is not None else None,
        channel=r.string("channel", "default", limit=64),
        tts_voice=voice,
        tts_speed=r.number("tts_speed", 1.0, 0.5, 2.0),
        max_parallel_clips=r.integer("max_parallel_clips", 8, 1, 64),
        gpu_class=_gpu_class(r),
        webhook_url=webhook_url,
    )
    _check_size(raw)  # last: a specific field's problem is the more useful answer
    return job


def _gpu_class(r: _Reader) -> str | None:
    """The class asked for by name, or the cheapest that meets `min_gpu_memory_gb`."""
    name = r.optional_string("gpu_class", limit=32)
    if name is not None and name not in GPU_CLASSES:
        raise JobError("gpu_class", f"unknown GPU class {name!r} (known: {', '.join(sorted(GPU_CLASSES))})")
    if not r.has("min_gpu_memory_gb"):
        return name
    memory = r.number("min_gpu_memory_gb", None, 1, 1024)
    if name is not None:
        if GPU_CLASSES[name].memory_gb < memory:
            raise JobError("min_gpu_memory_gb", f"{name} has {GPU_CLASSES[name].memory_gb} GB, less than {memory:g}")
        return name
    fitting = class_for_memory(memory)
    if fitting is None:
        raise JobError("min_gpu_memory_gb", f"no known GPU class with NVENC has {memory:g} GB")
    return fitting
