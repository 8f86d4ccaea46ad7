"""Pre-flight: everything the workers would refuse a job for, found before anything starts, without a server.

`render check`, `render submit` and `starter.check` run it: the starter's one door into the activities, so the
check is the workers' own code, never a copy of it (tests/test_boundaries.py holds it to that). The job's own
rules (schema, budget, text fit in its format, webhook URL) are validate_job's functions; its output and assets
are checked with the functions check_job and the asset fetch use, against this process's RENDER_* settings.
Run beside the workers (the same environment), "no problems" means the render will not be refused for a reason
a check could have seen.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from activities.assemble import check_output_name, check_output_place
from activities.manifest import read_manifest, refusal
from activities.notify import WebhookPolicy
from activities.validate import channel_themes, checked_job, checked_webhook, job_hash, job_theme
from contracts.job import Job, JobError, parse_job
from contracts.job_models import asset_fields
from contracts.pictures import question_picture
from contracts.plan import PlannedClip, plan_video
from engine.deps import Deps, check_asset_size, fetch_asset
from engine.errors import RenderError
from engine.kinds import renderer_for
from engine.media.encoder import video_args
from engine.media.fit import clip_fields
from engine.media.graphs import ClipInputs, Segments, build_clip_commands, colour_matrix
from engine.media.images import check_image_pixels, frame_sized, write_picture
from engine.media.layers import Fonts
from engine.media.probe import ProbeError, decode_check
from engine.media.process import run_tool
from engine.media.text import text_hyphenation
from engine.media.themed import clip_theme, theme_fonts
from engine.media.themed_graph import Look
from engine.media_assets import fetch_loop_video, fetch_video
from engine.settings import Settings
from engine.storage import StorageError, Storages, confine
from engine.tts import espeak_voices
from engine.voices.espeak_words import espeak_speaks
from engine.voices.polly import polly_voice
from runtime.settings import render_settings

ROOTS_SETTING = {"output_uri": "RENDER_OUTPUT_ROOTS"}
"""The setting that holds the roots a field must fall under; every asset field: RENDER_ASSET_ROOTS."""


@dataclass(frozen=True)
class Problem:
    """One reason the job would be refused: the field at fault in the job's own words, and why."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


@dataclass
class Report:
    """What a check found: `problems` refuse the job; `unchecked` could not be looked at (no S3 credentials)."""

    problems: list[Problem] = field(default_factory=list)
    unchecked: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def problem(name: str, err: BaseException) -> Problem:
    """`err` about `name`, without the field the message may already start with."""
    text = " ".join(str(err).split())
    for prefix in (f"{name}: ", f"{name} "):
        text = text.removeprefix(prefix)
    if "outside the allowed roots" in text:
        text += f"; the roots are set by {ROOTS_SETTING.get(name, 'RENDER_ASSET_ROOTS')}"
    return Problem(name, text)


async def check(raw: Any, settings: Settings | None = None) -> Report:
    """Every problem the workers would refuse `raw` (a JSON-decoded job) for; `settings`: RENDER_* by default.

    The job's schema and budget come first: nothing else can be looked at in a job that does not parse. Then
    every other problem is listed, not only the first (the workers stop at the first).
    """
    settings = settings or render_settings()
    policy = WebhookPolicy(settings.webhooks.hosts, settings.webhooks.allow_loopback)
    fonts = Fonts(settings.render.font, settings.render.font_bold)
    try:
        job = parse_job(raw, settings.limits.budget)
    except JobError as err:  # nothing else can be looked at in a job that does not parse
        return Report([Problem(name, message) for name, message in err.problems])
    report = Report()
    for step in (
        lambda: checked_webhook(job, policy),
        lambda: checked_job(raw, fonts, settings.limits.budget, None, channel_themes()),  # text fit in the job's format
    ):
        try:
            await asyncio.to_thread(step)
        except JobError as err:
            report.problems += [Problem(name, message) for name, message in err.problems]
    report.problems += voice_problems(raw, job, settings)
    deps = Deps(settings, Storages(settings.storage.s3.endpoint_url, settings.storage.s3.region))
    await _check_output(deps, job, report)
    for name, uri, kind in asset_fields(raw):
        await _check_asset(deps, name, uri, kind, report)
    return report


