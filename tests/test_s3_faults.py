"""S3 under faults, over real HTTP: 500s, 503s, dropped and cut connections, wrong credentials.

The moto server is the S3 API; a fault-injecting proxy in front of it fails
chosen requests a set number of times, so each test knows what the client rode out.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.core.authorization import enable_iam_authentication
from temporalio.exceptions import ApplicationError

from activities.common import temporal_errors
from contracts import names
from engine.storage import S3Storage, StorageError
from tests.fault_proxy import FaultProxy, Rule

MiB = 2**20


@pytest.fixture
def bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret-value")
    name = f"faults-{uuid.uuid4().hex[:8]}"
    admin(s3_endpoint).create_bucket(Bucket=name)
    return name


def admin(endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


def payload(path: Path, size: int) -> bytes:
    data = (bytes(range(256)) * (size // 256 + 1))[:size]
    path.write_bytes(data)
    return data


def test_transient_errors_and_dropped_connections_are_retried(proxy: FaultProxy, bucket: str, tmp_path: Path) -> None:
    s3 = S3Storage(endpoint_url=proxy.url, region="us-east-1")
    data = payload(tmp_path / "clip.mov", 300_000)
    uri = f"s3://{bucket}/v/clip.mov"
    proxy.add(
        Rule("500", "PUT"),
        Rule("drop", "PUT"),
        Rule("503", "HEAD"),
        Rule("drop", "HEAD"),
        Rule("503", "GET"),
        Rule("cut-body", "GET"),
        Rule("drop", "GET"),
    )
    s3.upload(tmp_path / "clip.mov", uri)
    assert s3.exists(uri) and s3.size(uri) == len(data)
    s3.download(uri, tmp_path / "back.mov")
    assert (tmp_path / "back.mov").read_bytes() == data
    assert sorted(r.fault or "" for r in proxy.injected()) == sorted(
        ["500", "drop", "503", "drop", "503", "cut-body", "drop"]
    )


def test_multipart_upload_survives_faults_and_publishes_once(proxy: FaultProxy, bucket: str, tmp_path: Path) -> None:
    """20 MiB goes up as three parts; parts fail, and the completing request takes effect but its answer is lost."""
    s3 = S3Storage(endpoint_url=proxy.url, region="us-east-1")
    data = payload(tmp_path / "video.mp4", 20 * MiB)
    uri = f"s3://{bucket}/out/video.mp4"
    proxy.add(
        Rule("503", "PUT", r"partNumber=2"),
        Rule("drop", "PUT", r"partNumber=3"),
        Rule("500", "POST", r"uploadId="),
        Rule("drop-after", "POST", r"uploadId="),
    )
    s3.upload(tmp_path / "video.mp4", uri)
    completes = [r.fault for r in proxy.log if r.method == "POST" and "uploadId=" in r.target]
    assert completes == ["500", "drop-after", None]  # the second took effect unheard; its retry is harmless
    parts = [r for r in proxy.log if r.method == "PUT" and "partNumber=" in r.target and r.status == 200]
    assert len({r.target.split("partNumber=")[1].split("&")[0] for r in parts}) == 3
    s3.download(uri, tmp_path / "back.mp4")
    assert (tmp_path / "back.mp4").read_bytes() == data
    listing = admin(proxy.upstream).list_objects_v2(Bucket=bucket, Prefix="out/")
    assert [o["Key"] for o in listing["Contents"]] == ["out/video.mp4"]  # one object, never two
    assert proxy.injected() and len(proxy.injected()) == 4


def test_an_upload_that_fails_for_good_publishes_nothing(proxy: FaultProxy, bucket: str, tmp_path: Path) -> None:
    s3 = S3Storage(endpoint_url=proxy.url, region="us-east-1")
    payload(tmp_path / "video.mp4", 20 * MiB)
    uri = f"s3://{bucket}/out/partial.mp4"
    proxy.add(Rule("503", "PUT", r"partNumber=3", times=100))  # the last part never gets through
    with pytest.raises(StorageError) as caught:
        s3.upload(tmp_path / "video.mp4", uri)
    assert caught.value.retryable and bucket in str(caught.value)
    assert not s3.exists(uri)  # no partial object under the final key
    assert admin(proxy.upstream).list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []  # aborted


@pytest.fixture
def iam_keys(s3_endpoint: str, bucket: str) -> Iterator[tuple[str, str]]:
    """A real access key pair for a user allowed s3:*, with the endpoint checking signatures for the test."""
    iam = boto3.client("iam", endpoint_url=s3_endpoint, region_name="us-east-1")
    user = f"render-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user)
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    iam.put_user_policy(UserName=user, PolicyName="render", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    with enable_iam_authentication():
        yield key["AccessKeyId"], key["SecretAccessKey"]


WRONG_SECRET = "wrong-secret-Zm9vYmFyYmF6cXV4"


@pytest.mark.parametrize("wrong", ["secret", "key"])
def test_wrong_credentials_fail_for_good_naming_the_bucket_never_the_secret(
    proxy: FaultProxy,
    bucket: str,
    iam_keys: tuple[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    wrong: str,
) -> None:
    key_id, secret = iam_keys
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # boto3 caches the credentials it found first
    uri = f"s3://{bucket}/v/clip.mov"
    payload(tmp_path / "clip.mov", 1000)
    S3Storage(endpoint_url=proxy.url, region="us-east-1").upload(tmp_path / "clip.mov", uri)  # the right keys work

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", WRONG_SECRET)
    if wrong == "key":
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG0")
    boto3.DEFAULT_SESSION = None
    s3 = S3Storage(endpoint_url=proxy.url, region="us-east-1")
    caplog.set_level(logging.DEBUG)
    calls: dict[str, Callable[[], object]] = {
        "head": lambda: s3.exists(uri),
        "download": lambda: s3.download(uri, tmp_path / "x"),
        "upload": lambda: s3.upload(tmp_path / "clip.mov", uri),
        "list": lambda: s3.delete_prefix(f"s3://{bucket}/v/"),
    }
    for action, call in calls.items():
        proxy.log.clear()
        with pytest.raises(StorageError) as caught:
            call()
        err = caught.value
        assert not err.retryable, (action, err)
        assert repr(bucket) in str(err) and "credentials" in str(err), (action, err)
        assert len(proxy.log) == 1, (action, proxy.log)  # refused at once, not retried
        with pytest.raises(ApplicationError) as mapped, temporal_errors():
            call()
        assert mapped.value.non_retryable and mapped.value.type == names.FORBIDDEN_PATH
        for text in (str(err), repr(err), str(mapped.value)):
            assert WRONG_SECRET not in text and secret not in text
    assert WRONG_SECRET not in caplog.text and secret not in caplog.text
