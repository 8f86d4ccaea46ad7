"""Clip checkpoints: keyframe-aligned video segments stored durably as they finish.

A segment is published (atomically) before any heartbeat names it, so a claim in
heartbeat details always points at a whole file. Beside each segment goes its
record (`<n>.json`: size, SHA-256 and video frame count), written after the
segment, so a record always describes a whole stored segment. A retry trusts a
segment only when its bytes match its record, which costs a read (or a download)
and a hash, never a probe or a decode: recovery after a late kill takes about as
long as after an early one. Segments without a sound record are rendered again.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import structlog

from contracts.job import Profile
from contracts.plan import PlannedClip
from engine import metrics
from engine.deps import Deps
from engine.errors import MediaMismatch
from engine.media.encoder import gop_frames
from engine.media.graphs import Segments
from engine.media.probe import mov_is_whole, video_samples
from engine.progress import Reporter
from engine.storage import ObjectMissing, Progress, sha256_of
from engine.threads import stoppable

log = structlog.get_logger(__name__)


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


@dataclass(frozen=True)
class SegmentRecord:
    """What a stored segment must be for a retry to reuse it without decoding it."""

    size: int
    sha256: str
    frames: int
    """Video samples in the segment's header, counted when it was published; -1 if unreadable."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SegmentRecord | None:
        try:
            data = json.loads(text)
            record = cls(size=data["size"], sha256=data["sha256"], frames=data["frames"])
        except (ValueError, KeyError, TypeError):
            return None
        fields_ok = isinstance(record.size, int) and isinstance(record.frames, int) and isinstance(record.sha256, str)
        return record if fields_ok else None

    @classmethod
    def of(cls, path: Path) -> SegmentRecord | None:
        """The record of a finished segment, or None when the file is not whole (ffmpeg can lose writes)."""
        if not mov_is_whole(path):
            return None
        frames = video_samples(path)
        return cls(size=path.stat().st_size, sha256=sha256_of(path), frames=-1 if frames is None else frames)


def _reporting(beats: Reporter, total: int) -> Progress:
    """A transfer's progress for the heartbeat (`Reporter.update` is safe from the transfer's thread)."""
    return lambda done: beats.update(bytes_done=done, bytes_total=total)


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

    def record_uri(self, number: int) -> str:
        return f"{self.prefix}{number:05d}.json"

    def frames_in(self, number: int) -> int:
        return min(self.frames_per_segment, self.clip.frames - number * self.frames_per_segment)

    async def verified_prefix(self, claimed: int, scratch: Path, beats: Reporter) -> int:
        """Leading segments that are really stored and match their records.

        `claimed` comes from the last heartbeat that reached the server; segments
        stored after it are found by looking past it, so a lost heartbeat costs nothing.
        Each segment costs a hash (and on an object store a download, which the join
        needs anyway), and each one checked is heartbeated.
        """
        beats.stage("verifying checkpoints")
        for number in range(self.count):
            if not await self._trusted(number, scratch, beats):
                return number
            beats.update(stage="verifying checkpoints", segments_done=number + 1)
        return self.count

    async def _trusted(self, number: int, scratch: Path, beats: Reporter) -> bool:
        record_path = await self._obtain(self.record_uri(number), scratch / f"stored-{number:05d}.json")
        if record_path is None:
            return False
        record = SegmentRecord.from_json(await asyncio.to_thread(record_path.read_text, errors="replace"))
        if record is None or record.frames != self.frames_in(number):
            return False
        path = await self._obtain(self.uri(number), scratch / f"stored-{number:05d}.mov", beats, record.size)
        if path is None:
            return False
        size = (await asyncio.to_thread(path.stat)).st_size
        if size != record.size or await stoppable(sha256_of, path) != record.sha256:
            # Rendered again from here and stored over it; said, and counted, since it is damage.
            log.warning("stored segment does not match its record, rendering it again", uri=self.uri(number))
            metrics.DAMAGED.labels("segment").inc()
            return False
        self.local[number] = path
        return True

    async def _obtain(self, uri: str, dest: Path, beats: Reporter | None = None, size: int = 0) -> Path | None:
        """The stored file itself when it is on local disk, else a copy in `dest`; None when missing."""
        storage = self.deps.storages.for_uri(uri)
        local = storage.local_path(uri)
        if local is not None:
            return local if await asyncio.to_thread(local.is_file) else None
        progress = _reporting(beats, size) if beats is not None else None
        try:
            await stoppable(storage.download, uri, dest, progress=progress)
        except ObjectMissing:
            return None
        return dest

    async def publish(self, number: int, path: Path, beats: Reporter | None = None) -> None:
        """Store a finished segment once it is known whole (ffmpeg can lose writes and carry on), then its record."""
        record = await asyncio.to_thread(SegmentRecord.of, path)
        if record is None:
            raise MediaMismatch(f"segment {number} was not written whole, not stored")
        uri = self.uri(number)
        storage = self.deps.storages.for_uri(uri)
        progress = _reporting(beats, record.size) if beats is not None else None
        await stoppable(storage.upload, path, uri, progress=progress)
        record_path = path.with_suffix(".json")
        await asyncio.to_thread(record_path.write_text, record.to_json())
        await stoppable(storage.upload, record_path, self.record_uri(number))
        self.local[number] = path

    async def discard(self) -> None:
        storage = self.deps.storages.for_uri(self.prefix)
        await asyncio.to_thread(storage.delete_prefix, self.prefix)


@dataclass
class SegmentTracker:
    """Follows ffmpeg's segment list: publishes each finished segment, then heartbeats it.

    On worker shutdown (`shutting_down` says so) it lets the segment in progress finish, then asks
    ffmpeg to stop, so a drain loses no finished work and hands the clip over at once.
    """

    store: SegmentStore
    segments: Segments
    done: int
    beats: Reporter
    shutting_down: Callable[[], bool]
    encoder: str = ""
    gpu: int | None = None
    draining_from: int | None = None

    async def on_progress(self, frames: int) -> bool:
        await self.publish_finished()
        clip = self.store.clip
        frames_done = self.segments.start * self.store.frames_per_segment + frames
        self.beats.update(stage="rendering", frames_done=frames_done, frames_total=clip.frames, segments_done=self.done)
        metrics.IN_FLIGHT[(self.store.video_id, clip.index)] = metrics.ClipInFlight(
            self.store.video_id, clip.index, frames_done, clip.frames, self.encoder, self.gpu
        )
        if self.shutting_down():
            if self.draining_from is None:
                self.draining_from = self.done
            return self.done == self.draining_from
        return True

    async def publish_finished(self) -> None:
        for number in self._listed():
            if number == self.done:
                await self.store.publish(number, self.segments.path(number), self.beats)
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
