"""Names that several processes must agree on, defined once."""

WORKFLOW_NAME = "RenderVideo"

CONTROL_QUEUE = "render-control"
"""CPU workers: the workflow, job checks, concat and upload."""

GPU_QUEUE = "render-gpu"
"""GPU (or CPU-fallback) workers: clip renders."""

CHECK_JOB = "check_job"
RENDER_CLIP = "render_clip"
CONCAT_CLIPS = "concat_clips"
UPLOAD_VIDEO = "upload_video"
DISCARD_INTERMEDIATES = "discard_intermediates"
NOTIFY_WEBHOOK = "notify_webhook"
NOTIFY_WORKFLOW_NAME = "NotifyWebhook"

PROGRESS_QUERY = "progress"

# Error types carried on ApplicationError.type: retry policies name them.
INVALID_JOB = "InvalidJob"
BAD_ASSET = "BadAsset"
FORBIDDEN_PATH = "ForbiddenPath"
MEDIA_MISMATCH = "MediaMismatch"
NON_RETRYABLE_ERRORS = (INVALID_JOB, BAD_ASSET, FORBIDDEN_PATH)
