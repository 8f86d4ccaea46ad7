"""Shared state is checked before it is trusted: damaged clip cache entries and finished clips, whole renders.

As reported: an S3 clip-cache object truncated to half, its `frames` metadata intact, counted as a hit, and
every later video using that clip, from any channel, failed at concat with `moov atom not found`; so did a
resubmit, since the bad clip had become its own finished intermediate. Here the same damage (cut to half, or
one bit changed, the record left as it was) meets worker processes on `file://` and on S3 (moto), and every
video completes: the entry is removed, counted `bad`, rendered and kept again; a resubmit's damaged finished
clips are removed, counted, and made again.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.assemble import AssembleActivities
from activities.render import RenderActivities
from contracts.records import ClipResult, ClipWork, ConcatWork
from devtools.local import LocalCluster
from devtools.testing import clips_of
from engine.clip_cache import PREFIX
from engine.deps import Deps
from engine.integrity import content_of, read_record, record_path, recorded
from engine.metrics import DAMAGED
from engine.settings import Settings
from starter import RenderClient
from tests.report import report
from tests.test_clip_cache import cache_deps
from tests.test_render_engine import clip_inputs
from tests.test_worker_http import get

INTRO = {"kind": "card", "duration": 1.0, "lines": ["Welcome to the quiz"]}
WORKER_ENV = {
    "RENDER_ENCODER": "libx264",
    "RENDER_FFMPEG_THREADS": "1",
    "RENDER_TTS": "none",
    "RENDER_SLOTS": "1",
    "RENDER_HEARTBEAT_SECONDS": "15",
}


class Store:
    """The work store as an operator (or a fault) sees it: read, replace and list objects by key."""

    def __init__(self, cluster: LocalCluster, s3_endpoint: str | None) -> None:
        self.root = cluster.data / "work"
        self.bucket = f"work-{uuid.uuid4().hex[:8]}" if s3_endpoint else ""
        self.s3: Any = None
        if s3_endpoint:
            self.s3 = boto3.client(
                "s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                aws_access_key_id="test-key", aws_secret_access_key="test-secret-value",
            )  # fmt: skip
            self.s3.create_bucket(Bucket=self.bucket)
            cluster.env.update(
                RENDER_WORK_URI=f"s3://{self.bucket}/work",
                RENDER_S3_ENDPOINT_URL=s3_endpoint,
                RENDER_S3_REGION="us-east-1",
                AWS_ACCESS_KEY_ID="test-key",
                AWS_SECRET_ACCESS_KEY="test-secret-value",
            )

    def keys(self, prefix: str) -> list[str]:
        if self.s3 is None:
            base = self.root / prefix
            found = base.parent.glob(base.name + "*") if not prefix.endswith("/") else base.rglob("*")
            return sorted(
                str(p.relative_to(self.root)) for p in found if p.is_file() and not p.name.endswith(".sha256")
            )
        listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=f"work/{prefix}").get("Contents", [])
        return sorted(o["Key"].removeprefix("work/") for o in listed)

    def read(self, key: str) -> bytes:
        if self.s3 is None:
            return (self.root / key).read_bytes()
        return bytes(self.s3.get_object(Bucket=self.bucket, Key=f"work/{key}")["Body"].read())

    def replace(self, key: str, change: Callable[[bytes], bytes]) -> None:
        """New bytes under the key, its record (file beside it, or metadata) left as it was."""
        if self.s3 is None:
            path = self.root / key
            fresh = path.with_name(path.name + ".damaged")
            fresh.write_bytes(change(path.read_bytes()))
            os.replace(fresh, path)
            return
        metadata = self.s3.head_object(Bucket=self.bucket, Key=f"work/{key}")["Metadata"]
        self.s3.put_object(Bucket=self.bucket, Key=f"work/{key}", Body=change(self.read(key)), Metadata=metadata)

    def recorded(self, key: str) -> str:
        if self.s3 is None:
            record = read_record(self.root / key)
            return record.sha256 if record else ""
        return str(self.s3.head_object(Bucket=self.bucket, Key=f"work/{key}")["Metadata"].get("sha256", ""))

    def hashed(self, key: str) -> str:
        if self.s3 is None:
            return content_of(self.root / key).sha256
        import hashlib

        return hashlib.sha256(self.read(key)).hexdigest()


def cut(data: bytes) -> bytes:
    return data[: len(data) // 2]


def flip(data: bytes) -> bytes:
    damaged = bytearray(data)
    damaged[len(damaged) // 2] ^= 0x01
    return bytes(damaged)


def metric(port: int, series: str) -> float:
    text = get(port, "/metrics")[1]
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(series + " "))


def decodes_whole(path: Path) -> int:
    """Frames decoded from the file, every one without an error (ffmpeg stops at the first on -xerror)."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
         "stream=nb_read_frames", "-of", "csv=p=0", str(path)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    assert out.stderr == "", out.stderr
    subprocess.run(["ffmpeg", "-v", "error", "-xerror", "-i", str(path), "-f", "null", "-"], check=True)
    return int(out.stdout.strip())


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    running = LocalCluster(tmp_path, env=dict(WORKER_ENV))
    running.start_server()
    yield running
    running.stop()


