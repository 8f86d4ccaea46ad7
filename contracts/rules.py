"""The job contract's rules, limits and the dataclasses the service records in its histories.

The bottom of the contract: `contracts.fields`, the clip kinds (`contracts.kinds`), `contracts.job_models` and
`contracts.plan` build on it and it imports none of them, so the contract has no import circle. Everything here
is also `contracts.job`'s, which the rest of the service imports.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote

from contracts.themes import Theme

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

MAX_CLIPS = 2000
"""A two-hour compilation of 3-second clips. Each clip costs six history events and records of a fixed size
(the plan travels by key, scheduled a page at a time): 2,000 keep a video near 12,000 events, far inside
Temporal's 51,200-event limit, and its pending activities far under 2,000 (at most max_parallel_clips)."""
PRIORITY_LEVELS = 5
"""Temporal's default number of task priority levels: keys 1 (most urgent) to 5."""
DEFAULT_PRIORITY = 3
"""Temporal's own default key, so a job without one queues exactly as an untagged task."""
MAX_JOB_BYTES = 512 * 1024
"""The job as JSON (ASCII, as Temporal sends it): the workflow's input, the one record in history that grows
with the job (every other is of a fixed size), kept to a quarter of the server's 2 MB payload limit."""
MAX_CLIP_SECONDS = 600.0
MIN_CLIP_SECONDS = 0.1
MAX_TEXT_CHARS = 500
MAX_LINES = 12
MAX_URI_CHARS = 1024
AUDIO_RATE = 48_000
NARRATION_FITS = ("grow", "refuse")


@dataclass(frozen=True)
class LoudnessTarget:
    integrated_lufs: float
    true_peak_dbtp: float


LOUDNESS_TARGETS = {
    # What streaming platforms normalize to: the video plays as loud as its neighbours.
    "web": LoudnessTarget(-14.0, -1.5),
    # EBU R128 broadcast delivery.
    "broadcast": LoudnessTarget(-23.0, -1.0),
}


class JobError(ValueError):
    """A job that can never render.

    `field` and `message` are the first problem; `problems` holds every problem found,
    as (field path, message) pairs, and the error's text lists them one per line.
    """

    MAX_LISTED = 20
    """A job with thousands of problems is still refused in a few lines."""

    def __init__(self, field: str, message: str, problems: list[tuple[str, str]] | None = None) -> None:
        self.problems: list[tuple[str, str]] = list(problems) if problems else [(field, message)]
        self.field = field
        self.message = message
        lines = [f"{name}: {text}" for name, text in self.problems[: self.MAX_LISTED]]
        if len(self.problems) > self.MAX_LISTED:
            lines.append(f"… and {len(self.problems) - self.MAX_LISTED} more problems")
        super().__init__("\n".join(lines))

    @classmethod
    def listing(cls, problems: list[tuple[str, str]]) -> JobError:
        """One error for every problem found, the first one first."""
        first = problems[0] if problems else ("job", "is not a valid job")
        return cls(first[0], first[1], problems or [first])


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
    video: str | None = None
    """A video asset clip's source; its picture runs from `trim_in` for `duration` seconds."""
    trim_in: float = 0.0
    fit: str = "pad"
    """How a video asset meets the profile: `pad` (whole picture, bars in `background`) or `crop` (fills)."""
    audio_mode: str = "keep"
    """A video asset's own sound: `keep`, `duck` (lowered under narration) or `drop`."""
    zoom: tuple[float, ...] = ()
    """An image clip's zoom at its first and last frame; empty for other kinds."""
    pan: str = "center"
    own_background: bool = False
    """The job gave this card or question its own `background`: under a theme it replaces the theme's."""
    language: str = ""
    """The language its text is in, as the job gave it (the clip's, else the job's); '': its voice's."""
    voice: str = ""
    """The voice that reads it; '': the job's `tts_voice`."""
    picture: str | None = None
    """A question's (and its reveal's) picture, shown in the layout's picture slot; None: the theme's
    `question_image`, if it has one (`contracts.pictures.question_picture`)."""


MEDIA_FIELDS = (
    "video", "trim_in", "fit", "audio_mode", "zoom", "pan", "own_background", "language", "voice", "picture",
)  # fmt: skip
"""ClipSpec's fields added after the first clips were hashed (media clips, a clip's language and voice, a
question's picture)."""
MEDIA_DEFAULTS: dict[str, object] = {
    spec_field.name: spec_field.default for spec_field in fields(ClipSpec) if spec_field.name in MEDIA_FIELDS
}
"""MEDIA_FIELDS with ClipSpec's own defaults: a clip that leaves them so hashes as it did before they existed."""


