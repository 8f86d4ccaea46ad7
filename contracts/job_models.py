"""The job file as typed models: the input layer of the job contract.

One declaration gives three things: validation that reports every problem at once,
each with its field path; the conversion into the `Job` and `ClipSpec` dataclasses
the rest of the service uses (and Temporal histories record); and the JSON Schema
published at schema/job.schema.json, which editors and CI check job files against.

Values are checked by today's rules and worded as before (`clips[2].duration: must be
between 0.1 and 600, got -1`): each field type carries its own validator, so nothing is
coerced ("5" is not a number, true is not 1) and pydantic's own messages are translated.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Union, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import ErrorDetails

from contracts.budget import Budget, budget_problems
from contracts.fields import (
    URI,
    VOICE_MESSAGE,
    Answer,
    Choice,
    Duration,
    Integer,
    Language,
    Number,
    OutputURI,
    Question,
    Text,
    _fail,
    _integer_check,
    _items,
    _Model,
    _optional,
    _Spoken,
    _text_check,
    _unambiguous,
    default_of,
)
from contracts.fields import Colour as Colour  # re-exported with the kinds' models below: code imported them here
from contracts.fields import Line as Line
from contracts.gpus import GPU_CLASSES, class_for_memory
from contracts.kinds import KINDS, JobDefaults, clip_kinds
from contracts.kinds.card import CardClip as CardClip
from contracts.kinds.image import ImageClip as ImageClip
from contracts.kinds.question import QuestionClip
from contracts.kinds.recipe import RECIPE_CLIPS as RECIPE_CLIPS
from contracts.kinds.video import VideoClip as VideoClip
from contracts.languages import voice_language, voice_problem
from contracts.plan import clip_frames
from contracts.rules import (
    AUDIO_RATE,
    CAPTION_FORMATS,
    LOUDNESS_TARGETS,
    MAX_CLIP_SECONDS,
    MAX_CLIPS,
    MAX_JOB_BYTES,
    MAX_URI_CHARS,
    NARRATION_FITS,
    PRIORITY_LEVELS,
    URI_SCHEMES,
    VIDEO_ID_PATTERN,
    VOICE_PATTERN,
    WEBHOOK_PATTERN,
    ClipSpec,
    Job,
    JobError,
    Poster,
    Profile,
    brief,
    field_key,
    type_name,
)
from contracts.theme_models import ThemeField, parse_theme
from contracts.voices import TTS_ENGINES
from contracts.webhooks import BadWebhookUrl, split_url

SCHEMA_ID = "https://render-service.invalid/schema/job.schema.json"


def _webhook_check(value: Any) -> str:
    """A URL that can be sent to as written: a malformed one is refused here, not retried at delivery."""
    url = _text_check(MAX_URI_CHARS, WEBHOOK_PATTERN, "expected an http:// or https:// URL, got {value!r}")(value)
    try:
        split_url(url)
    except BadWebhookUrl as err:
        _fail(str(err))
    return url


class ProfileIn(_Model):
    """Encoding profile shared by every clip of one video."""

    width: Integer(64, 3840, multipleOf=2) = default_of(Profile, "width")  # type: ignore[valid-type]
    height: Integer(64, 2160, multipleOf=2) = default_of(Profile, "height")  # type: ignore[valid-type]
    fps: Integer(1, 60, description=f"must divide {AUDIO_RATE}") = default_of(Profile, "fps")  # type: ignore[valid-type]
    quality: Integer(1, 51, description="CRF or NVENC CQ; lower is better") = default_of(  # type: ignore[valid-type]
        Profile, "quality"
    )

    @field_validator("width", "height")
    @classmethod
    def _even(cls, value: int) -> int:
        if value % 2:
            _fail(f"must be even for yuv420p, got {value}")
        return value

    @field_validator("fps")
    @classmethod
    def _whole_samples(cls, value: int) -> int:
        if AUDIO_RATE % value:
            _fail(f"must divide {AUDIO_RATE} so every frame holds whole audio samples, got {value}")
        return value


CLIP_KINDS = tuple(contract.kind for contract in clip_kinds())
"""The kinds a job file can write (`contracts.kinds`), in the order the schema and errors list them."""
Clip: Any = Annotated[Union[tuple(contract.model for contract in clip_kinds())], Field(discriminator="kind")]  # noqa: UP007
CLIP_MODELS: dict[str, type[BaseModel]] = {
    contract.kind: contract.model for contract in clip_kinds() if isinstance(contract.model, type)
}
"""The kinds whose model is one class (a recipe's is a union of its variants)."""


PosterClip = Integer(
    1,
    MAX_CLIPS,
    description="numbered from 1 as the video's clips are labelled; a question is two: it, then its reveal",
)


class PosterIn(_Model):
    """The poster's frame, when not the default (the first question's middle, never a reveal)."""

    clip: PosterClip  # type: ignore[valid-type]
    at: Number(0.0, MAX_CLIP_SECONDS) | None = Field(  # type: ignore[valid-type]
        default=default_of(Poster, "at"), description="seconds into the clip; unset: its middle"
    )


class SeedQuestion(_Model, _Spoken):
    """The trivia farm's question format: a question clip written as answer_a..answer_d, correct_answer."""

    question: Question
    answer_a: Answer
    answer_b: Answer
    answer_c: Answer
    answer_d: Answer
    correct_answer: Annotated[str, WithJsonSchema({"type": "string", "maxLength": 200})] = Field(
        description="one of answer_a..answer_d, or a letter A-D"
    )
    image: URI | None = Field(
        default=None, description="an image shown with the question and its reveal, beside or above the question"
    )

    @field_validator("answer_b", "answer_c", "answer_d")
    @classmethod
    def _a_different_answer(cls, value: str, info: ValidationInfo) -> str:
        """Two equal answers make the question unanswerable, and `correct_answer` ambiguous."""
        for x in "abc":
            if f"answer_{x}" != info.field_name and info.data.get(f"answer_{x}") == value:
                _fail(f"repeats answer_{x} ({brief(value)}); each answer must differ")
        return value

    @field_validator("correct_answer", mode="plain")
    @classmethod
    def _one_of_the_answers(cls, value: Any, info: ValidationInfo) -> str:
        text: str = _text_check(200)(value)
        answers = [info.data.get(f"answer_{x}") for x in "abcd"]
        if None not in answers:
            _unambiguous(text, answers, "reword that answer")
        if None not in answers and text not in answers and text.upper() not in ("A", "B", "C", "D"):
            _fail(f"must equal one of answer_a..answer_d or be a letter A-D, got {brief(text)}")
        return text


class JobIn(_Model):
    """A render job: one video made of clips, rendered with one encoding profile."""

    model_config = ConfigDict(title="Render job", json_schema_extra={"$id": SCHEMA_ID})

    schema_: Annotated[
        str | None, PlainValidator(_optional(_text_check(MAX_URI_CHARS))), WithJsonSchema({"type": ["string", "null"]})
    ] = Field(default=None, alias="$schema", description="the schema this file follows; ignored")
    video_id: Annotated[
        str,
        PlainValidator(
            _text_check(
                128, VIDEO_ID_PATTERN, "use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit"
            )
        ),
        WithJsonSchema({"type": "string", "pattern": VIDEO_ID_PATTERN.pattern}),
    ]
    tts_voice: Annotated[
        str,
        PlainValidator(_text_check(64, VOICE_PATTERN, VOICE_MESSAGE)),
        WithJsonSchema({"type": "string", "pattern": VOICE_PATTERN.pattern}),
    ] = default_of(Job, "tts_voice")
    language: Language = Field(
        default=None, description="the language of the job's text; unset: its voice's (a job with one sets tts_voice)"
    )
    question_seconds: Number(1.0, MAX_CLIP_SECONDS) = default_of(JobDefaults, "question_seconds")  # type: ignore[valid-type]
    reveal_seconds: Duration = default_of(JobDefaults, "reveal_seconds")
    questions: Annotated[
        list[SeedQuestion], BeforeValidator(_items(0, MAX_CLIPS // 2)), Field(max_length=MAX_CLIPS // 2)
    ] = []  # noqa: RUF012
    total_questions: Annotated[int | None, WithJsonSchema({"type": ["integer", "null"], "minimum": 0})] = None
    clips: Annotated[list[Clip], BeforeValidator(_items(0, MAX_CLIPS)), Field(max_length=MAX_CLIPS)] = []  # noqa: RUF012
    output_uri: OutputURI | None = None
    webhook_url: Annotated[
        str | None,
        PlainValidator(_optional(_webhook_check)),
        WithJsonSchema({"type": ["string", "null"], "pattern": WEBHOOK_PATTERN.pattern}),
    ] = None
    profile: Annotated[ProfileIn, BeforeValidator(lambda value: {} if value is None else value)] = Field(
        default_factory=ProfileIn
    )
    channel: Text(64) = default_of(Job, "channel")  # type: ignore[valid-type]
    tts_speed: Number(0.5, 2.0) = default_of(Job, "tts_speed")  # type: ignore[valid-type]
    tts_engine: Annotated[str | None, WithJsonSchema({"enum": [*TTS_ENGINES, None]})] = Field(
        default=None, description="the speech engine; unset: the channel's or the render worker's"
    )
    max_parallel_clips: Integer(1, 64) = default_of(Job, "max_parallel_clips")  # type: ignore[valid-type]
    gpu_class: Annotated[str | None, WithJsonSchema({"enum": [*sorted(GPU_CLASSES), None]})] = None
    min_gpu_memory_gb: Number(1, 1024) | None = None  # type: ignore[valid-type]
    priority: Integer(1, PRIORITY_LEVELS, description="1 most urgent … 5 least") = default_of(  # type: ignore[valid-type]
        Job, "priority"
    )
    narration_fit: Choice(*NARRATION_FITS) = default_of(Job, "narration_fit")  # type: ignore[valid-type]
    loudness: Choice(*LOUDNESS_TARGETS) = default_of(Job, "loudness")  # type: ignore[valid-type]
    theme: Annotated[Any, PlainValidator(lambda value: value, json_schema_input_type=ThemeField)] = Field(
        default=None, description="the video's look; unset: the channel's default theme (RENDER_CHANNEL_THEMES)"
    )
    """Checked on its own by `parse_theme`, so each problem names its full path."""
    poster: PosterIn | None = Field(
        default=None, description="the poster's frame; unset: the first question's middle (never a reveal)"
    )
    captions: Annotated[
        list[Choice(*CAPTION_FORMATS)],  # type: ignore[valid-type]
        BeforeValidator(_items(0, len(CAPTION_FORMATS))),
        Field(
            max_length=len(CAPTION_FORMATS),
            description="caption files beside a narrated video, named as the output plus .vtt or .srt; [] for none",
        ),
    ] = list(default_of(Job, "captions"))  # noqa: RUF012

    @field_validator("captions")
    @classmethod
    def _each_format_once(cls, formats: list[str]) -> list[str]:
        if len(set(formats)) != len(formats):
            _fail(f"lists a format twice: {', '.join(formats)}")
        return formats

    @field_validator("total_questions", mode="plain")
    @classmethod
    def _total(cls, value: Any, info: ValidationInfo) -> int | None:
        questions = info.data.get("questions")
        if value is None or questions is None:
            return None
        return int(_integer_check(len(questions), len(questions))(value))

    @field_validator("gpu_class", mode="plain")
    @classmethod
    def _known_class(cls, value: Any) -> str | None:
        if value is None:
            return None
        name: str = _text_check(32)(value)
        if name not in GPU_CLASSES:
            _fail(f"unknown GPU class {brief(name)} (known: {', '.join(sorted(GPU_CLASSES))})")
        return name

    @field_validator("tts_engine", mode="plain")
    @classmethod
    def _known_engine(cls, value: Any) -> str | None:
        if value is None:
            return None
        name: str = _text_check(32)(value)
        if name not in TTS_ENGINES:
            _fail(f"unknown TTS engine {brief(name)} (known: {', '.join(TTS_ENGINES)})")
        return name

    @field_validator("min_gpu_memory_gb")
    @classmethod
    def _memory_fits(cls, memory: float | None, info: ValidationInfo) -> float | None:
        if memory is None:
            return None
        name = info.data.get("gpu_class")
        if name is not None:
            if GPU_CLASSES[name].memory_gb < memory:
                _fail(f"{name} has {GPU_CLASSES[name].memory_gb} GB, less than {memory:g}")
        elif class_for_memory(memory) is None:
            _fail(f"no known GPU class with NVENC has {memory:g} GB")
        return memory


# --- from the validated models to the dataclasses the service uses ---


def _job_voice(job: JobIn) -> str:
    """The job's voice: `tts_voice`, else its language's (the tag itself), else English."""
    if "tts_voice" in job.model_fields_set or job.language is None:
        return job.tts_voice
    return job.language


def _voice_problems(model: JobIn) -> list[tuple[str, str]]:
    """Voices that cannot read their text's language (`questions[3].voice`), and voices nobody knows."""
    problems = []
    voice = _job_voice(model)
    if model.language and voice_language(voice) is not None:
        problem = voice_problem(voice, model.language)
        if problem:
            problems.append(("tts_voice", problem))
    sources: list[tuple[str, Any]] = [(f"questions[{i}]", q) for i, q in enumerate(model.questions)]
    sources += [(f"clips[{i}]", c) for i, c in enumerate(model.clips) if isinstance(c, _Spoken)]
    for where, clip in sources:
        if clip.voice:
            problem = voice_problem(clip.voice, clip.language or model.language or "")
            if problem:
                problems.append((f"{where}.voice", problem))
    return problems


def _seed_as_clip(seed: SeedQuestion) -> QuestionClip:
    answers = [seed.answer_a, seed.answer_b, seed.answer_c, seed.answer_d]
    return QuestionClip(
        kind="question",
        question=seed.question,
        answers=answers,
        correct=seed.correct_answer,
        language=seed.language,
        voice=seed.voice,
        picture=seed.image,
    )


def _defaults(job: JobIn) -> JobDefaults:
    return JobDefaults(job.language, _job_voice(job), job.question_seconds, job.reveal_seconds)


def _specs(clip: BaseModel, job: JobIn) -> list[ClipSpec]:
    """The clip's specs, as its kind's contract plans them."""
    specs = KINDS[str(getattr(clip, "kind", ""))].specs
    assert specs is not None  # a kind a job file can write plans its specs
    return specs(clip, _defaults(job))


def _sourced_specs(model: JobIn) -> list[tuple[str, ClipSpec]]:
    """Every planned clip with the field it comes from (a question gives two)."""
    sourced = [
        (f"questions[{i}]", spec)
        for i, seed in enumerate(model.questions)
        for spec in _specs(_seed_as_clip(seed), model)
    ]
    return sourced + [(f"clips[{i}]", spec) for i, clip in enumerate(model.clips) for spec in _specs(clip, model)]


def check_budget(model: JobIn, job: Job, budget: Budget) -> None:
    """Refuse a job over `budget`, naming each clip (or the whole job) and the limit it breaks."""
    fps = job.profile.fps
    clips = [(name, spec, clip_frames(spec, fps)) for name, spec in _sourced_specs(model)]
    problems = budget_problems(clips, job.profile, budget)
    if problems:
        raise JobError.listing(problems)


def to_job(model: JobIn) -> Job:
    """The validated model as the `Job` dataclass; the planned clip count is checked here."""
    clips = [spec for _, spec in _sourced_specs(model)]
    if not clips:
        raise JobError("clips", "a job needs at least one clip or question")
    if len(clips) > MAX_CLIPS:
        raise JobError("clips", f"the job plans {len(clips)} clips; the limit is {MAX_CLIPS} per video")
    theme, problems = parse_theme(model.theme)
    problems += _voice_problems(model)
    if problems:
        raise JobError.listing(problems)
    gpu_class = model.gpu_class
    if gpu_class is None and model.min_gpu_memory_gb is not None:
        gpu_class = class_for_memory(model.min_gpu_memory_gb)
    poster = _poster(model.poster, clips)
    return Job(
        video_id=model.video_id,
        clips=tuple(clips),
        profile=Profile(**model.profile.model_dump()),
        output_uri=model.output_uri,
        channel=model.channel,
        tts_voice=_job_voice(model),
        tts_speed=model.tts_speed,
        tts_engine=model.tts_engine,
        max_parallel_clips=model.max_parallel_clips,
        gpu_class=gpu_class,
        webhook_url=model.webhook_url,
        priority=model.priority,
        narration_fit=model.narration_fit,
        loudness=model.loudness,
        theme=theme,
        poster=poster,
        captions=tuple(model.captions),
    )


def _poster(given: PosterIn | None, clips: list[ClipSpec]) -> Poster | None:
    """The poster's frame, inside the video: a clip it has, a time inside that clip."""
    if given is None:
        return None
    if given.clip > len(clips):
        raise JobError("poster.clip", f"is {given.clip}; the video has {len(clips)} clips (a question is two)")
    duration = clips[given.clip - 1].duration
    if given.at is not None and given.at >= duration:
        raise JobError("poster.at", f"is {given.at:g} s; clip {given.clip} lasts {duration:g} s")
    return Poster(given.clip, given.at)


def asset_fields(raw: Any) -> list[tuple[str, str, str]]:
    """Every asset a valid job reads as (field path, URI, kind: image, audio or video), in the job's own words,
    so a missing or misplaced asset is reported as `theme.logo.uri`, not as a URI alone."""
    model = JobIn.model_validate(raw)
    found: list[tuple[str, str, str]] = [
        (f"questions[{i}].image", seed.image, "image") for i, seed in enumerate(model.questions) if seed.image
    ]
    for i, clip in enumerate(model.clips):
        for name, kind in KINDS[clip.kind].assets.items():
            value = getattr(clip, name, None)
            if isinstance(value, str) and value.startswith(URI_SCHEMES):  # a video clip's `audio` is a mode
                found.append((f"clips[{i}].{name}", value, kind))
    theme, _ = parse_theme(model.theme)
    if theme is not None:
        background, sounds = theme.background, theme.sounds
        found += [
            (field, uri, kind)
            for field, uri, kind in (
                ("theme.background.image", background.image, "image"),
                ("theme.background.video", background.video, "video"),
                ("theme.logo.uri", theme.logo and theme.logo.uri, "image"),
                ("theme.question_image", theme.question_image, "image"),
                ("theme.sounds.tick", sounds.tick, "audio"),
                ("theme.sounds.sting", sounds.sting, "audio"),
                ("theme.sounds.music", sounds.music, "audio"),
            )
            if uri
        ]
    return found


# --- pydantic's errors in the contract's words ---

_ALLOWED: dict[str, list[str]] = {}


def _allowed(model: type[BaseModel]) -> str:
    return ", ".join(sorted(f.alias or name for name, f in model.model_fields.items()))


def _path(loc: tuple[str | int, ...]) -> tuple[str, type[BaseModel] | None]:
    """A pydantic location as a field path (`clips[2].params.maxiter`), and the model it ends in."""
    text = ""
    model: type[BaseModel] | None = JobIn
    parts = list(loc)
    i = 0
    while i < len(parts):
        part = parts[i]
        if isinstance(part, int):
            text += f"[{part}]"
            head = parts[0]
            model = SeedQuestion if head == "questions" else None
            # The clip union's tags appear in the location after the index: drop them.
            if head == "clips" and i + 1 < len(parts) and parts[i + 1] in CLIP_KINDS:
                kind = parts[i + 1]
                i += 1
                model = CLIP_MODELS.get(str(kind))
                variants = KINDS[str(kind)].variants
                if i + 1 < len(parts) and parts[i + 1] in variants:
                    i += 1
                    model = variants[str(parts[i])]
        else:
            key = field_key(part)
            text = f"{text}.{key}" if text else key
            if model is not None:
                field = model.model_fields.get(part)
                annotation = getattr(field, "annotation", None) if field else None
                model = _model_in(annotation)
        i += 1
    return text, model


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds, an optional one (`PosterIn | None`) too."""
    for kind in (annotation, *get_args(annotation)):
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            return kind
    return None


def _problem(error: ErrorDetails) -> tuple[str, str]:
    kind, loc, value = error["type"], tuple(error["loc"]), error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        path, _ = _path(loc[:-1])
        parent = _model_at(loc[:-1])
        allowed = _allowed(parent) if parent is not None else "none"
        key = field_key(loc[-1])
        return (f"{path}.{key}" if path else key), f"unknown field (allowed: {allowed})"
    path, _ = _path(loc)
    if kind == "job":
        return path or "job", str(ctx.get("message", ""))
    if kind == "missing":
        return path, "is required"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return path or "job", f"expected a JSON object, got {type_name(value)}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tag = str(ctx.get("discriminator", "")).strip("'")
        where = f"{path}.{tag}" if path else tag
        given = value.get(tag) if isinstance(value, dict) else None
        if given is None:
            return where, "is required"
        if not isinstance(given, str):
            return where, f"expected a string, got {type_name(given)}"
        variants = next((c.variants for c in KINDS.values() if c.variant_tag and c.variant_tag == tag), None)
        if variants is not None:
            return where, f"unknown {tag} {brief(given)} (known: {', '.join(sorted(variants))})"
        return where, f"unknown clip kind {brief(given)} (known: {', '.join(CLIP_KINDS)})"
    if kind == "list_type":
        return path, f"expected a list, got {type_name(value)}"
    message = "".join(c if c.isprintable() else "?" for c in str(error.get("msg", kind)))[:200]
    return path or "job", message


def _model_at(loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    return _path(loc)[1] if loc else JobIn


def _check_size(raw: Any) -> tuple[str, str] | None:
    try:
        size = len(json.dumps(raw, separators=(",", ":"), ensure_ascii=True))
    except (TypeError, ValueError) as err:
        return "job", f"is not plain JSON: {str(err)[:100]}"
    if size > MAX_JOB_BYTES:
        return "job", f"is {size} bytes as JSON; the limit is {MAX_JOB_BYTES} (it is kept in the video's history)"
    return None


def parse(raw: Any, budget: Budget | None = None) -> Job:
    """Validate a job as submitted (JSON-decoded): a `Job`, or a JobError listing every problem.

    With a `budget`, a job that would cost more than it allows is refused too.
    """
    if not isinstance(raw, dict):
        raise JobError("job", f"expected a JSON object, got {type_name(raw)}")
    problems: list[tuple[str, str]] = []
    job: Job | None = None
    try:
        model = JobIn.model_validate(raw)
        job = to_job(model)
        if budget is not None:
            check_budget(model, job, budget)
    except ValidationError as err:
        errors = err.errors(include_url=False)
        # An unknown field first: a misspelt name is often why another field is missing.
        errors.sort(key=lambda e: e["type"] != "extra_forbidden")
        problems = [_problem(e) for e in errors]
    except JobError as err:
        problems = list(err.problems)
    size = _check_size(raw)  # last: a specific field's problem is the more useful answer
    if size is not None and (not problems or size[1].startswith("is ")):
        problems.append(size)
    if problems or job is None:
        raise JobError.listing(problems)
    return job


def job_schema() -> dict[str, Any]:
    """The JSON Schema of a job file, as published at schema/job.schema.json."""
    schema = JobIn.model_json_schema(by_alias=True)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def job_schema_text() -> str:
    return json.dumps(job_schema(), indent=2, ensure_ascii=False) + "\n"
