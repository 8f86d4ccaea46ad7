"""validate_job: a local activity that decodes, validates and plans a job once.

Text is checked here too, with the fonts the render workers use: a character no font
covers, or text that cannot fit at the minimum size, is refused before anything renders.
Its result is recorded in the workflow's history, so a video that is already
running keeps the job it was accepted with: a stricter contract in a later
release cannot fail its replay.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

from activities.media.fit import text_problems
from activities.media.layers import Fonts
from contracts import names
from contracts.budget import Budget
from contracts.job import Job, JobError, decoded_job, parse_job
from contracts.plan import canonical_sha256, plan_video
from contracts.records import ValidatedJob
from runtime.settings import RenderEnv, load

UNHASHED = ("priority",)
"""Fields that change how a video queues, never what it renders: left out of the hash, so a resubmit at
another priority is the same job."""

ADDED_LATER: dict[str, object] = {"tts_engine": None}
"""Job fields added after outputs were first published, with their defaults: hashed only when set, so a
video published before they existed, restarted with the same job, is still the same job."""


def job_hash(job: Job) -> str:
    """Which job a published output came from: sha256 of the validated job, canonically encoded."""
    fields = asdict(job)
    for name in UNHASHED:
        fields.pop(name)
    for name, default in ADDED_LATER.items():
        if fields[name] == default:
            fields.pop(name)
    return canonical_sha256(fields)


def text_fonts() -> Fonts:
    """The primary faces the render workers are configured with (RENDER_FONT, RENDER_FONT_BOLD)."""
    env = load(RenderEnv)
    return Fonts(Path(env.font), Path(env.font_bold))


def checked_job(raw: Any, fonts: Fonts, budget: Budget | None = None) -> Job:
    """The job, with its text checked against the fonts and the frame: a JobError names every field at fault."""
    job = parse_job(raw, budget)
    problems = text_problems(raw, job, fonts)
    if problems:
        raise JobError.listing(problems)
    return job


class ValidateActivities:
    """Validation with the worker's budget and fonts: a job over the budget, or text that cannot be drawn
    or cannot fit, is refused here, naming the field and the limit."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget

    @activity.defn(name=names.VALIDATE_JOB)
    async def validate_job(self, raw_job: RawValue) -> ValidatedJob:
        try:
            payload = decoded_job(lambda: activity.payload_converter().from_payload(raw_job.payload))
            job = await asyncio.to_thread(checked_job, payload, text_fonts(), self.budget)
        except JobError as err:
            raise ApplicationError(str(err), {"field": err.field}, type=names.INVALID_JOB, non_retryable=True) from None
        return ValidatedJob(job=job, plan=plan_video(job), job_hash=job_hash(job))
