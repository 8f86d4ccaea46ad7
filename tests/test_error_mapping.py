"""Engine errors become ApplicationErrors that say what happened and whether a retry can help."""

from __future__ import annotations

import errno
import shutil
from collections import namedtuple
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from activities.common import DISK_FULL, temporal_errors
from contracts import names
from engine.deps import scratch
from engine.errors import BadAsset, IntermediateDamaged, IntermediateLost, InvalidOutput, MediaMismatch, OutputTaken
from engine.media.process import FfmpegError
from engine.scratch import activity_dirs
from engine.settings import Settings, StorageSettings, file_uri
from engine.storage import ObjectMissing

Usage = namedtuple("Usage", "total used free")


def settings_in(tmp_path: Path) -> Settings:
    root = file_uri(tmp_path)
    return Settings(
        storage=StorageSettings(
            work_uri=root, output_roots=(root,), asset_roots=(root,), scratch_dir=tmp_path / "scratch"
        )
    )


@pytest.mark.parametrize(
    ("error", "error_type", "message", "will_repeat"),
    [
        (FfmpegError(-9, ""), "FfmpegError", "ffmpeg was killed by SIGKILL", False),
        (FfmpegError(-1, "no progress for 120 s; ffmpeg was killed"), "FfmpegError", "no progress for 120 s", False),
        (
            FfmpegError(1, "frame=1\nsome detail\nConversion failed!\n"),
            names.FFMPEG_REJECTED,
            "ffmpeg exited with 1: Conversion failed!",
            True,
        ),
        (
            # The reason, not only ffmpeg's last word, and no memory addresses.
            FfmpegError(
                1,
                "[Parsed_amix_0 @ 0x55d0c0de] Input link in0:v0 parameters do not match\n"
                "Error reinitializing filters!\nConversion failed!",
            ),
            names.FFMPEG_REJECTED,
            "ffmpeg exited with 1: Input link in0:v0 parameters do not match (Conversion failed!)",
            True,
        ),
        (
            FfmpegError(1, "av_interleaved_write_frame(): Input/output error\nConversion failed!"),
            "FfmpegError",
            "Input/output error",
            False,
        ),
        (
            FfmpegError(1, "Error closing file /s/a.wav: No space left on device"),
            DISK_FULL,
            "no space left on device; ffmpeg exited with 1: Error closing file /s/a.wav: No space left on device",
            False,
        ),
        (OSError(errno.ENOSPC, "No space left on device", "/s/clip.mov"), DISK_FULL, "writing /s/clip.mov", False),
        (OSError(errno.ENAMETOOLONG, "File name too long", "/out/" + "n" * 300), names.INVALID_JOB, "too long", True),
    ],
)
def test_messages_say_what_happened_and_whether_it_will_repeat(
    error: Exception, error_type: str, message: str, will_repeat: bool
) -> None:
    with pytest.raises(ApplicationError) as caught, temporal_errors():
        raise error
    assert caught.value.type == error_type and caught.value.non_retryable is will_repeat
    assert message in caught.value.message and " @ 0x" not in caught.value.message


def test_other_os_errors_pass_through() -> None:
    with pytest.raises(PermissionError), temporal_errors():
        raise PermissionError(errno.EACCES, "denied")


async def test_a_failure_on_a_full_scratch_disk_is_reported_as_the_full_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ffmpeg 5.1 can lose writes to a full disk and exit 0; what fails later must still say 'disk full'."""
    monkeypatch.setattr(shutil, "disk_usage", lambda _: Usage(262144, 262144, 0))
    with pytest.raises(ApplicationError) as caught, temporal_errors():
        async with scratch(settings_in(tmp_path), "clip") as tmp:
            (tmp / "clip.mov").write_bytes(b"")
            raise ApplicationError("clip has 0 frames, the plan has 90", type=names.MEDIA_MISMATCH)
    assert caught.value.type == DISK_FULL and not caught.value.non_retryable
    assert "the scratch disk is full" in caught.value.message and "0 of 262144 bytes free" in caught.value.message
    assert "clip has 0 frames" in caught.value.message
    assert not activity_dirs(tmp_path / "scratch")  # and the scratch directory is gone


async def test_with_room_to_spare_a_failure_stays_what_it_was(tmp_path: Path) -> None:
    error: Any
    with pytest.raises(ApplicationError) as caught:
        async with scratch(settings_in(tmp_path), "clip"):
            error = ApplicationError("clip has 0 frames", type=names.MEDIA_MISMATCH)
            raise error
    assert caught.value is error


@pytest.mark.parametrize(
    ("error", "error_type", "will_repeat"),
    [
        (MediaMismatch("clip has 89 frames, the plan has 90"), names.MEDIA_MISMATCH, False),
        (OutputTaken("output_uri: … belongs to video 'a'"), names.OUTPUT_TAKEN, True),
        (InvalidOutput("output_uri: … is not a regular file"), names.INVALID_JOB, True),
        (BadAsset("image asset … does not exist"), names.BAD_ASSET, True),
        (IntermediateLost("neither … nor … exists"), "IntermediateLost", True),
        (IntermediateDamaged("clip 2's intermediate … was damaged"), "IntermediateDamaged", True),
        (ObjectMissing("s3 download … failed (no such object)"), "ObjectMissing", True),
    ],
)
def test_each_failure_type_is_retried_or_not_in_one_place(error: Exception, error_type: str, will_repeat: bool) -> None:
    """Whichever activity meets a failure, the boundary gives it the same type and the same retry decision."""
    with pytest.raises(ApplicationError) as caught, temporal_errors():
        raise error
    assert (caught.value.type, caught.value.non_retryable) == (error_type, will_repeat)
    assert caught.value.message == str(error)
