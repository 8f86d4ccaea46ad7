"""validate_job: a local activity that decodes, validates and plans a job once.

Text is checked here too, with the fonts the render workers use: a character no font
covers, or text that cannot fit at the minimum size, is refused before anything renders.
The job and its plan go to the work store (activities/plans.py); the workflow's history
records only their key and a few counts, so a video that is already running keeps the job
it was accepted with, and no record grows with the job.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, replace
from typing import Any

from temporalio import activity
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

from activities.common import category, temporal_errors
from activities.notify import WebhookPolicy
from activities.plans import PlanStore
from contracts import names
from contracts.budget import Budget, attempt_seconds
from contracts.job import Job, JobError, decoded_job, parse_job
from contracts.material import without_defaults
from contracts.plan import canonical_sha256, job_language, plan_video, spec_material, video_only
from contracts.records import ClipTicket, TicketsInput, ValidatedJob, VideoFacts
from contracts.themes import Theme, channel_theme, parse_channel_themes, theme_material
from contracts.webhooks import BadWebhookUrl, checked_url
from engine.deps import Deps
from engine.media.fit import font_problems, text_problems
from engine.media.layers import Fonts
from engine.threads import stoppable
from runtime.settings import RenderEnv, load

UNHASHED = ("priority",)
"""Fields that change how a video queues, never what it renders: left out of the hash, so a resubmit at
another priority is the same job."""

ADDED_LATER: dict[str, object] = {
    "tts_engine": None, "narration_fit": "grow", "loudness": "web", "theme": None, "poster": None,
    "captions": ("vtt",),
}  # fmt: skip
"""Job fields added after outputs were first published, with their defaults: hashed only when set, so a
video published before they existed, restarted with the same job, is still the same job."""


def job_hash(job: Job) -> str:
    """Which job a published output came from: sha256 of the validated job, canonically encoded."""
    fields = asdict(job)
    for name in UNHASHED:
        fields.pop(name)
    fields["clips"] = [spec_material(spec) for spec in job.clips]  # media fields only where set
    for clip in fields["clips"]:
        clip.pop("own_background", None)  # whether `background` was written out: the same job either way
    if job.theme is not None:
        fields["theme"] = theme_material(job.theme)  # its fields added later only where set
    return canonical_sha256(without_defaults(fields, ADDED_LATER))


def text_fonts() -> Fonts:
    """The primary faces the render workers are configured with (RENDER_FONT, RENDER_FONT_BOLD)."""
    env = load(RenderEnv)
    return Fonts(env.render.font, env.render.font_bold)


def channel_themes() -> dict[str, str]:
    """Each channel's default theme (RENDER_CHANNEL_THEMES, e.g. 'news=studio,*=midnight')."""
    return parse_channel_themes(load(RenderEnv).render.channel_themes)


def job_theme(job: Job, themes: dict[str, str]) -> Theme:
    """The job's own theme, else its channel's default, else the built-in default."""
    return job.theme or channel_theme(job.channel, themes)


def checked_webhook(job: Job, policy: WebhookPolicy) -> None:
    """Refuse a webhook URL the farm's policy refuses without a lookup (a host written as an internal
    address, a host off the list): the tenant hears it now, not from a notice that is never sent."""
    if job.webhook_url:
        try:
            checked_url(job.webhook_url, policy.hosts, allow_loopback=policy.allow_loopback)
        except BadWebhookUrl as err:
            raise JobError("webhook_url", str(err)) from None


def checked_job(
    raw: Any,
    fonts: Fonts,
    budget: Budget | None = None,
    webhooks: WebhookPolicy | None = None,
    themes: dict[str, str] | None = None,
    *,
    stop: threading.Event | None = None,
) -> Job:
    """The job, with its text checked against the fonts, the theme and the frame: a JobError names every field at fault.

    Han characters are checked in the forms the whole job is drawn in (its voice's or its text's language);
    `stop` ends the layout early (raising `Stopped`) once the caller has given up on it.
    """
    job = parse_job(raw, budget)
    if webhooks is not None:
        checked_webhook(job, webhooks)
    fonts = replace(fonts, language=job_language(job))
    problems = font_problems(job) or text_problems(raw, job, fonts, job_theme(job, themes or {}), stop)
    if problems:
        raise JobError.listing(problems)
    return job


def video_facts(job: Job) -> VideoFacts:
    return VideoFacts(
        video_id=job.video_id,
        channel=job.channel,
        priority=job.priority,
        gpu_class=job.gpu_class,
        max_parallel_clips=job.max_parallel_clips,
        output_uri=job.output_uri,
        loudness=job.loudness,
        tts_voice=job.tts_voice,
        tts_speed=job.tts_speed,
        tts_engine=job.tts_engine,
        webhook_url=job.webhook_url,
        narrated_clips=sum(1 for spec in job.clips if spec.narration),
    )


class ValidateActivities:
    """Validation with the worker's budget and fonts: a job over the budget, or text that cannot be drawn
    or cannot fit, is refused here, naming the field and the limit."""

    def __init__(self, deps: Deps, budget: Budget, webhooks: WebhookPolicy | None = None) -> None:
        self.plans = PlanStore(deps)
        self.budget = budget
        self.webhooks = webhooks or WebhookPolicy()

    @activity.defn(name=names.VALIDATE_JOB)
    async def validate_job(self, raw_job: RawValue) -> ValidatedJob:
        try:
            payload = decoded_job(lambda: activity.payload_converter().from_payload(raw_job.payload))
            themes = channel_themes()
            job = await stoppable(checked_job, payload, text_fonts(), self.budget, self.webhooks, themes)
            workflow_id = activity.info().workflow_id
            if job.video_id != workflow_id:  # checked before anything is stored under the job's video id
                raise JobError(
                    "video_id",
                    f"{job.video_id!r} must equal the workflow id {workflow_id!r}: one video, one workflow",
                )
        except JobError as err:
            raise ApplicationError(
                str(err),
                {"field": err.field},
                type=names.INVALID_JOB,
                non_retryable=True,
                category=category(names.INVALID_JOB),
            ) from None
        plan = video_only(plan_video(job, job_theme(job, themes)))
        with temporal_errors():
            plan_key = await self.plans.save(job, plan)
        return ValidatedJob(
            facts=video_facts(job),
            plan_key=plan_key,
            job_hash=job_hash(job),
            clips=len(plan.clips),
            frames=plan.frames,
            fps=plan.profile.fps,
            assets=len(job.asset_uris()),
        )

    @activity.defn(name=names.CLIP_TICKETS)
    async def clip_tickets(self, inp: TicketsInput) -> list[ClipTicket]:
        """A page of the stored plan as the workflow schedules it: bounded by `count`, never the whole job."""
        with temporal_errors():
            head = await self.plans.head(inp.plan_key)
            clips = [
                await self.plans.clip(inp.plan_key, n) for n in range(inp.first, min(inp.first + inp.count, head.clips))
            ]
        tickets = []
        for clip in clips:
            seconds = attempt_seconds(clip.spec, clip.frames, head.profile)
            tickets.append(ClipTicket(clip.index, clip.label, clip.frames, seconds))
        return tickets
