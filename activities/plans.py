"""The job and its plan in the work store (a claim check): history carries their key, never their clips.

A plan is stored once, named by the hash of what it holds, as a head (the profile and the counts) and
pages of PAGE_CLIPS clips, so a clip render reads one page and no reader decodes more than it uses.
Each render stores its clip's record beside the intermediates; the concat and the manifest read them.
Everything here lives under `<video_id>/` in the work store, removed with the video's intermediates.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import tempfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from temporalio.converter import AdvancedJSONEncoder, value_to_type

from contracts.job import Job, Poster, Profile
from contracts.plan import PlannedClip, VideoPlan
from contracts.records import ClipResult
from engine.deps import Deps
from engine.threads import in_thread

PAGE_CLIPS = 100
"""Clips a page holds: the most any single read decodes, whatever the job's size."""
PARALLEL_READS = 16
"""Clip records read at once: on S3 each is a round trip, and a video may have 2,000."""
CACHED_READS = 64
"""Decoded heads and pages kept per process: a render worker reads one page per video, not per clip."""

T = TypeVar("T")


@dataclass(frozen=True)
class PlanHead:
    video_id: str
    profile: Profile
    clips: int
    frames: int
    poster_seconds: float
    poster: Poster | None = None
    """The job's choice of poster frame, kept so the fitted plan read back places it as the job asked."""


def encode(value: Any) -> bytes:
    """Strict JSON (no NaN or infinity), as every record of the service."""
    return json.dumps(value, cls=AdvancedJSONEncoder, ensure_ascii=False, allow_nan=False).encode()


def pages(clips: int) -> int:
    return -(-clips // PAGE_CLIPS)


class PlanStore:
    """Write and read stored plans, jobs and clip records through the work store."""

    _cache: ClassVar[OrderedDict[str, Any]] = OrderedDict()
    """Shared by every store of the process: stored plans never change under their key."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    async def save(self, job: Job, plan: VideoPlan) -> str:
        """Store the job and `plan`; the key names the plan's hash, so a plan is never overwritten."""
        head = PlanHead(plan.video_id, plan.profile, len(plan.clips), plan.frames, plan.poster_seconds, plan.poster)
        parts = {"head.json": encode(head), "job.json": encode(job)}
        for page in range(pages(len(plan.clips))):
            parts[f"page-{page:04d}.json"] = encode(plan.clips[page * PAGE_CLIPS : (page + 1) * PAGE_CLIPS])
        digest = hashlib.sha256()
        for name in sorted(parts):
            digest.update(name.encode() + b"\0" + hashlib.sha256(parts[name]).digest())
        key = f"{plan.video_id}/plans/{digest.hexdigest()[:24]}"
        for name, data in parts.items():
            # Written again when it is there already (a resubmit of a failed video): the same bytes, a fresh
            # age, so the work store's sweep never takes the plan of a video that runs again.
            await self._put(f"{key}/{name}", data)
        return key

    async def head(self, key: str) -> PlanHead:
        return await self._read(f"{key}/head.json", PlanHead)

    async def job(self, key: str) -> Job:
        return await self._read(f"{key}/job.json", Job)

    async def page(self, key: str, page: int) -> list[PlannedClip]:
        return await self._read(f"{key}/page-{page:04d}.json", list[PlannedClip])

    async def clip(self, key: str, index: int) -> PlannedClip:
        clips = await self.page(key, index // PAGE_CLIPS)
        return clips[index % PAGE_CLIPS]

    async def plan(self, key: str) -> VideoPlan:
        head = await self.head(key)
        clips: list[PlannedClip] = []
        for page in range(pages(head.clips)):
            clips.extend(await self.page(key, page))
        return VideoPlan(video_id=head.video_id, profile=head.profile, clips=tuple(clips), poster=head.poster)

    def record_key(self, video_id: str, index: int) -> str:
        return f"{video_id}/records/{index:05d}.json"

    async def keep_record(self, video_id: str, result: ClipResult) -> None:
        """The clip's record as its render ended, for the concat and the manifest (overwritten by a retry)."""
        await self._put(self.record_key(video_id, result.index), encode(result))

    async def records(self, video_id: str, clips: int) -> list[ClipResult] | None:
        """Every clip's record, or None when any is missing (a retry after the intermediates went)."""
        reading = asyncio.Semaphore(PARALLEL_READS)

        async def read(index: int) -> bytes | None:
            async with reading:
                return await in_thread(self._get, self.deps.settings.work_uri_for(self.record_key(video_id, index)))

        found = await asyncio.gather(*(read(n) for n in range(clips)))
        if any(data is None for data in found):
            return None
        return [value_to_type(ClipResult, json.loads(data)) for data in found if data is not None]

    async def _put(self, key: str, data: bytes) -> None:
        uri = self.deps.settings.work_uri_for(key)
        storage = self.deps.storages.for_uri(uri)
        with tempfile.NamedTemporaryFile(
            dir=self.deps.settings.storage.scratch_dir, suffix=".json", delete=False
        ) as out:
            out.write(data)
        try:
            await in_thread(storage.upload, Path(out.name), uri)
        finally:
            Path(out.name).unlink(missing_ok=True)

    def _get(self, uri: str) -> bytes | None:
        storage = self.deps.storages.for_uri(uri)
        if not storage.exists(uri):
            return None
        local = storage.local_path(uri)
        if local is not None:
            return local.read_bytes()
        with tempfile.TemporaryDirectory(dir=self.deps.settings.storage.scratch_dir) as tmp:
            path = Path(tmp) / "record.json"
            storage.download(uri, path)
            return path.read_bytes()

    async def _read(self, key: str, kind: type[T] | Any) -> T:
        if key in self._cache:
            self._cache.move_to_end(key)
            cached: T = self._cache[key]
            return cached
        uri = self.deps.settings.work_uri_for(key)
        data = await in_thread(self._get, uri)
        if data is None:
            raise PlanLost(f"the stored plan {uri} is gone (its video's intermediates were removed)")
        value: T = await in_thread(value_to_type, kind, json.loads(data))
        self._cache[key] = value
        while len(self._cache) > CACHED_READS:
            self._cache.popitem(last=False)
        return value


class PlanLost(Exception):
    """A stored plan is missing: retryable, since a restart of the video stores it again."""
