"""Transfers that are stopped: S3 behind a slow link (the throttling proxy), and local files.

An activity attempt that timed out or was canceled has already been handed to
another worker; its upload must stop and must never land afterwards, or it would
overwrite the newer attempt's object. Each test stops a transfer part way and then
waits until the proxy has dealt with every byte the client sent before looking.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from engine.settings import file_uri
from engine.storage import CHUNK, PART, FileStorage, S3Storage
from engine.threads import Stopped, stoppable
from tests.fault_proxy import FaultProxy, fault_proxy
from tests.test_s3_faults import admin, payload

MiB = 2**20
RATE = 512 * 1024
"""Bytes per second each way: a 6 MiB upload takes about 12 s."""


@pytest.fixture
def slow(s3_endpoint: str) -> Iterator[FaultProxy]:
    with fault_proxy(s3_endpoint, RATE) as proxy:
        yield proxy


@pytest.fixture
def bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret-value")
    name = f"slow-{uuid.uuid4().hex[:8]}"
    admin(s3_endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=1) as running:
        yield running


def keys(endpoint: str, bucket: str) -> list[str]:
    return [o["Key"] for o in admin(endpoint).list_objects_v2(Bucket=bucket).get("Contents", [])]


def open_uploads(endpoint: str, bucket: str) -> list[Any]:
    uploads: list[Any] = admin(endpoint).list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return uploads


def wait_until(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.05)


def stop_midway(future: Future[None], seen: list[int], stop: threading.Event, size: int) -> None:
    """Let the transfer get going, then stop it while it is still far from done."""
    wait_until(lambda: bool(seen))
    time.sleep(1)
    assert not future.done() and seen[-1] < size  # still under way: the link is slow
    stop.set()
    assert isinstance(future.exception(timeout=60), Stopped)


def settled(proxy: FaultProxy, method: str, count: int = 1) -> None:
    """Wait until the proxy has answered (or dropped) `count` requests of `method` for the parts or the object."""
    wait_until(lambda: sum(r.method == method for r in proxy.log) >= count)
    time.sleep(1)


def strictly_increasing(values: list[int]) -> bool:
    return all(a < b for a, b in itertools.pairwise(values))


def test_a_stopped_upload_raises_and_the_object_never_appears(
    slow: FaultProxy, bucket: str, s3_endpoint: str, tmp_path: Path, pool: ThreadPoolExecutor
) -> None:
    size = 6 * MiB  # one part: the upload is a single multipart request body
    payload(tmp_path / "clip.mov", size)
    s3 = S3Storage(endpoint_url=slow.url, region="us-east-1")
    stop, seen = threading.Event(), list[int]()
    future = pool.submit(s3.upload, tmp_path / "clip.mov", f"s3://{bucket}/v/clip.mov", stop=stop, progress=seen.append)
    stop_midway(future, seen, stop, size)

    settled(slow, "PUT")  # every byte the client had sent reached the proxy, which dealt with it
    assert keys(s3_endpoint, bucket) == []
    assert open_uploads(s3_endpoint, bucket) == []  # aborted
    assert not any(r.method == "POST" and "uploadId=" in r.target for r in slow.log)  # never completed
    assert seen and strictly_increasing(seen) and seen[-1] < size


def test_a_stopped_multipart_upload_is_aborted_with_no_parts_left(
    slow: FaultProxy, bucket: str, s3_endpoint: str, tmp_path: Path, pool: ThreadPoolExecutor
) -> None:
    size = 2 * PART + 3 * MiB  # three parts, sent side by side
    payload(tmp_path / "video.mp4", size)
    s3 = S3Storage(endpoint_url=slow.url, region="us-east-1")
    stop, seen = threading.Event(), list[int]()
    future = pool.submit(
        s3.upload, tmp_path / "video.mp4", f"s3://{bucket}/out/video.mp4", stop=stop, progress=seen.append
    )
    stop_midway(future, seen, stop, size)

    settled(slow, "PUT", count=3)
    assert open_uploads(s3_endpoint, bucket) == []
    assert [r.method for r in slow.log if "uploadId=" in r.target and r.method != "PUT"] == ["DELETE"]  # aborted
    assert keys(s3_endpoint, bucket) == []
    assert strictly_increasing(seen) and seen[-1] < size


def test_a_stop_after_every_byte_was_sent_still_publishes_nothing(
    slow: FaultProxy, bucket: str, s3_endpoint: str, tmp_path: Path
) -> None:
    """The whole body is in the kernel's buffers, still crossing the slow link, when the stop comes."""
    size = 1 * MiB
    payload(tmp_path / "clip.mov", size)
    s3 = S3Storage(endpoint_url=slow.url, region="us-east-1")
    stop, seen = threading.Event(), list[int]()

    def progress(done: int) -> None:
        seen.append(done)
        if done == size:
            stop.set()

    with pytest.raises(Stopped):
        s3.upload(tmp_path / "clip.mov", f"s3://{bucket}/v/clip.mov", stop=stop, progress=progress)
    assert seen[-1] == size

    settled(slow, "PUT")  # the part may even arrive whole: the upload it belonged to is already aborted
    assert keys(s3_endpoint, bucket) == []
    assert open_uploads(s3_endpoint, bucket) == []
    assert not any(r.method == "POST" and "uploadId=" in r.target for r in slow.log)


