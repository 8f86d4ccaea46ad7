"""validate_job: a local activity that decodes, validates and plans a job once.

Its result is recorded in the workflow's history, so a video that is already
running keeps the job it was accepted with: a stricter contract in a later
release cannot fail its replay.
"""

from __future__ import annotations

from dataclasses import asdict

from temporalio import activity
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

from contracts import names
from contracts.budget import Budget
from contracts.job import Job, JobError, decoded_job, parse_job
from contracts.plan import canonical_sha256, plan_video
from contracts.records import ValidatedJob


def job_hash(job: Job) -> str:
    """Which job a published output came from: sha256 of the validated job, canonically encoded."""
    return canonical_sha256(asdict(job))


class ValidateActivities:
    """Validation with the worker's budget: a job over it is refused here, naming the limit."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget

    @activity.defn(name=names.VALIDATE_JOB)
    async def validate_job(self, raw_job: RawValue) -> ValidatedJob:
        try:
            payload = decoded_job(lambda: activity.payload_converter().from_payload(raw_job.payload))
            job = parse_job(payload, self.budget)
        except JobError as err:
            raise ApplicationError(str(err), {"field": err.field}, type=names.INVALID_JOB, non_retryable=True) from None
        return ValidatedJob(job=job, plan=plan_video(job), job_hash=job_hash(job))