def voice_problems(raw: Any, job: Job, settings: Settings) -> list[Problem]:
    """Narrations the job's speech engine has no voice for, each field once. Polly speaks a language tag only
    in the locales it has a voice for (`engine/voices/polly.py`): a question tagged `ko` would fail the
    video at narration. espeak-ng reads every language tag, but a cloud voice's id (`Lucia`) would be read in
    silence; Google picks a voice for every tag."""
    engine = job.tts_engine or settings.speech.channels.get(job.channel) or settings.speech.engine
    local = engine in ("espeak", "auto") and shutil.which("espeak-ng") is not None
    if engine != "polly" and not local:
        return []
    found: dict[str, str] = {}
    for place, spec in zip(clip_fields(raw, job), job.clips, strict=True):
        if not spec.narration:
            continue
        voice = spec.voice or job.tts_voice
        if local:
            if espeak_speaks(espeak_voices(voice)) is False:  # say, a Polly voice id ('Lucia') read by espeak-ng
                message = (
                    f"espeak-ng has no voice {voice!r}: name a language tag like 'es' or one of `espeak-ng --voices`"
                )
                found.setdefault(_voice_field(raw, place, spec.voice), message)
            continue
        try:
            polly_voice(voice)
        except RenderError as err:
            found.setdefault(_voice_field(raw, place, spec.voice), str(err))
    return [Problem(name, message) for name, message in found.items()]


def _voice_field(raw: Any, place: str, voice: str) -> str:
    """Where the job names the voice a clip is read in: its `voice`, its `language`, else the job's."""
    if voice:
        name, _, index = place.rstrip("]").partition("[")
        clips = raw.get(name) if isinstance(raw, dict) else None
        own = clips[int(index)] if isinstance(clips, list) and int(index) < len(clips) else None
        return f"{place}.voice" if isinstance(own, dict) and own.get("voice") else f"{place}.language"
    return "language" if isinstance(raw, dict) and raw.get("language") and "tts_voice" not in raw else "tts_voice"


async def _check_output(deps: Deps, job: Job, report: Report) -> None:
    """check_job's output rules: inside the roots, a video file name, a place it can be written, not another's."""
    settings = deps.settings
    output = job.output_uri or f"{settings.storage.output_roots[0]}/{job.video_id}.mp4"
    try:
        confine(output, settings.storage.output_roots, "output_uri")
        check_output_name(output)
        check_output_place(output)
    except (RenderError, StorageError) as err:
        report.problems.append(problem("output_uri", err))
        return
    try:
        storage = deps.storages.for_uri(output)
        with tempfile.TemporaryDirectory(prefix="render-check-") as tmp:
            manifest = await asyncio.to_thread(read_manifest, storage, output, Path(tmp))
        exists = await asyncio.to_thread(storage.exists, output)
    except Exception as err:  # no credentials or endpoint here (StorageError or other): the workers may reach it
        report.unchecked.append(problem("output_uri", err))
        return
    if reason := refusal(manifest, exists, job.video_id, job_hash(job), output):
        report.problems.append(problem("output_uri", RuntimeError(reason)))


async def _check_asset(deps: Deps, name: str, uri: str, kind: str, report: Report) -> None:
    """What the asset fetch refuses: outside the roots, missing, over the size budget; local files are decoded
    too (an image's pixels, an image or audio file that ffmpeg cannot read). A store this process cannot
    reach (no credentials, no endpoint) leaves the asset unchecked, not refused: the workers may reach it."""
    try:
        confine(uri, deps.settings.storage.asset_roots, name)
    except StorageError as err:
        report.problems.append(problem(name, err))
        return
    try:
        storage = deps.storages.for_uri(uri)
        if not await asyncio.to_thread(storage.exists, uri):
            report.problems.append(Problem(name, f"{uri[:200]} does not exist"))
            return
        await check_asset_size(deps, uri, name)
        local = storage.local_path(uri)
        if local is None or kind == "video":  # decoding a whole video (or fetching it) is the render's work
            return
        if kind == "image":
            budget = deps.settings.limits.budget.image_megapixels
            await asyncio.to_thread(check_image_pixels, local, f"{name} {uri[:200]}", budget)
        await decode_check(local, kind)
    except ProbeError as err:
        report.problems.append(Problem(name, f"{uri[:200]} is not readable {kind}: {' '.join(str(err).split())}"))
    except RenderError as err:  # over the size budget, too many pixels, not an image
        report.problems.append(problem(name, err))
    except Exception as err:  # no credentials or endpoint here (StorageError or other): the workers may reach it
        report.unchecked.append(problem(name, err))


class PreviewFailed(Exception):
    """A preview frame could not be drawn: an asset the render would refuse, or ffmpeg's own failure (one line)."""


PREVIEW_SECONDS = 2.0
"""Where a preview frame is taken: 2 s into the clip (the countdown part way down), or its middle if shorter."""


