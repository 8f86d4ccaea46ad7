"""The failures activities report, as types: each says once whether another attempt can help.

Engine code raises these (or `StorageError`, `FfmpegError`, `OSError`); only the
activity boundary (`temporal_errors`) turns them into Temporal's ApplicationError,
so a failure is retryable or not in one place, whichever activity meets it.
"""

from __future__ import annotations

from typing import ClassVar

from contracts import names


class RenderError(Exception):
    """A failure with a known cause; `error_type` names it in history, `retryable` decides the retry."""

    error_type: ClassVar[str]
    retryable: ClassVar[bool]


class InvalidOutput(RenderError):
    """The output can never be written where the job asks (a directory, under a file, a name too long)."""

    error_type = names.INVALID_JOB
    retryable = False


class OutputTaken(RenderError):
    """The output belongs to another video, or to no render at all: it is never overwritten."""

    error_type = names.OUTPUT_TAKEN
    retryable = False


class BadAsset(RenderError):
    """An asset is missing or is not media ffmpeg can read: the same on every attempt."""

    error_type = names.BAD_ASSET
    retryable = False


class MediaMismatch(RenderError):
    """Media is not what the plan says (frames, samples, a segment not whole): lost writes, so retry."""

    error_type = names.MEDIA_MISMATCH
    retryable = True


class IntermediateLost(RenderError):
    """An intermediate the plan relies on is gone (removed by hand or by the sweep): a retry cannot bring it back."""

    error_type = "IntermediateLost"
    retryable = False


class IntermediateDamaged(RenderError):
    """An intermediate's bytes are not those recorded when it was stored (it has been removed): every retry of
    the step that reads it would meet the same, so the video fails naming it, and a resubmit renders it again."""

    error_type = "IntermediateDamaged"
    retryable = False


class VoiceRejected(RenderError):
    """A speech engine refused the request (an unknown voice, a bad parameter, no access): the same every time."""

    error_type = "VoiceRejected"
    retryable = False


class VoiceUnavailable(RenderError):
    """A speech engine did not answer, or answered with a server error, after its own retries: try again later."""

    error_type = "VoiceUnavailable"
    retryable = True


class TextDoesNotFit(RenderError):
    """A clip's text needs more room than the frame has even at the minimum size (a job validated before the check)."""

    error_type = names.INVALID_JOB
    retryable = False