def job(video_id: str, channel: str, *clips: dict[str, Any]) -> dict[str, Any]:
    return {"video_id": video_id, "channel": channel, "profile": {"width": 320, "height": 180}, "clips": list(clips)}


def card(text: str, seconds: float = 0.5) -> dict[str, Any]:
    return {"kind": "card", "duration": seconds, "lines": [text]}


@pytest.mark.parametrize("where", ["file", "s3"])
async def test_damaged_cache_entries_and_finished_clips_never_reach_a_video(
    cluster: LocalCluster, s3_endpoint: str, where: str, request: pytest.FixtureRequest
) -> None:
    store = Store(cluster, s3_endpoint if where == "s3" else None)
    cluster.start_worker("control")
    cluster.start_worker("gpu")
    gpu = cluster.health_ports[1]
    renders = RenderClient(await Client.connect(cluster.address))

    async def render(video: dict[str, Any]) -> tuple[Any, float]:
        started = time.monotonic()
        await renders.submit(video)
        async with asyncio.timeout(180):
            result = await renders.result(video["video_id"])
        return result, time.monotonic() - started

    first, _ = await render(job("alpha-1", "alpha", INTRO))
    [entry] = [k for k in store.keys(f"{PREFIX}/") if k.endswith(".mov")]
    intro_digest = store.hashed(entry)

    # The reported damage, then one bit: each time the next video from another channel completes.
    seconds = {}
    for number, (damage, change) in enumerate((("truncated", cut), ("bit-flipped", flip)), 1):
        store.replace(entry, change)
        assert store.recorded(entry) == intro_digest != store.hashed(entry)  # the record kept, the bytes not
        result, seconds[damage] = await render(job(f"beta-{number}", "beta", INTRO, card(f"Beta's question {number}")))
        intro = clips_of(result)[0]
        assert not intro.from_cache and intro.cpu_seconds > 0  # rendered again, not taken
        assert decodes_whole(Path(result.output_uri.removeprefix("file://"))) == result.frames
        assert store.hashed(entry) == store.recorded(entry) == intro_digest  # replaced by a good entry
    again, _ = await render(job("beta-3", "beta", INTRO, card("Beta's question 3")))
    assert clips_of(again)[0].from_cache  # the replaced entry serves again
    assert metric(gpu, 'render_clip_cache_total{result="bad"}') == 2
    assert metric(gpu, 'render_damaged_files_total{kind="cache_entry"}') == 2

    # A resubmit after a run that stopped with its first clips finished: those clips damaged in the store.
    long = {"kind": "recipe", "recipe": "testsrc", "duration": 30}
    video = job("gamma-1", "gamma", card("Gamma one"), card("Gamma two"), long)
    await renders.submit(video)
    async with asyncio.timeout(120):
        while len(finished := store.keys("gamma-1/clips/")) < 2:
            await asyncio.sleep(0.05)
    await renders.client.get_workflow_handle("gamma-1").terminate("a failure that keeps the intermediates")
    finished = [k for k in store.keys("gamma-1/clips/") if k.endswith(".mov")][:2]
    store.replace(finished[0], cut)
    store.replace(finished[1], flip)
    resumed, _ = await render(video)
    clips = clips_of(resumed)
    assert [c.skipped and not c.from_cache for c in clips[:2]] == [False, False]  # not reused as they were
    assert all(c.from_cache or c.cpu_seconds > 0 for c in clips[:2])
    assert decodes_whole(Path(resumed.output_uri.removeprefix("file://"))) == resumed.frames == 15 + 15 + 900
    assert metric(gpu, 'render_damaged_files_total{kind="clip"}') == 2
    report(
        request,
        f"damaged shared state ({where})",
        videos=6,
        completed=6,
        bad_cache_entries=2,
        damaged_finished_clips=2,
        seconds_with_cut_entry=round(seconds["truncated"], 2),
        seconds_with_flipped_entry=round(seconds["bit-flipped"], 2),
    )
    assert clips_of(first)[0].cpu_seconds > 0