async def preview(raw: Any, out: Path, clips: list[int] | None = None, settings: Settings | None = None) -> list[Path]:
    """One PNG per clip (or per clip numbered in `clips`, from 1 as labelled), drawn by the real clip graph
    with the job's theme, text and pictures, so a channel sees a job before paying for its render.

    Only the frames up to the one shown are encoded (libx264, no sound, no narration): seconds a clip.
    A JobError or an asset the render would refuse is raised as the render would raise it.
    """
    settings = settings or render_settings()
    job = parse_job(raw, settings.limits.budget)
    plan = plan_video(job, job_theme(job, channel_themes()))
    wanted = clips or [clip.index + 1 for clip in plan.clips]
    for number in wanted:
        if not 1 <= number <= len(plan.clips):
            raise JobError("--clip", f"is {number}; the video has {len(plan.clips)} clips (a question is two)")
    deps = Deps(settings, Storages(settings.storage.s3.endpoint_url, settings.storage.s3.region))
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for number in wanted:
        clip = plan.clips[number - 1]
        path = out / f"clip-{number:03d}-{clip.spec.kind}.png"
        with tempfile.TemporaryDirectory(prefix="render-preview-") as tmp:
            try:
                await _preview_frame(deps, job, clip, Path(tmp), path)
            except (RenderError, StorageError, ProbeError) as err:
                raise PreviewFailed(f"{clip.label}: {err}") from None
        written.append(path)
    return written


async def _preview_frame(deps: Deps, job: Job, clip: PlannedClip, tmp: Path, path: Path) -> None:
    profile = job.profile
    spec = clip.spec
    image = await fetch_asset(deps, spec.image, tmp / "image", "image") if spec.image else None
    if image is not None and renderer_for(spec.kind).still:  # a Ken Burns image is fitted as it zooms
        image = await frame_sized(image, profile, spec.background, tmp / "frame.png")
    video = await fetch_video(deps, spec, tmp / "video") if spec.video else None
    look = None
    fonts = Fonts(
        deps.settings.render.font,
        deps.settings.render.font_bold,
        clip.language or None,
        text_hyphenation(spec.language, spec.voice, job.tts_voice),
    )
    if clip.theme is not None:
        theme = clip_theme(clip.theme, spec)
        background = image
        if background is None and theme.background.image:
            background = await fetch_asset(deps, theme.background.image, tmp / "theme-background", "image")
        logo = await fetch_asset(deps, theme.logo.uri, tmp / "theme-logo", "image") if theme.logo else None
        loop = None
        if background is None and theme.background.video:
            loop = await fetch_loop_video(deps, theme.background.video, tmp / "theme-background-video")
        picture_uri = question_picture(spec, theme)
        picture = await fetch_asset(deps, picture_uri, tmp / "picture", "image") if picture_uri else None
        look = Look(theme, clip.number, clip.total, background, logo, loop, picture)
        fonts = theme_fonts(theme, fonts)
    shown = min(clip.frames // 2, round(PREVIEW_SECONDS * profile.fps))
    segments = Segments(tmp / "segments", clip.frames)
    segments.directory.mkdir()
    # The clip's own length places a theme's exit and transition where the render has them; only the frames up
    # to the one shown are encoded.
    commands = await asyncio.to_thread(
        build_clip_commands, spec, profile, clip.frames, inputs=ClipInputs(image=image, video=video), fonts=fonts,
        video_args=[*video_args("libx264", profile), "-frames:v", str(shown + 1)], text_dir=tmp, segments=segments,
        audio_out=None, look=look,
    )  # fmt: skip
    for text_path, text in commands.text_files.items():
        text_path.write_text(text, encoding="utf-8")
    for image_path, drawn in commands.images.items():
        write_picture(image_path, drawn)
    code, _, err = await run_tool(*commands.video)
    if code != 0:
        raise PreviewFailed(f"{clip.label}: ffmpeg exited with {code}: {err.decode(errors='replace').strip()[-300:]}")
    matrix = colour_matrix(profile)
    code, _, err = await run_tool(
        "ffmpeg", "-v", "error", "-y", "-i", str(tmp / "segments" / "00000.mov"),
        "-vf", f"select=eq(n\\,{shown}),scale=in_color_matrix={matrix}:in_range=tv:out_range=pc",
        "-frames:v", "1", "-pix_fmt", "rgb24", str(path),
    )  # fmt: skip
    if code != 0 or not path.exists():
        raise PreviewFailed(f"{clip.label}: no frame taken: {err.decode(errors='replace').strip()[-300:]}")