@dataclass(frozen=True)
class Poster:
    """The frame the poster (the video's thumbnail) shows: clip `clip` (1-based, as the video's clips are
    labelled, a question being two: the question, then its reveal), `at` seconds into it; None: its middle."""

    clip: int
    at: float | None = None


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
    tts_engine: str | None = None
    """espeak, google, polly or none; None: the channel's or the render worker's engine."""
    max_parallel_clips: int = 8
    gpu_class: str | None = None
    """Render on this GPU class's queue (render-gpu-<class>); None = any render worker."""
    webhook_url: str | None = None
    priority: int = DEFAULT_PRIORITY
    """Temporal task priority of every task this video schedules: 1 is the most urgent, 5 the least."""
    narration_fit: str = "grow"
    """A clip shorter than its narration: 'grow' it to fit, or 'refuse' the job."""
    loudness: str = "web"
    """The delivered loudness target, a key of LOUDNESS_TARGETS."""
    theme: Theme | None = None
    """The job's own theme; None: the channel's default (RENDER_CHANNEL_THEMES)."""
    poster: Poster | None = None
    """The poster's frame; None: the first question's middle (never a reveal: a thumbnail keeps the answer)."""
    captions: tuple[str, ...] = ("vtt",)
    """Caption files published beside a narrated video (CAPTION_FORMATS); empty: none."""

    def asset_uris(self) -> list[str]:
        """Every asset the job reads, for the pre-flight check."""
        uris = [u for c in self.clips for u in (c.image, c.audio, c.video, c.picture) if u]
        if self.theme is not None:
            theme, sounds = self.theme, self.theme.sounds
            uris += [u for u in (theme.background.image, theme.background.video, theme.logo and theme.logo.uri) if u]
            uris += [theme.question_image] if theme.question_image else []
            uris += [u for u in (sounds.tick, sounds.sting, sounds.music) if u]
        return sorted(set(uris))


def type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value),
        "null" if value is None else "a number" if isinstance(value, (int, float)) else type(value).__name__,
    )


def brief(value: Any, limit: int = 60) -> str:
    """A value as an error message may quote it: bounded, whatever the job sent."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**limit:
        return f"an integer of about {value.bit_length() * 3 // 10} digits"  # str() refuses > 4300 digits
    text = repr(value) if isinstance(value, (str, int, float)) else type_name(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def field_key(key: Any) -> str:
    """An unknown field's name as it appears in a field path: plain names as they are, others quoted and cut."""
    return key if isinstance(key, str) and PLAIN_KEY.match(key) else brief(str(key), 40)


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
    scheme, path = value.split("://", 1)
    if scheme == "file" and not path.startswith("/"):
        raise JobError(name, f"must be an absolute file:///path URI, got {value[:80]!r}")
    if scheme == "s3" and (path.startswith("/") or "/" not in path.strip("/")):
        raise JobError(name, f"must be an s3://bucket/key URI, got {value[:80]!r}")
    for form in (path, unquote(path)):
        bad = FORBIDDEN_URI_CHARS.search(form)
        if bad:
            raise JobError(name, f"contains control character U+{ord(bad.group()):04X}")
        if any(part in ("..", ".") for part in form.split("/")):
            raise JobError(name, "must not contain '.' or '..' path segments")
    return value


CAPTION_FORMATS = ("vtt", "srt")
"""Caption files a job may ask for: WebVTT (`<output>.vtt`, the default) and SubRip (`<output>.srt`)."""

OUTPUT_SUFFIXES = (".mp4", ".m4v", ".mov")
"""What an output may be named: the containers the service writes (MP4 and QuickTime)."""
MAX_OUTPUT_NAME_BYTES = 200
"""Longest output file name: 255 bytes on common file systems, less room for the publishing temp name."""


def check_output_uri(name: str, value: str) -> str:
    """A URI a video can be published at: a video file name, short enough to publish beside a temp name."""
    check_uri(name, value)
    leaf = PurePosixPath(value.split("://", 1)[-1]).name
    if not leaf.endswith(OUTPUT_SUFFIXES):
        raise JobError(name, f"{value[:200]} must end in .mp4, .m4v or .mov")
    if len(leaf.encode()) > MAX_OUTPUT_NAME_BYTES:
        raise JobError(name, f"the file name is {len(leaf.encode())} bytes long; at most {MAX_OUTPUT_NAME_BYTES}")
    return value


JOB_FIELDS = {
    "$schema",
    "video_id",
    "output_uri",
    "channel",
    "profile",
    "clips",
    "questions",
    "total_questions",
    "tts_voice",
    "tts_speed",
    "tts_engine",
    "question_seconds",
    "reveal_seconds",
    "max_parallel_clips",
    "gpu_class",
    "min_gpu_memory_gb",
    "webhook_url",
    "priority",
    "narration_fit",
    "loudness",
    "theme",
    "poster",
    "captions",
}


def decoded_job(decode: Callable[[], Any]) -> Any:
    """The job's JSON from `decode` (a payload converter call), or a JobError saying why it could not be read."""
    try:
        return decode()
    except Exception as err:
        reason = str(err.__cause__ or err) or type(err).__name__
        raise JobError("job", f"could not be decoded as JSON: {reason[:200]}") from None