# one clip's resume, in the activity


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret-value")
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")


def damaged_clips() -> float:
    return float(DAMAGED.labels("clip")._value.get())


@pytest.mark.parametrize("where", ["file", "s3"])
@pytest.mark.parametrize("damage", ["truncated", "bit-flipped", "unrecorded"])
async def test_a_resume_renders_a_damaged_or_unrecorded_finished_clip_again(
    tmp_path: Path, settings: Settings, s3: Any, s3_endpoint: str, where: str, damage: str
) -> None:
    """A retry or a resubmit finds its clip stored: reused only when its bytes hash to the record stored with
    them. Damaged: removed, counted and rendered; without a record (stored before records were kept, perhaps
    the copy of a bad cache entry): rendered, not counted."""
    changes: dict[str, Any] = {"limits": {"clip_cache_gb": 0}}
    if where == "s3":
        bucket = f"resume-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(Bucket=bucket)
        s3_store = {"endpoint_url": s3_endpoint, "region": "us-east-1"}
        changes["storage"] = {"work_uri": f"s3://{bucket}/work", "s3": s3_store}
    deps = cache_deps(tmp_path, settings, **changes)
    [inp] = clip_inputs(f"resume-{damage}", [INTRO])
    first = await render_clip(deps, inp)
    assert not first.skipped
    again = await render_clip(deps, inp)
    assert again.skipped and again.encoder == "reused"  # whole and recorded: reused, nothing rendered

    storage = deps.storages.for_uri(first.uri)
    local = tmp_path / "stored.mov"
    storage.download(first.uri, local)
    good = local.read_bytes()
    if where == "s3":
        bucket, key = first.uri.removeprefix("s3://").split("/", 1)
        metadata = {} if damage == "unrecorded" else s3.head_object(Bucket=bucket, Key=key)["Metadata"]
        body = good if damage == "unrecorded" else {"truncated": cut, "bit-flipped": flip}[damage](good)
        s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata=metadata)
    else:
        path = Path(first.uri.removeprefix("file://"))
        if damage == "unrecorded":
            record_path(path).unlink()
        else:
            path.write_bytes({"truncated": cut, "bit-flipped": flip}[damage](good))

    damaged = damaged_clips()
    resumed = await render_clip(deps, inp)
    assert not resumed.skipped and resumed.cpu_seconds > 0
    assert damaged_clips() == damaged + (0 if damage == "unrecorded" else 1)
    storage.download(first.uri, local)
    assert local.read_bytes() == good  # rendered again: the same bytes, with their record
    assert recorded(storage, first.uri) == content_of(local)
    assert (await render_clip(deps, inp)).skipped


async def test_a_clip_damaged_before_the_join_fails_the_video_naming_it_and_a_resubmit_renders_it(
    tmp_path: Path, settings: Settings
) -> None:
    """Between its render and the join: the join hashes each clip, removes a damaged one and fails at once
    (`IntermediateDamaged`, not retried) instead of `moov atom not found` five times; the resubmit's render
    finds the clip missing and renders it."""
    deps = cache_deps(tmp_path, settings, limits={"clip_cache_gb": 0})
    inputs = clip_inputs("join-damaged", [INTRO, card("Second")])
    results = [await render_clip(deps, inp) for inp in inputs]
    path = Path(results[1].uri.removeprefix("file://"))
    path.write_bytes(cut(path.read_bytes()))
    work = ConcatWork(
        video_id="join-damaged",
        clip_uris=[r.uri for r in results],
        fps=30,
        expected_frames=sum(r.frames for r in results),
        clip_encoders=[r.encoder for r in results],
        clip_frames=[r.frames for r in results],
    )
    damaged = damaged_clips()
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(AssembleActivities(deps).concat, work)
    assert caught.value.type == "IntermediateDamaged" and caught.value.non_retryable
    assert caught.value.message.startswith(f"clip 2's intermediate {results[1].uri} was damaged after it was stored")
    assert damaged_clips() == damaged + 1 and not path.exists() and not record_path(path).exists()
    again = await render_clip(deps, inputs[1])
    assert not again.skipped and content_of(path) == read_record(path)
    joined = await ActivityEnvironment().run(AssembleActivities(deps).concat, work)
    assert joined.frames == work.expected_frames


async def render_clip(deps: Deps, inp: ClipWork) -> ClipResult:
    return await ActivityEnvironment().run(RenderActivities(deps).render, inp)
