"""Storage by URI: atomic publish, confinement to roots, S3 over real HTTP (moto server), segment records."""

from __future__ import annotations

import hashlib
import itertools
import json
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest
from temporalio.testing import ActivityEnvironment

from activities.keeper import Beat, Heartbeats
from contracts import names
from contracts.job import parse_job
from contracts.plan import plan_video
from engine.deps import Deps
from engine.metrics import DAMAGED
from engine.segments import SegmentStore, segment_frames
from engine.settings import S3Settings, Settings, StorageSettings, file_uri
from engine.storage import FileStorage, ObjectMissing, S3Storage, StorageError, confine


def test_file_upload_is_atomic_and_overwrites(tmp_path: Path) -> None:
    storage = FileStorage()
    src = tmp_path / "src.bin"
    src.write_bytes(b"a" * 1000)
    uri = file_uri(tmp_path / "out" / "v.mp4")
    storage.upload(src, uri)
    src.write_bytes(b"b" * 10)
    storage.upload(src, uri)
    assert storage.size(uri) == 10
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["v.mp4"]  # no partial left behind
    assert storage.delete_prefix(file_uri(tmp_path / "out")) == 1
    assert not storage.exists(uri)


def test_confine_refuses_escapes(tmp_path: Path) -> None:
    root = tmp_path / "assets"
    (root / "ok").mkdir(parents=True)
    (root / "ok" / "a.png").write_bytes(b"x")
    (root / "link").symlink_to("/etc")
    roots = (file_uri(root),)
    assert confine(file_uri(root / "ok" / "a.png"), roots, "image")
    for bad in (
        "file:///etc/passwd",
        file_uri(root) + "/../secret",
        file_uri(root / "link" / "passwd"),
        file_uri(str(root) + "-other/a.png"),
        "s3://bucket/a.png",
    ):
        with pytest.raises(StorageError) as caught:
            confine(bad, roots, "image")
        assert caught.value.error_type == names.FORBIDDEN_PATH
        assert "image:" in str(caught.value)
    assert confine("s3://media/assets/a.png", ("s3://media/assets",), "image")
    with pytest.raises(StorageError):
        confine("s3://media/assets-evil/a.png", ("s3://media/assets",), "image")


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> S3Storage:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret-value")
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket="videos")
    return S3Storage(endpoint_url=s3_endpoint, region="us-east-1")


def test_s3_round_trip_multipart(s3: S3Storage, tmp_path: Path) -> None:
    src = tmp_path / "big.bin"
    payload = bytes(range(256)) * (12 * 2**20 // 256)  # 12 MiB: above the multipart threshold
    src.write_bytes(payload)
    uri = "s3://videos/v1/video.mp4"
    assert not s3.exists(uri)
    s3.upload(src, uri)
    assert s3.exists(uri) and s3.size(uri) == len(payload)
    back = tmp_path / "back.bin"
    s3.download(uri, back)
    assert back.read_bytes() == payload
    assert s3.local_path(uri) is None
    assert s3.delete_prefix("s3://videos/v1/") == 1
    assert not s3.exists(uri)


def test_s3_missing_object_and_bucket_are_clear(s3: S3Storage, tmp_path: Path) -> None:
    with pytest.raises(StorageError) as missing:
        s3.download("s3://videos/nope.png", tmp_path / "x")
    assert isinstance(missing.value, ObjectMissing) and not missing.value.retryable
    with pytest.raises(StorageError) as no_bucket:
        s3.upload(Path(__file__), "s3://no-such-bucket/a.mp4")
    assert no_bucket.value.error_type == names.FORBIDDEN_PATH and not no_bucket.value.retryable
    assert "no-such-bucket" in str(no_bucket.value)
    assert "test-secret-value" not in str(no_bucket.value)


def segment_files(directory: Path, seconds: int) -> list[Path]:
    """Two-second keyframe-aligned segments, as a render writes them."""
    directory.mkdir()
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"testsrc=s=160x90:r=30:d={seconds}", "-c:v", "libx264",
         "-g", "60", "-f", "segment", "-segment_format", "mov", "-segment_time", "2", "-reset_timestamps", "1",
         str(directory / "%05d.mov")],
        check=True,
    )  # fmt: skip
    return sorted(directory.glob("*.mov"))


async def test_stored_segments_are_trusted_by_their_records_alone(
    s3: S3Storage, s3_endpoint: str, tmp_path: Path
) -> None:
    """On S3: each segment goes up with its record; a retry reuses the leading ones whose bytes match."""
    settings = Settings(
        storage=StorageSettings(
            work_uri="s3://videos/work",
            output_roots=("s3://videos/out",),
            asset_roots=("s3://videos/assets",),
            scratch_dir=tmp_path,
            s3=S3Settings(endpoint_url=s3_endpoint, region="us-east-1"),
        )
    )
    job = parse_job({"video_id": "records", "profile": {"width": 160, "height": 90},
                     "clips": [{"kind": "recipe", "recipe": "testsrc", "duration": 7}]})  # fmt: skip
    clip = plan_video(job).clips[0]
    store = SegmentStore(Deps.from_settings(settings), "records", clip, segment_frames(job.profile, 2))
    files = segment_files(tmp_path / "rendered", 7)
    assert store.count == len(files) == 4  # 60, 60, 60 and 30 frames
    env = ActivityEnvironment()
    beats: list[dict[str, Any]] = []
    env.on_heartbeat = lambda *details: beats.append(details[0])

    async def publish_all() -> None:
        for number, path in enumerate(files):
            await store.publish(number, path, Heartbeats(Beat()))

    async def verify(scratch: str) -> int:
        (tmp_path / scratch).mkdir()
        store.local.clear()
        return await store.verified_prefix(0, tmp_path / scratch, Heartbeats(Beat()))

    await env.run(publish_all)
    record = json.loads(s3_object(s3_endpoint, store.record_uri(3)))
    assert record["size"] == files[3].stat().st_size and record["frames"] == 30
    assert record["sha256"] == hashlib.sha256(files[3].read_bytes()).hexdigest()
    assert beats and beats[-1]["bytes_done"] == beats[-1]["bytes_total"] == files[3].stat().st_size

    beats.clear()
    assert await env.run(verify, "all") == 4
    checked = [b["segments_done"] for b in beats if b["stage"] == "verifying checkpoints"]
    assert [n for n, _ in itertools.groupby(checked)] == [0, 1, 2, 3, 4]  # heartbeated segment by segment
    assert [store.local[n].read_bytes() for n in range(4)] == [f.read_bytes() for f in files]

    damaged = bytearray(files[2].read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF  # same size, one byte changed: only the hash can tell
    admin_put(s3_endpoint, store.uri(2), bytes(damaged))
    counted = DAMAGED.labels("segment")._value.get()
    assert await env.run(verify, "damaged") == 2
    assert DAMAGED.labels("segment")._value.get() == counted + 1

    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").delete_object(
        Bucket="videos", Key=store.record_uri(1).removeprefix("s3://videos/")
    )
    assert await env.run(verify, "unrecorded") == 1  # a segment without its record is not trusted


def s3_object(endpoint: str, uri: str) -> bytes:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    body: bytes = (
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        .get_object(Bucket=bucket, Key=key)["Body"]
        .read()
    )
    return body


def admin_put(endpoint: str, uri: str, data: bytes) -> None:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").put_object(Bucket=bucket, Key=key, Body=data)
