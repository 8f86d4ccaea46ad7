"""The job contract: JSON in, a validated `Job` out, or a `JobError` naming every field at fault.

The same parser runs at the edge (starter) and inside the workflow, so a job sent
with the raw `temporal` CLI is held to exactly the same rules. The rules, limits and the dataclasses the service
records in its histories are `contracts.rules`'; the job file itself is declared as typed models in
`contracts.job_models`, which apply them. This module is where the rest of the service imports both from: it sits
above them, so neither imports it.
"""

from __future__ import annotations

from typing import Any

from contracts.budget import Budget
from contracts.job_models import parse
from contracts.rules import (
    AUDIO_RATE as AUDIO_RATE,
)
from contracts.rules import (
    CAPTION_FORMATS as CAPTION_FORMATS,
)
from contracts.rules import (
    DEFAULT_PRIORITY as DEFAULT_PRIORITY,
)
from contracts.rules import (
    FORBIDDEN_TEXT_CHARS as FORBIDDEN_TEXT_CHARS,
)
from contracts.rules import (
    FORBIDDEN_URI_CHARS as FORBIDDEN_URI_CHARS,
)
from contracts.rules import (
    HEX_COLOUR as HEX_COLOUR,
)
from contracts.rules import (
    JOB_FIELDS as JOB_FIELDS,
)
from contracts.rules import (
    LONE_SURROGATE as LONE_SURROGATE,
)
from contracts.rules import (
    LOUDNESS_TARGETS as LOUDNESS_TARGETS,
)
from contracts.rules import (
    MAX_CLIP_SECONDS as MAX_CLIP_SECONDS,
)
from contracts.rules import (
    MAX_CLIPS as MAX_CLIPS,
)
from contracts.rules import (
    MAX_JOB_BYTES as MAX_JOB_BYTES,
)
from contracts.rules import (
    MAX_LINES as MAX_LINES,
)
from contracts.rules import (
    MAX_OUTPUT_NAME_BYTES as MAX_OUTPUT_NAME_BYTES,
)
from contracts.rules import (
    MAX_TEXT_CHARS as MAX_TEXT_CHARS,
)
from contracts.rules import (
    MAX_URI_CHARS as MAX_URI_CHARS,
)
from contracts.rules import (
    MEDIA_DEFAULTS as MEDIA_DEFAULTS,
)
from contracts.rules import (
    MIN_CLIP_SECONDS as MIN_CLIP_SECONDS,
)
from contracts.rules import (
    NAMED_COLOURS as NAMED_COLOURS,
)
from contracts.rules import (
    NARRATION_FITS as NARRATION_FITS,
)
from contracts.rules import (
    OUTPUT_SUFFIXES as OUTPUT_SUFFIXES,
)
from contracts.rules import (
    PLAIN_KEY as PLAIN_KEY,
)
from contracts.rules import (
    PRIORITY_LEVELS as PRIORITY_LEVELS,
)
from contracts.rules import (
    URI_SCHEMES as URI_SCHEMES,
)
from contracts.rules import (
    VIDEO_ID_PATTERN as VIDEO_ID_PATTERN,
)
from contracts.rules import (
    VOICE_PATTERN as VOICE_PATTERN,
)
from contracts.rules import (
    WEBHOOK_PATTERN as WEBHOOK_PATTERN,
)
from contracts.rules import (
    ClipSpec as ClipSpec,
)
from contracts.rules import (
    Job as Job,
)
from contracts.rules import (
    JobError as JobError,
)
from contracts.rules import (
    LoudnessTarget as LoudnessTarget,
)
from contracts.rules import (
    Poster as Poster,
)
from contracts.rules import (
    Profile as Profile,
)
from contracts.rules import (
    brief as brief,
)
from contracts.rules import (
    check_output_uri as check_output_uri,
)
from contracts.rules import (
    check_text as check_text,
)
from contracts.rules import (
    check_uri as check_uri,
)
from contracts.rules import (
    decoded_job as decoded_job,
)
from contracts.rules import (
    field_key as field_key,
)
from contracts.rules import (
    type_name as type_name,
)


def parse_job(raw: Any, budget: Budget | None = None) -> Job:
    """Validate a job as submitted (JSON-decoded). Raises JobError naming every problem's field.

    With a `budget` (the worker's, from RENDER_* settings), a job over it is refused too.
    """
    return parse(raw, budget)
