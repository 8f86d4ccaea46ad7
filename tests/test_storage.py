"""Storage by URI: atomic publish, confinement to roots, and S3 over real HTTP (moto server)."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from activities.settings import file_uri
from activities.storage import FileStorage, S3Storage, StorageError, confine
from contracts import names


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
    assert missing.value.error_type == names.BAD_ASSET
    with pytest.raises(StorageError) as no_bucket:
        s3.upload(Path(__file__), "s3://no-such-bucket/a.mp4")
    assert no_bucket.value.error_type == names.FORBIDDEN_PATH and not no_bucket.value.retryable
    assert "no-such-bucket" in str(no_bucket.value)
    assert "test-secret-value" not in str(no_bucket.value)
