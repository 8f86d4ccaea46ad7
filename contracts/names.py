"""Names that several processes must agree on, defined once."""

WORKFLOW_NAME = "RenderVideo"

CONTROL_QUEUE = "render-control"
"""CPU workers: the workflow, job checks, concat and upload."""

GPU_QUEUE = "render-gpu"
"""GPU (or CPU-fallback) workers: clip renders."""

CHECK_JOB = "check_job"
RENDER_CLIP = "render_clip"
NARRATE = "narrate"
"""Render queue: every clip's narration synthesized before the clips render, so each clip's length is known."""
BUILD_AUDIO = "build_audio"
"""Control queue: the whole video's sound (mix, loudness, AAC) built once while the clips render video only."""
CONCAT_CLIPS = "concat_clips"
UPLOAD_VIDEO = "upload_video"
DISCARD_INTERMEDIATES = "discard_intermediates"
QUEUE_HAS_WORKERS = "queue_has_workers"
"""Whether any worker polls a task queue: asked when a clip waited past the queue wait limit."""
VALIDATE_JOB = "validate_job"
"""A local activity: the job validated and planned once, recorded in history."""
CLIP_TICKETS = "clip_tickets"
"""A local activity: one page of the stored plan as the workflow schedules it (labels, frames, budgets)."""
NOTIFY_WEBHOOK = "notify_webhook"
NOTIFY_WORKFLOW_NAME = "NotifyWebhook"

PROGRESS_QUERY = "progress"

# Error types carried on ApplicationError.type: retry policies name them.
INVALID_JOB = "InvalidJob"
BAD_ASSET = "BadAsset"
FORBIDDEN_PATH = "ForbiddenPath"
MEDIA_MISMATCH = "MediaMismatch"
OUTPUT_TAKEN = "OutputTaken"
"""The output key belongs to another video (or to no render at all): never overwritten."""
FFMPEG_REJECTED = "FfmpegRejected"
"""ffmpeg refused this input or graph: the same attempt would fail the same way."""
FFMPEG_FAILED = "FfmpegError"
"""ffmpeg was killed or hit a machine-level error (I/O, memory): another attempt may succeed."""
NON_RETRYABLE_ERRORS = (INVALID_JOB, BAD_ASSET, FORBIDDEN_PATH, OUTPUT_TAKEN, FFMPEG_REJECTED)
EXPECTED_ERRORS = (INVALID_JOB, BAD_ASSET)
"""The job's own mistakes, not the farm's: raised as ApplicationErrorCategory.BENIGN, so the SDK logs them
without a stack trace and leaves them out of its failure metrics."""
