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
from contracts.job import Job, JobError, decoded_job, parse_job
from contracts.plan import canonical_sha256, plan_video
from contracts.records import ValidatedJob

LATER_FIELDS = {"narration_fit": "grow", "loudness": "web"}
"""Job fields added since the first published outputs: left out of the hash at their defaults,
so a job that does not use them keeps the hash its earlier outputs were published under."""


def job_hash(job: Job) -> str:
    """Which job a published output came from: sha256 of the validated job, canonically encoded."""
    material = asdict(job)
    for name, default in LATER_FIELDS.items():
        if material.get(name) == default:
            del material[name]
    return canonical_sha256(material)


@activity.defn(name=names.VALIDATE_JOB)
async def validate_job(raw_job: RawValue) -> ValidatedJob:
    try:
        job = parse_job(decoded_job(lambda: activity.payload_converter().from_payload(raw_job.payload)))
    except JobError as err:
        raise ApplicationError(str(err), {"field": err.field}, type=names.INVALID_JOB, non_retryable=True) from None
    return ValidatedJob(job=job, plan=plan_video(job), job_hash=job_hash(job))
