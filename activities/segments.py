"""Clip checkpoints: keyframe-aligned video segments stored durably as they finish.

A segment is published (atomically) before any heartbeat names it, so a claim in
heartbeat details always points at a whole file; a retry still verifies each one
(exists, decodes, right frame count) before trusting it, and renders only the rest.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio import activity

from activities import metrics
from activities.common import Deps, fail, fetch
from activities.media.encoder import gop_frames
from activities.media.graphs import Segments
from activities.media.probe import ProbeError, decode_check, mov_is_whole, probe
from contracts import names
from contracts.job import Profile
from contracts.plan import PlannedClip


def segment_frames(profile: Profile, seconds: float) -> int:
    """Frames per segment: whole GOPs, so each segment starts on a keyframe."""
    gop = gop_frames(profile)
    return gop * max(1, round(seconds * profile.fps / gop))


def claimed_segments(details: Any) -> int:
    """How many segments the previous attempt said it stored (a hint, verified before use)."""
    if details and isinstance(details[0], dict):
        value = details[0].get("segments_done", 0)
        return value if isinstance(value, int) and value >= 0 else 0
    return 0


@dataclass
class SegmentStore:
    """Where one clip's segments live in the work store, and what is already there."""

    deps: Deps
    video_id: str
    clip: PlannedClip
    frames_per_segment: int
    local: dict[int, Path] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return math.ceil(self.clip.frames / self.frames_per_segment)

    @property
    def prefix(self) -> str:
        c = self.clip
        key = f"{self.video_id}/segments/{c.index:04d}-{c.spec_hash}-f{self.frames_per_segment}/"
        return self.deps.settings.work_uri_for(key)

    def uri(self, number: int) -> str:
        return f"{self.prefix}{number:05d}.mov"

    def frames_in(self, number: int) -> int:
        return min(self.frames_per_segment, self.clip.frames - number * self.frames_per_segment)

    async def verified_prefix(self, claimed: int, scratch: Path) -> int:
        """Leading segments that are really stored and sound.

        `claimed` comes from the last heartbeat that reached the server; segments
        stored after it are found by looking past it, so a lost heartbeat costs nothing.
        """
        for number in range(self.count):
            if not await self._sound(number, scratch):
                return number
        return self.count

    async def _sound(self, number: int, scratch: Path) -> bool:
        uri = self.uri(number)
        storage = self.deps.storages.for_uri(uri)
        if not await asyncio.to_thread(storage.exists, uri):
            return False
        path = await fetch(self.deps, uri, scratch / f"stored-{number:05d}.mov")
        try:
            info = await probe(path)
            await decode_check(path, "video")
        except ProbeError:
            return False
        if info.video is None or info.video.packets != self.frames_in(number):
            return False
        self.local[number] = path
        return True

    async def publish(self, number: int, path: Path) -> None:
        """Store a finished segment once it is known whole: ffmpeg can lose writes (a full disk) and carry on."""
        if not await asyncio.to_thread(mov_is_whole, path):
            fail(f"segment {number} was not written whole, not stored", names.MEDIA_MISMATCH, non_retryable=False)
        uri = self.uri(number)
        await asyncio.to_thread(self.deps.storages.for_uri(uri).upload, path, uri)
        self.local[number] = path

    async def discard(self) -> None:
        storage = self.deps.storages.for_uri(self.prefix)
        await asyncio.to_thread(storage.delete_prefix, self.prefix)


@dataclass
class SegmentTracker:
    """Follows ffmpeg's segment list: publishes each finished segment, then heartbeats it.

    On worker shutdown it lets the segment in progress finish, then asks ffmpeg to
    stop, so a drain loses no finished work and hands the clip over at once.
    """

    store: SegmentStore
    segments: Segments
    done: int
    encoder: str = ""
    gpu: int | None = None
    draining_from: int | None = None

    async def on_progress(self, frames: int) -> bool:
        await self.publish_finished()
        clip = self.store.clip
        frames_done = self.segments.start * self.store.frames_per_segment + frames
        activity.heartbeat({"frames_done": frames_done, "frames_total": clip.frames, "segments_done": self.done})
        metrics.IN_FLIGHT[(self.store.video_id, clip.index)] = metrics.ClipInFlight(
            self.store.video_id, clip.index, frames_done, clip.frames, self.encoder, self.gpu
        )
        if activity.is_worker_shutdown():
            if self.draining_from is None:
                self.draining_from = self.done
            return self.done == self.draining_from
        return True

    async def publish_finished(self) -> None:
        for number in self._listed():
            if number == self.done:
                await self.store.publish(number, self.segments.path(number))
                self.done += 1

    def _listed(self) -> list[int]:
        try:
            text = self.segments.list_file.read_text()
        except FileNotFoundError:
            return []
        numbers = []
        for line in text.splitlines(keepends=True):
            name = line.split(",", 1)[0]
            if line.endswith("\n") and name.endswith(".mov") and Path(name).stem.isdigit():
                numbers.append(int(Path(name).stem))
        return sorted(numbers)
