"""The work store's periodic sweep: real files with real ages, and a real S3 endpoint."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from structlog.testing import capture_logs

from engine.deps import Deps
from engine.retention import sweep_forever, sweep_work_store, sweeping
from engine.settings import S3Settings, Settings, StorageSettings, file_uri

HOUR = 3600.0
MAX_AGE = 168 * HOUR


def work_deps(work_uri: str, tmp_path: Path, s3_endpoint: str | None = None) -> Deps:
    settings = Settings(
        storage=StorageSettings(
            work_uri=work_uri,
            output_roots=(file_uri(tmp_path / "output"),),
            asset_roots=(file_uri(tmp_path / "assets"),),
            scratch_dir=tmp_path / "scratch",
            s3=S3Settings(endpoint_url=s3_endpoint, region="us-east-1"),
        )
    )
    return Deps.from_settings(settings)


def write(path: Path, age_hours: float = 0, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return age(path, age_hours)


def age(path: Path, hours: float) -> Path:
    stamp = time.time() - hours * HOUR
    os.utime(path, (stamp, stamp), follow_symlinks=False)
    return path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


async def test_old_files_and_the_directories_they_leave_empty_go_young_ones_stay(root: Path, tmp_path: Path) -> None:
    # A failed video from last month: everything old.
    failed = [write(root / "failed" / "clips" / f"{i}-abc.mov", 30 * 24) for i in range(3)]
    failed.append(write(root / "failed" / "clips" / "seg" / "0-abc.000.mp4", 30 * 24))
    failed.append(write(root / "failed" / "video.mp4", 30 * 24))
    # A video rendering now that resumed old clips: the old ones go, the fresh ones stay.
    stale = write(root / "running" / "clips" / "0-old.mov", 200)
    fresh = write(root / "running" / "clips" / "1-new.mov", 1)
    boundary = write(root / "running" / "clips" / "2-new.mov", 167)
    partial = write(root / "running" / "clips" / ".3-new.mov.0123.partial", 500)
    leftover = write(root / "stray.mp4", 169)
    # An empty directory from long ago, and one something just created.
    for directory in (root / "failed" / "clips" / "seg", root / "failed" / "clips", root / "failed"):
        age(directory, 30 * 24)
    (root / "abandoned" / "clips").mkdir(parents=True)
    age(root / "abandoned" / "clips", 300)
    age(root / "abandoned", 300)
    (root / "just-made" / "clips").mkdir(parents=True)
    age(root / "running" / "clips", 200)  # its files were written long ago, then one just now

    removed = await sweep_work_store(work_deps(file_uri(root), tmp_path), MAX_AGE)

    assert removed == len(failed) + 3  # the failed video, the stale clip, its partial and the stray file
    assert not any(p.exists() for p in [*failed, stale, partial, leftover])
    assert not (root / "failed").exists() and not (root / "abandoned").exists()
    assert fresh.read_bytes() == b"x" and boundary.exists()
    assert (root / "running" / "clips").is_dir() and (root / "just-made" / "clips").is_dir()
    assert root.is_dir()


async def test_the_root_stays_even_when_everything_goes(root: Path, tmp_path: Path) -> None:
    files = [write(root / f"v{i}" / "clips" / "0-a.mov") for i in range(3)]
    deps = work_deps(file_uri(root), tmp_path)

    assert await sweep_work_store(deps, MAX_AGE) == 0
    assert all(p.exists() for p in files)

    # Seen from a week and a bit later, all of it is old.
    assert await sweep_work_store(deps, MAX_AGE, now=time.time() + MAX_AGE + 10 * 60) == 3
    assert root.is_dir() and list(root.iterdir()) == []


async def test_a_missing_work_store_is_nothing_to_sweep(tmp_path: Path) -> None:
    assert await sweep_work_store(work_deps(file_uri(tmp_path / "nowhere"), tmp_path), MAX_AGE) == 0


async def test_symlinks_are_neither_followed_nor_removed(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    precious = [write(outside / "keep.mov", 1000), write(outside / "deep" / "keep.mp4", 1000)]
    age(outside / "deep", 1000)
    age(outside, 1000)
    (root / "v1").mkdir()
    link_dir = root / "v1" / "linked"
    link_dir.symlink_to(outside, target_is_directory=True)
    link_file = root / "linked.mov"
    link_file.symlink_to(precious[0])
    age(link_dir, 1000)
    age(link_file, 1000)
    age(root / "v1", 1000)

    removed = await sweep_work_store(work_deps(file_uri(root), tmp_path), MAX_AGE)

    assert removed == 0
    assert all(p.read_bytes() == b"x" for p in precious) and (outside / "deep").is_dir()
    assert link_dir.is_symlink() and link_file.is_symlink()
    assert (root / "v1").is_dir()  # not empty: the link is still in it


async def test_files_removed_meanwhile_are_not_an_error(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = [write(root / f"v{i % 5}" / "clips" / f"{i}.mov", 200) for i in range(50)]
    deps = work_deps(file_uri(root), tmp_path)

    # Another sweeper (or the video's own cleanup) wins the race for every file.
    real_unlink = os.unlink

    def beaten(path: Any, *args: Any, **kwargs: Any) -> None:
        real_unlink(path, *args, **kwargs)
        real_unlink(path, *args, **kwargs)  # FileNotFoundError, as the loser sees it

    with monkeypatch.context() as patch, capture_logs() as logs:
        patch.setattr(os, "unlink", beaten)
        assert await sweep_work_store(deps, MAX_AGE) == 0
    assert not any(p.exists() for p in files)
    assert [e["failed"] for e in logs if e["event"] == "work store swept"] == [0]

    # And for real: two sweepers over the same store remove each file once between them.
    files = [write(root / f"v{i % 7}" / "clips" / f"{i}.mov", 200) for i in range(300)]
    counts = await asyncio.gather(*(sweep_work_store(deps, MAX_AGE) for _ in range(3)))
    assert sum(counts) == len(files)
    assert not any(p.exists() for p in files) and root.is_dir()


async def test_one_log_line_per_sweep(root: Path, tmp_path: Path) -> None:
    write(root / "v" / "video.mp4", 200)
    with capture_logs() as logs:
        await sweep_work_store(work_deps(file_uri(root), tmp_path), MAX_AGE)
    assert logs == [
        {
            "event": "work store swept",
            "log_level": "info",
            "work_uri": file_uri(root),
            "removed": 1,
            "directories_removed": 0,
            "failed": 0,
            "max_age_hours": 168.0,
        }
    ]


# s3://


@pytest.fixture
def s3_admin(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret-value")
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")


@pytest.fixture
def bucket(s3_admin: Any) -> str:
    name = f"work-{uuid.uuid4().hex[:8]}"
    s3_admin.create_bucket(Bucket=name)
    return name


def keys(admin: Any, bucket: str) -> set[str]:
    pages = admin.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {item["Key"] for page in pages for item in page.get("Contents", [])}


async def test_s3_sweep_removes_old_objects_under_the_work_prefix_only(
    s3_admin: Any, bucket: str, s3_endpoint: str, tmp_path: Path
) -> None:
    work = [f"work/v{i}/clips/{j}-abc.mov" for i in range(3) for j in range(2)] + ["work/v0/video.mp4"]
    others = ["work-other/v0/video.mp4", "output/v0.mp4", "work"]
    for key in work + others:
        s3_admin.put_object(Bucket=bucket, Key=key, Body=b"x")
    deps = work_deps(f"s3://{bucket}/work", tmp_path, s3_endpoint)

    assert await sweep_work_store(deps, MAX_AGE) == 0  # all young
    assert keys(s3_admin, bucket) == set(work + others)

    assert await sweep_work_store(deps, MAX_AGE, now=time.time() + MAX_AGE + 60) == len(work)
    assert keys(s3_admin, bucket) == set(others)
    assert await sweep_work_store(deps, MAX_AGE, now=time.time() + MAX_AGE + 60) == 0


async def test_s3_sweep_pages_past_a_thousand_objects(
    s3_admin: Any, bucket: str, s3_endpoint: str, tmp_path: Path
) -> None:
    count = 1003
    await asyncio.gather(
        *(
            asyncio.to_thread(s3_admin.put_object, Bucket=bucket, Key=f"v{i % 9}/clips/{i}.mov", Body=b"")
            for i in range(count)
        )
    )
    deps = work_deps(f"s3://{bucket}", tmp_path, s3_endpoint)

    assert await sweep_work_store(deps, 0, now=time.time() + 60) == count
    assert keys(s3_admin, bucket) == set()


# the loop


async def wait_for(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_sweep_forever_keeps_sweeping_until_cancelled(root: Path, tmp_path: Path) -> None:
    deps = work_deps(file_uri(root), tmp_path)
    first = write(root / "v1" / "video.mp4", 200)
    task = asyncio.ensure_future(sweep_forever(deps, 0.05, MAX_AGE))
    await wait_for(lambda: not first.exists())
    second = write(root / "v2" / "video.mp4", 200)
    young = write(root / "v3" / "video.mp4", 1)
    await wait_for(lambda: not second.exists())
    assert young.exists() and not task.done()

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_sweep_forever_survives_failing_sweeps(s3_admin: Any, s3_endpoint: str, tmp_path: Path) -> None:
    deps = work_deps("s3://no-such-bucket/work", tmp_path, s3_endpoint)
    with capture_logs() as logs:
        task = asyncio.ensure_future(sweep_forever(deps, 0.05, MAX_AGE))
        await wait_for(lambda: sum(e["event"] == "work store sweep failed" for e in logs) >= 3)
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    failure = next(e for e in logs if e["event"] == "work store sweep failed")
    assert failure["log_level"] == "warning" and "NoSuchBucket" in failure["error"]
    assert "test-secret-value" not in str(logs)


async def test_sweeping_runs_only_for_the_block_and_not_at_all_when_off(root: Path, tmp_path: Path) -> None:
    deps = work_deps(file_uri(root), tmp_path)
    old = write(root / "v1" / "video.mp4", 200)
    async with sweeping(deps, 0, MAX_AGE):
        await asyncio.sleep(0.2)
    assert old.exists()

    async with sweeping(deps, 0.05, MAX_AGE):
        await wait_for(lambda: not old.exists())
    before = {t for t in asyncio.all_tasks() if "sweep_forever" in repr(t)}
    assert before == set()
    later = write(root / "v2" / "video.mp4", 200)
    await asyncio.sleep(0.2)
    assert later.exists()