async def test_a_canceled_transfer_waits_for_its_thread_and_never_lands_later(
    slow: FaultProxy, bucket: str, s3_endpoint: str, tmp_path: Path
) -> None:
    """What an abandoned activity attempt does: the cancel stops the upload, and returns only once it has stopped."""
    size = 6 * MiB
    payload(tmp_path / "clip.mov", size)
    s3 = S3Storage(endpoint_url=slow.url, region="us-east-1")
    seen: list[int] = []
    ended: list[BaseException | None] = []

    def upload(stop: threading.Event) -> None:
        try:
            s3.upload(tmp_path / "clip.mov", f"s3://{bucket}/v/clip.mov", stop=stop, progress=seen.append)
        except BaseException as err:
            ended.append(err)
            raise
        ended.append(None)

    task = asyncio.ensure_future(stoppable(upload))
    async with asyncio.timeout(60):
        while not seen:
            await asyncio.sleep(0.05)
    await asyncio.sleep(1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The cancel went through only once the upload had stopped: nothing is left running to land later.
    assert len(ended) == 1 and isinstance(ended[0], Stopped)
    assert not any(r.method == "POST" and "uploadId=" in r.target for r in slow.log)

    await asyncio.to_thread(settled, slow, "PUT")
    await asyncio.sleep(2)
    assert keys(s3_endpoint, bucket) == []
    assert open_uploads(s3_endpoint, bucket) == []
    assert seen[-1] < size


def test_a_stopped_download_leaves_no_file(
    slow: FaultProxy, bucket: str, s3_endpoint: str, tmp_path: Path, pool: ThreadPoolExecutor
) -> None:
    size = 6 * MiB
    payload(tmp_path / "clip.mov", size)
    admin(s3_endpoint).upload_file(str(tmp_path / "clip.mov"), bucket, "v/clip.mov")
    s3 = S3Storage(endpoint_url=slow.url, region="us-east-1")
    (tmp_path / "down").mkdir()
    stop, seen = threading.Event(), list[int]()
    future = pool.submit(
        s3.download, f"s3://{bucket}/v/clip.mov", tmp_path / "down" / "clip.mov", stop=stop, progress=seen.append
    )
    stop_midway(future, seen, stop, size)
    assert list((tmp_path / "down").iterdir()) == []  # neither the file nor a partial one
    assert strictly_increasing(seen) and 0 < seen[-1] < size


def test_progress_counts_every_byte_of_whole_transfers(bucket: str, s3_endpoint: str, tmp_path: Path) -> None:
    size = PART + 2 * MiB
    data = payload(tmp_path / "video.mp4", size)
    s3 = S3Storage(endpoint_url=s3_endpoint, region="us-east-1")
    up: list[int] = []
    s3.upload(tmp_path / "video.mp4", f"s3://{bucket}/out/video.mp4", progress=up.append)
    assert strictly_increasing(up) and up[-1] == size and len(up) > 2
    down: list[int] = []
    s3.download(f"s3://{bucket}/out/video.mp4", tmp_path / "back.mp4", progress=down.append)
    assert strictly_increasing(down) and down[-1] == size and len(down) > 2
    assert (tmp_path / "back.mp4").read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["back.mp4", "video.mp4"]  # no partial left


def test_file_transfers_report_progress_by_chunk(tmp_path: Path) -> None:
    storage = FileStorage()
    data = payload(tmp_path / "src.bin", 3 * CHUNK + 1000)
    uri = file_uri(tmp_path / "out" / "v.mp4")
    seen: list[int] = []
    storage.upload(tmp_path / "src.bin", uri, progress=seen.append)
    assert seen == [CHUNK, 2 * CHUNK, 3 * CHUNK, len(data)]
    back: list[int] = []
    storage.download(uri, tmp_path / "back.bin", progress=back.append)
    assert back == seen and (tmp_path / "back.bin").read_bytes() == data


@pytest.mark.parametrize("at", ["first chunk", "last chunk"])
def test_a_stopped_file_upload_leaves_the_old_file_and_no_partial(tmp_path: Path, at: str) -> None:
    """Stopped between chunks, or after the last one: the check right before the rename catches it."""
    storage = FileStorage()
    size = 3 * CHUNK + 1000
    payload(tmp_path / "src.bin", size)
    out = tmp_path / "out"
    out.mkdir()
    (out / "v.mp4").write_bytes(b"the newer attempt's video")
    stop = threading.Event()
    seen: list[int] = []

    def progress(done: int) -> None:
        seen.append(done)
        if done == (CHUNK if at == "first chunk" else size):
            stop.set()

    with pytest.raises(Stopped):
        storage.upload(tmp_path / "src.bin", file_uri(out / "v.mp4"), stop=stop, progress=progress)
    assert [p.name for p in out.iterdir()] == ["v.mp4"]
    assert (out / "v.mp4").read_bytes() == b"the newer attempt's video"
    assert seen[-1] == (CHUNK if at == "first chunk" else size)


def test_a_stopped_file_download_leaves_no_file(tmp_path: Path) -> None:
    storage = FileStorage()
    payload(tmp_path / "stored.mov", 3 * CHUNK)
    (tmp_path / "down").mkdir()
    stop = threading.Event()
    stop.set()
    with pytest.raises(Stopped):
        storage.download(file_uri(tmp_path / "stored.mov"), tmp_path / "down" / "clip.mov", stop=stop)
    assert list((tmp_path / "down").iterdir()) == []


def test_a_failing_progress_callback_never_fails_the_transfer(bucket: str, s3_endpoint: str, tmp_path: Path) -> None:
    """Say, one that heartbeats from the transfer's thread, where the SDK has no event loop."""
    data = payload(tmp_path / "clip.mov", 2 * CHUNK + 5)
    calls: list[int] = []

    def broken(done: int) -> None:
        calls.append(done)
        raise RuntimeError("no running event loop")

    FileStorage().upload(tmp_path / "clip.mov", file_uri(tmp_path / "out" / "clip.mov"), progress=broken)
    S3Storage(endpoint_url=s3_endpoint, region="us-east-1").upload(
        tmp_path / "clip.mov", f"s3://{bucket}/v/clip.mov", progress=broken
    )
    assert (tmp_path / "out" / "clip.mov").read_bytes() == data
    assert keys(s3_endpoint, bucket) == ["v/clip.mov"]
    assert len(calls) == 2  # once per transfer, then left out
