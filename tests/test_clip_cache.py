"""The clip cache: its key over every input that decides a clip's bytes, real renders reused across videos
on disk and on S3 (moto), bad entries replaced, and the size bound evicting the least recently used."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
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
from temporalio.testing import ActivityEnvironment

from activities.render import RenderActivities
from contracts.records import ClipResult, ClipWork
from contracts.themes import BUILTIN_THEMES
from devtools.local import LocalCluster
from devtools.testing import clips_of
from engine.clip_cache import LOOKUPS, PREFIX, ClipCache, Facts, _whole, clip_key, evict
from engine.deps import Deps
from engine.integrity import content_of, read_record, record_path
from engine.metrics import DAMAGED
from engine.retention import sweep_work_store
from engine.settings import GB, Settings, file_uri
from engine.storage import file_path
from starter import RenderClient
from tests.test_render_engine import clip_inputs

INTRO = {"kind": "card", "duration": 1.0, "lines": ["Welcome to the channel"]}
OUTRO = {"kind": "card", "duration": 0.5, "lines": ["Thanks for watching"]}
HOUR = 3600.0


def cache_deps(tmp_path: Path, settings: Settings, **sections: Any) -> Deps:
    """The session's settings with the cache on and a work store of this test's own; `sections` change them
    further (`limits={"clip_cache_gb": 0}`)."""
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    own = settings.replace(storage={"work_uri": file_uri(work), "scratch_dir": scratch}, limits={"clip_cache_gb": 1})
    return Deps.from_settings(own.replace(**sections))


def counted(result: str) -> float:
    return float(LOOKUPS.labels(result)._value.get())


async def render(deps: Deps, inp: ClipWork) -> ClipResult:
    return await ActivityEnvironment().run(RenderActivities(deps).render, inp)


def frame_digests(path: Path) -> str:
    """Per-frame MD5 of the decoded pixels."""
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:v", "-f", "framemd5", "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return "\n".join(line for line in out.splitlines() if not line.startswith("#"))


# the key


BASE = clip_inputs("key-base", [{**INTRO, "image": "file:///assets/bg.png"}])[0]
FACTS = Facts(encoder="libx264", ffmpeg="ffmpeg version 6", fonts=("a.ttf#0:aa",), assets={"file:///a": "1:2"})


def clip_change(**fields: Any) -> Callable[[ClipWork], ClipWork]:
    return lambda inp: dataclasses.replace(inp, clip=dataclasses.replace(inp.clip, **fields))


def spec_change(**fields: Any) -> Callable[[ClipWork], ClipWork]:
    return lambda inp: dataclasses.replace(
        inp, clip=dataclasses.replace(inp.clip, spec=dataclasses.replace(inp.clip.spec, **fields))
    )


def input_change(**fields: Any) -> Callable[[ClipWork], ClipWork]:
    return lambda inp: dataclasses.replace(inp, **fields)


def profile_change(**fields: Any) -> Callable[[ClipWork], ClipWork]:
    return lambda inp: dataclasses.replace(inp, profile=dataclasses.replace(inp.profile, **fields))


INPUT_CHANGES: dict[str, Callable[[ClipWork], ClipWork]] = {
    "spec.lines": spec_change(lines=("Welcome to the show",)),
    "spec.duration": spec_change(duration=2.0),
    "spec.kind": spec_change(kind="title"),
    "spec.image": spec_change(image="file:///assets/other.png"),
    "spec.background": spec_change(background="#102030"),
    "spec.narration": spec_change(narration="Hello"),
    "spec.picture": spec_change(picture="file:///assets/picture.png"),
    "clip.frames": clip_change(frames=31),
    "clip.theme": clip_change(theme=BUILTIN_THEMES["midnight"]),
    "clip.number": clip_change(number=3),
    "clip.total": clip_change(total=9),
    "clip.language": clip_change(language="ja"),
    "clip.narration_key": clip_change(narration_key="narration/abc.wav"),
    "profile.width": profile_change(width=640),
    "profile.height": profile_change(height=360),
    "profile.fps": profile_change(fps=25),
    "profile.quality": profile_change(quality=20),
    "video_only": input_change(video_only=True),
    "tts_voice": input_change(tts_voice="en-GB"),
    "tts_speed": input_change(tts_speed=1.2),
    "tts_engine": input_change(tts_engine="polly"),
}

SETTINGS_CHANGES: dict[str, dict[str, Any]] = {
    "font": {"render": {"font": Path("/fonts/Other.ttf")}},
    "font_bold": {"render": {"font_bold": Path("/fonts/Other-Bold.ttf")}},
    "ffmpeg_threads": {"render": {"ffmpeg_threads": 4}},
    "segment_seconds": {"render": {"segment_seconds": 4.0}},
    "tts": {"speech": {"engine": "espeak"}},
    "polly_engine": {"speech": {"polly": {"engine": "standard"}}},
}

FACT_CHANGES: dict[str, dict[str, Any]] = {
    "encoder": {"encoder": "h264_nvenc"},
    "ffmpeg": {"ffmpeg": "ffmpeg version 7"},
    "font bytes": {"fonts": ("a.ttf#0:ab",)},
    "asset version": {"assets": {"file:///a": "1:3"}},
    "another asset": {"assets": {"file:///a": "1:2", "file:///b": "5:6"}},
}


def test_every_input_that_decides_the_bytes_changes_the_key(settings: Settings) -> None:
    base = clip_key(BASE, settings, FACTS)
    assert clip_key(dataclasses.replace(BASE), settings, dataclasses.replace(FACTS)) == base
    keys = {"base": base}
    for name, change in INPUT_CHANGES.items():
        keys[name] = clip_key(change(BASE), settings, FACTS)
    for name, fields in SETTINGS_CHANGES.items():
        keys[name] = clip_key(BASE, settings.replace(**fields), FACTS)
    for name, fields in FACT_CHANGES.items():
        keys[name] = clip_key(BASE, settings, dataclasses.replace(FACTS, **fields))
    same = {name: key for name, key in keys.items() if name != "base" and key == base}
    assert not same, f"these inputs do not change the key: {sorted(same)}"
    assert len(set(keys.values())) == len(keys)


def test_a_channel_engine_changes_the_key_of_a_clip_with_sound(settings: Settings) -> None:
    channel = dataclasses.replace(BASE, channel="news")
    mapped = settings.replace(speech={"channels": {"news": "polly"}})
    assert clip_key(channel, settings, FACTS) == clip_key(BASE, settings, FACTS)  # unmapped: the worker's engine
    assert clip_key(channel, mapped, FACTS) != clip_key(BASE, settings, FACTS)


def test_the_voice_does_not_split_clips_without_sound(settings: Settings) -> None:
    """Video-only clips (the sound is built once per video) are the same pixels whatever the voice."""
    silent = dataclasses.replace(BASE, video_only=True)
    other = dataclasses.replace(silent, tts_voice="en-GB", tts_speed=1.3, tts_engine="polly", channel="x")
    assert clip_key(other, settings, FACTS) == clip_key(silent, settings, FACTS)
    assert clip_key(silent, settings, FACTS) != clip_key(BASE, settings, FACTS)


async def test_the_key_follows_the_assets_bytes(tmp_path: Path, settings: Settings) -> None:
    deps = cache_deps(tmp_path, settings)
    image = tmp_path / "bg.png"
    image.write_bytes(b"one")
    [inp] = clip_inputs("key-asset", [{**INTRO, "image": file_uri(image)}])
    cache = ClipCache(deps)
    first = await cache.key(inp)
    assert await cache.key(inp) == first
    image.write_bytes(b"other")
    assert await cache.key(inp) != first


# reuse on disk


async def test_a_second_video_takes_the_shared_intro_from_the_cache(tmp_path: Path, settings: Settings) -> None:
    deps = cache_deps(tmp_path, settings)
    [intro_a, question_a, outro_a] = clip_inputs(
        "channel-video-1", [INTRO, {"kind": "card", "duration": 0.5, "lines": ["Question one"]}, OUTRO]
    )
    [intro_b, question_b, outro_b] = clip_inputs(
        "channel-video-2", [INTRO, {"kind": "card", "duration": 0.5, "lines": ["Question two"]}, OUTRO]
    )
    hits, stores = counted("hit"), counted("store")
    first = [await render(deps, inp) for inp in (intro_a, question_a, outro_a)]
    assert not any(r.from_cache or r.skipped for r in first) and all(r.cpu_seconds > 0 for r in first)
    assert counted("store") == stores + 3

    second = [await render(deps, inp) for inp in (intro_b, question_b, outro_b)]
    assert [r.from_cache for r in second] == [True, False, True]
    assert counted("hit") == hits + 2
    for cached, original in ((second[0], first[0]), (second[2], first[2])):
        assert cached.skipped and cached.cpu_seconds == 0 and cached.encoder == "libx264"
        assert cached.uri != original.uri and cached.uri.startswith(
            f"{deps.settings.storage.work_uri}/channel-video-2/"
        )
        assert frame_digests(file_path(cached.uri)) == frame_digests(file_path(original.uri))
        assert file_path(cached.uri).read_bytes() == file_path(original.uri).read_bytes()
    assert second[1].cpu_seconds > 0

    # The first video's intermediates going (completion, cancel) leaves the cache whole.
    deps.storages.for_uri(deps.settings.storage.work_uri).delete_prefix(
        f"{deps.settings.storage.work_uri}/channel-video-1"
    )
    third = await render(deps, clip_inputs("channel-video-3", [INTRO])[0])
    assert third.from_cache and frame_digests(file_path(third.uri)) == frame_digests(file_path(second[0].uri))


async def test_two_videos_storing_the_same_clip_at_once_leave_one_good_entry(
    tmp_path: Path, settings: Settings
) -> None:
    deps = cache_deps(tmp_path, settings)
    both = await asyncio.gather(*(render(deps, clip_inputs(f"race-{n}", [INTRO])[0]) for n in (1, 2)))
    assert not any(r.from_cache for r in both)
    [entry] = (file_path(deps.settings.storage.work_uri) / PREFIX).glob("*.mov")
    assert not [p for p in entry.parent.iterdir() if p.name.endswith(".partial")]
    assert read_record(entry) == content_of(entry)
    third = await render(deps, clip_inputs("race-3", [INTRO])[0])
    assert third.from_cache
    assert frame_digests(file_path(third.uri)) == frame_digests(file_path(both[0].uri))


async def test_a_different_look_is_rendered_not_taken(tmp_path: Path, settings: Settings) -> None:
    deps = cache_deps(tmp_path, settings)
    await render(deps, clip_inputs("look-1", [INTRO])[0])
    other = await render(deps, clip_inputs("look-2", [INTRO], theme="midnight")[0])
    assert not other.from_cache and other.cpu_seconds > 0


async def test_the_cache_off_renders_every_clip(tmp_path: Path, settings: Settings) -> None:
    deps = cache_deps(tmp_path, settings, limits={"clip_cache_gb": 0})
    await render(deps, clip_inputs("off-1", [INTRO])[0])
    again = await render(deps, clip_inputs("off-2", [INTRO])[0])
    assert not again.from_cache and again.cpu_seconds > 0
    assert not (file_path(deps.settings.storage.work_uri) / PREFIX).exists()


def flipped(data: bytes) -> bytes:
    """One bit changed in the middle of the frames: the headers, and so a probe, still say all is well."""
    damaged = bytearray(data)
    damaged[len(damaged) // 2] ^= 0x01
    return bytes(damaged)


def damaged_files() -> float:
    return float(DAMAGED.labels("cache_entry")._value.get())


@pytest.mark.parametrize("damage", ["truncated", "bit-flipped", "garbage", "too few frames", "no record"])
async def test_a_bad_entry_is_rendered_again_and_replaced(tmp_path: Path, settings: Settings, damage: str) -> None:
    deps = cache_deps(tmp_path, settings)
    [one] = clip_inputs("bad-1", [INTRO])
    await render(deps, one)
    [entry] = (file_path(deps.settings.storage.work_uri) / PREFIX).glob("*.mov")
    good = entry.read_bytes()
    replacement = tmp_path / "replacement"
    if damage == "truncated":
        replacement.write_bytes(good[: len(good) // 2])
    elif damage == "bit-flipped":
        replacement.write_bytes(flipped(good))
        # What the cache checked before content records: every frame there and shown. It passes.
        assert await _whole(replacement, one.clip.frames, one.profile.fps, with_audio=True)
    elif damage == "garbage":
        replacement.write_bytes(os.urandom(len(good)))
    elif damage == "too few frames":  # a whole, playable clip of the wrong length
        shorter = await render(deps, clip_inputs("bad-short", [{**INTRO, "duration": 0.5}])[0])
        replacement.write_bytes(file_path(shorter.uri).read_bytes())
    else:  # good bytes, but no record of them: not an entry the cache wrote
        replacement.write_bytes(good)
        record_path(entry).unlink()
    os.replace(replacement, entry)  # a new file: the first video's own clip stays as it was

    bad, damaged = counted("bad"), damaged_files()
    [two] = clip_inputs("bad-2", [INTRO])
    result = await render(deps, two)
    assert not result.from_cache and result.cpu_seconds > 0 and counted("bad") == bad + 1
    assert damaged_files() == damaged + 1
    assert frame_digests(file_path(result.uri)) == frame_digests(
        file_path(f"{deps.settings.storage.work_uri}/{one.clip.key}")
    )
    assert entry.read_bytes() == file_path(result.uri).read_bytes()  # replaced by the new render
    assert read_record(entry) == content_of(entry)  # with the record of its own bytes
    third = await render(deps, clip_inputs("bad-3", [INTRO])[0])
    assert third.from_cache and read_record(file_path(third.uri)) == content_of(entry)


# bound and age


def aged(path: Path, size: int, hours: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    stamp = time.time() - hours * HOUR
    os.utime(path, (stamp, stamp))
    return path


async def test_the_bound_evicts_the_least_recently_used(tmp_path: Path, settings: Settings) -> None:
    deps = cache_deps(tmp_path, settings, limits={"clip_cache_gb": 2500 / GB})
    cache = file_path(deps.settings.storage.work_uri) / PREFIX
    oldest = aged(cache / "a.mov", 1000, hours=5)
    middle = aged(cache / "b.mov", 1000, hours=3)
    newest = aged(cache / "c.mov", 1000, hours=1)
    assert await evict(deps, deps.settings.limits.clip_cache_bytes) == 1
    assert not oldest.exists() and middle.exists() and newest.exists()
    assert await evict(deps, 2000) == 0
    assert await evict(deps, 0) == 2 and not any(cache.iterdir())


async def test_eviction_takes_an_entrys_record_with_it(tmp_path: Path, settings: Settings) -> None:
    deps = cache_deps(tmp_path, settings)
    await render(deps, clip_inputs("evict-1", [INTRO])[0])
    cache = file_path(deps.settings.storage.work_uri) / PREFIX
    assert sorted(p.suffix for p in cache.iterdir()) == [".mov", ".sha256"]
    assert await evict(deps, 0) == 1 and not any(cache.iterdir())


async def test_a_hit_counts_as_a_use_for_the_sweep(tmp_path: Path, settings: Settings) -> None:
    deps = cache_deps(tmp_path, settings)
    await render(deps, clip_inputs("use-1", [INTRO])[0])
    cache = file_path(deps.settings.storage.work_uri) / PREFIX
    [intro] = cache.glob("*.mov")
    stamp = time.time() - 100 * HOUR
    for each in (intro, record_path(intro)):
        os.utime(each, (stamp, stamp))  # rendered long ago ...
    stale = aged(cache / "stale.mov", 1000, hours=100)
    assert (await render(deps, clip_inputs("use-2", [INTRO])[0])).from_cache  # ... and used now

    await sweep_work_store(deps, max_age_seconds=50 * HOUR)
    assert intro.exists() and record_path(intro).exists() and not stale.exists()
    assert (await render(deps, clip_inputs("use-3", [INTRO])[0])).from_cache


async def test_the_sweep_keeps_the_cache_under_its_bound(tmp_path: Path, settings: Settings) -> None:
    deps = cache_deps(tmp_path, settings, limits={"clip_cache_gb": 1500 / GB})
    cache = file_path(deps.settings.storage.work_uri) / PREFIX
    old = aged(cache / "old.mov", 1000, hours=2)
    young = aged(cache / "young.mov", 1000, hours=1)
    await sweep_work_store(deps, max_age_seconds=50 * HOUR)
    assert not old.exists() and young.exists()


# s3://


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret-value")
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")


async def test_on_s3_the_intro_is_copied_inside_the_store(
    tmp_path: Path, settings: Settings, s3: Any, s3_endpoint: str
) -> None:
    bucket = f"cache-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    deps = cache_deps(
        tmp_path,
        settings,
        storage={"work_uri": f"s3://{bucket}/work", "s3": {"endpoint_url": s3_endpoint, "region": "us-east-1"}},
    )

    def body(uri: str) -> bytes:
        return bytes(s3.get_object(Bucket=bucket, Key=uri.split("/", 3)[3])["Body"].read())

    first = await render(deps, clip_inputs("s3-video-1", [INTRO])[0])
    [entry] = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"work/{PREFIX}/")["Contents"]]
    metadata = s3.head_object(Bucket=bucket, Key=entry)["Metadata"]
    assert metadata["frames"] == str(first.frames)
    assert metadata["sha256"] == hashlib.sha256(body(first.uri)).hexdigest() and metadata["size"] == str(
        len(body(first.uri))
    )

    second = await render(deps, clip_inputs("s3-video-2", [INTRO])[0])
    assert second.from_cache and second.cpu_seconds == 0 and body(second.uri) == body(first.uri)

    # Something that is not an entry written by the cache (no recorded frames) is never published.
    s3.put_object(Bucket=bucket, Key=entry, Body=b"not a clip")
    third = await render(deps, clip_inputs("s3-video-3", [INTRO])[0])
    assert not third.from_cache and third.cpu_seconds > 0
    local = tmp_path / "third.mov"
    local.write_bytes(body(third.uri))
    first_local = tmp_path / "first.mov"
    first_local.write_bytes(body(first.uri))
    assert frame_digests(local) == frame_digests(first_local)
    assert s3.head_object(Bucket=bucket, Key=entry)["Metadata"]["frames"] == str(first.frames)

    assert await evict(deps, 0) == 1
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix=f"work/{PREFIX}/")


@pytest.mark.parametrize("damage", ["truncated", "bit-flipped"])
async def test_on_s3_a_damaged_entry_with_its_metadata_intact_is_replaced(
    tmp_path: Path, settings: Settings, s3: Any, s3_endpoint: str, damage: str
) -> None:
    """As reported: the object cut to half (or one bit changed), its metadata (frames, and now sha256 and size)
    left as they were. The entry is read and hashed, so it is not a hit: removed, counted, rendered, kept anew."""
    bucket = f"cache-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    deps = cache_deps(
        tmp_path,
        settings,
        storage={"work_uri": f"s3://{bucket}/work", "s3": {"endpoint_url": s3_endpoint, "region": "us-east-1"}},
    )

    def body(key: str) -> bytes:
        return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    first = await render(deps, clip_inputs(f"s3-{damage}-1", [INTRO])[0])
    [entry] = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"work/{PREFIX}/")["Contents"]]
    good, metadata = body(entry), s3.head_object(Bucket=bucket, Key=entry)["Metadata"]
    damaged = good[: len(good) // 2] if damage == "truncated" else flipped(good)
    s3.put_object(Bucket=bucket, Key=entry, Body=damaged, Metadata=metadata)

    bad, damaged_before, hits = counted("bad"), damaged_files(), counted("hit")
    second = await render(deps, clip_inputs(f"s3-{damage}-2", [INTRO])[0])
    assert not second.from_cache and second.cpu_seconds > 0
    assert counted("bad") == bad + 1 and damaged_files() == damaged_before + 1 and counted("hit") == hits
    second_key = second.uri.split("/", 3)[3]
    assert body(second_key) == body(first.uri.split("/", 3)[3]) == body(entry)  # replaced by the new render
    replaced = s3.head_object(Bucket=bucket, Key=entry)["Metadata"]
    assert replaced["sha256"] == hashlib.sha256(body(entry)).hexdigest()
    # The video's own clip carries the record too: a resume checks it.
    assert s3.head_object(Bucket=bucket, Key=second_key)["Metadata"]["sha256"] == replaced["sha256"]

    third = await render(deps, clip_inputs(f"s3-{damage}-3", [INTRO])[0])
    assert third.from_cache and counted("hit") == hits + 1
    assert s3.head_object(Bucket=bucket, Key=third.uri.split("/", 3)[3])["Metadata"]["sha256"] == replaced["sha256"]


# the whole service


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    running = LocalCluster(tmp_path)
    running.start_server()
    yield running
    running.stop()


async def test_the_result_says_which_clips_came_from_the_cache(cluster: LocalCluster) -> None:
    """Worker processes as deployed (the cache on by default): a channel's second video reuses intro and outro."""
    cluster.env = {"RENDER_ENCODER": "libx264", "RENDER_FFMPEG_THREADS": "1", "RENDER_TTS": "none"}
    cluster.start_worker("all")
    renders = RenderClient(await Client.connect(cluster.address))

    def job(video_id: str, question: str) -> dict[str, Any]:
        clips = [INTRO, {"kind": "card", "duration": 0.5, "lines": [question]}, OUTRO]
        return {"video_id": video_id, "profile": {"width": 320, "height": 180}, "clips": clips}

    await renders.submit(job("service-video-1", "First"))
    first = await renders.result("service-video-1")
    await renders.submit(job("service-video-2", "Second"))
    second = await renders.result("service-video-2")

    assert first.clips_from_cache == 0 and first.cache_hit_rate == 0
    assert [c.from_cache for c in clips_of(second)] == [True, False, True]
    assert second.clips_from_cache == 2 and second.cache_hit_rate == round(2 / 3, 4)
    assert [c.cpu_seconds for c in clips_of(second)][::2] == [0, 0]
    intro, outro = (frame_digests(file_path(v.output_uri)) for v in (first, second))
    assert intro.splitlines()[:30] == outro.splitlines()[:30]  # the intro's frames, decoded, are the same
