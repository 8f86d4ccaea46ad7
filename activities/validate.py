"""validate_job: a local activity that decodes, validates and plans a job once.

Its result is recorded in the workflow's history, so a video that is already
running keeps the job it was accepted with: a stricter contract in a later
release cannot fail its replay.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict

from temporalio import activity
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

from contracts import names
from contracts.job import Job, JobError, parse_job
from contracts.plan import plan_video
from contracts.records import ValidatedJob


def job_hash(job: Job) -> str:
    """Which job a published output came from: sha256 of the validated job, canonically encoded."""
    canonical = json.dumps(asdict(job), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


@activity.defn(name=names.VALIDATE_JOB)
async def validate_job(raw_job: RawValue) -> ValidatedJob:
    try:
        data = activity.payload_converter().from_payload(raw_job.payload)
    except Exception as err:
        reason = str(err.__cause__ or err) or type(err).__name__
        error = JobError("job", f"could not be decoded as JSON: {reason[:200]}")
        raise ApplicationError(str(error), {"field": "job"}, type=names.INVALID_JOB, non_retryable=True) from None
    try:
        job = parse_job(data)
    except JobError as err:
        raise ApplicationError(str(err), {"field": err.field}, type=names.INVALID_JOB, non_retryable=True) from None
    return ValidatedJob(job=job, plan=plan_video(job), job_hash=job_hash(job))
