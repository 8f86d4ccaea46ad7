"""MP4 / QuickTime structure read in Python: sample counts and durations from the box headers.

The checks after a render or a join need only how many frames a file holds and how long
each track lasts, which the headers say; reading them here costs microseconds, where an
ffprobe start costs tens of milliseconds of CPU per clip. Every read is a few bytes at an
offset inside the file and every box list is capped, so a truncated or hostile file is
refused with `Mp4Error` and never hangs or exhausts memory. A sample count is believed only
when the tables players go by agree with it: the size table holds that many entries, the
decoding times cover exactly those samples and the chunk tables place exactly those samples. Fragmented files (`moof`),
which none of our muxers write, raise `Fragmented` so callers can ask ffprobe instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

MAX_BOXES = 4096
"""Children read from one box before the file is refused: ours have a handful."""


class Mp4Error(Exception):
    """The file is not a whole, readable MP4 / QuickTime movie."""


class Fragmented(Mp4Error):
    """A fragmented movie: its samples live in `moof` boxes, which this reader does not count."""


Box = tuple[bytes, int, int]
"""(kind, payload start, end)."""


def _boxes(handle: BinaryIO, start: int, end: int, *, strict: bool) -> Iterator[Box]:
    """The boxes between `start` and `end`; `strict` refuses a malformed header, else the list stops there."""
    offset, count = start, 0
    while offset + 8 <= end:
        count += 1
        if count > MAX_BOXES:
            raise Mp4Error(f"more than {MAX_BOXES} boxes in one list")
        handle.seek(offset)
        header = handle.read(16)
        if len(header) < 8:
            raise Mp4Error(f"the file ends inside a box header at byte {offset}")
        length, kind, head = int.from_bytes(header[:4], "big"), header[4:8], 8
        if length == 1:
            if len(header) < 16:
                raise Mp4Error(f"the file ends inside a box header at byte {offset}")
            length, head = int.from_bytes(header[8:16], "big"), 16
        elif length == 0:
            length = end - offset  # "to the end of the enclosing space"
        if length < head or offset + length > end:
            if strict:
                raise Mp4Error(f"box {kind!r} at byte {offset} claims {length} bytes, past the end at {end}")
            return
        yield kind, offset + head, offset + length
        offset += length
    if strict and offset != end:
        raise Mp4Error(f"{end - offset} stray bytes at byte {offset}")


def _child(handle: BinaryIO, box: Box | None, kind: bytes) -> Box | None:
    if box is None:
        return None
    return next((b for b in _boxes(handle, box[1], box[2], strict=True) if b[0] == kind), None)


def _fields(handle: BinaryIO, box: Box, offset: int, widths: tuple[int, ...]) -> list[int]:
    """Big-endian unsigned integers of `widths` bytes, read from `offset` into the box's payload."""
    size = sum(widths)
    if box[1] + offset + size > box[2]:
        raise Mp4Error(f"box {box[0]!r} is too short ({box[2] - box[1]} bytes)")
    handle.seek(box[1] + offset)
    data = handle.read(size)
    if len(data) != size:
        raise Mp4Error(f"the file ends inside box {box[0]!r}")
    values, at = [], 0
    for width in widths:
        values.append(int.from_bytes(data[at : at + width], "big"))
        at += width
    return values


def _version(handle: BinaryIO, box: Box) -> int:
    return _fields(handle, box, 0, (1,))[0]


def _timing(handle: BinaryIO, box: Box) -> tuple[int, int]:
    """(timescale, duration) of an `mvhd` or `mdhd`: 32-bit fields in version 0, 64-bit times in version 1."""
    if _version(handle, box) == 1:
        _, _, timescale, duration = _fields(handle, box, 4, (8, 8, 4, 8))
    else:
        _, _, timescale, duration = _fields(handle, box, 4, (4, 4, 4, 4))
    if timescale == 0:
        raise Mp4Error(f"box {box[0]!r} has a timescale of 0")
    return timescale, duration


@dataclass(frozen=True)
class Track:
    handler: str
    """'vide' or 'soun' (or another handler type)."""
    fourcc: str
    """The sample entry's format: 'avc1', 'mp4a', 'sowt', 'lpcm', …"""
    timescale: int
    duration: int
    """In `timescale` units, from the media header: every sample's time, before any edit list."""
    samples: int
    """Samples in the sample size table: video frames; audio packets, or for PCM audio samples."""
    seconds: float
    """How long the track plays: its media cut by its edit list (see `_presented`)."""
    width: int = 0
    height: int = 0

    @property
    def media_s(self) -> float:
        return self.duration / self.timescale


@dataclass(frozen=True)
class Movie:
    tracks: tuple[Track, ...]

    def first(self, handler: str) -> Track | None:
        return next((t for t in self.tracks if t.handler == handler), None)

    @property
    def video(self) -> Track | None:
        return self.first("vide")

    @property
    def audio(self) -> Track | None:
        return self.first("soun")


def _first_offset(handle: BinaryIO, stbl: Box) -> int:
    """The first sample's composition offset (`ctts`): an encoder's constant decode delay; 0 without one."""
    ctts = _child(handle, stbl, b"ctts")
    if ctts is None or _fields(handle, ctts, 4, (4,))[0] == 0:
        return 0
    offset = _fields(handle, ctts, 12, (4,))[0]  # after the entry count and the first entry's sample count
    return offset - (1 << 32) if _version(handle, ctts) == 1 and offset >= 1 << 31 else offset


def _presented(handle: BinaryIO, trak: Box, stbl: Box, timescale: int, duration: int, movie_timescale: int) -> float:
    """Seconds the track plays, as players (and ffprobe) take it: the media, cut by the edit list if it has one.

    An edit starts at `media_time` in composition time and lasts `segment_duration` movie
    ticks (often rounded to milliseconds), so the precise end is the earlier of the edit's
    end and the media's: the samples' time plus the decode delay. AAC's priming samples
    are skipped this way, and B-frames' delay is not counted as time.
    """
    elst = _child(handle, _child(handle, trak, b"edts"), b"elst")
    if elst is None:
        return duration / timescale
    version = _version(handle, elst)
    (entries,) = _fields(handle, elst, 4, (4,))
    width = 20 if version == 1 else 12
    if entries > MAX_BOXES or 8 + entries * width > elst[2] - elst[1]:
        raise Mp4Error(f"edit list of {entries} entries does not fit its box")
    delay, shown = 0.0, 0.0
    composed_end = duration + _first_offset(handle, stbl)
    for n in range(entries):
        segment, media_time = _fields(handle, elst, 8 + n * width, (8, 8) if version == 1 else (4, 4))
        empty = media_time == (1 << (64 if version == 1 else 32)) - 1  # -1: an empty edit, a pause
        if empty:
            delay += segment / movie_timescale
            continue
        span = min(segment * timescale / movie_timescale, max(0, composed_end - media_time))
        shown += span / timescale
    return delay + shown


def _table(handle: BinaryIO, box: Box, entries: int, width: int, at: int = 8) -> Iterator[tuple[int, ...]]:
    """A box's table of `entries` rows of 32-bit fields (`width` of them), read a chunk at a time."""
    row = 4 * width
    if box[1] + at + entries * row > box[2]:
        raise Mp4Error(f"box {box[0]!r} of {box[2] - box[1]} bytes cannot hold {entries} entries")
    handle.seek(box[1] + at)
    left = entries
    while left:
        rows = min(left, 1 << 16)
        data = handle.read(rows * row)
        if len(data) != rows * row:
            raise Mp4Error(f"the file ends inside box {box[0]!r}")
        for n in range(rows):
            yield tuple(int.from_bytes(data[n * row + 4 * k : n * row + 4 * k + 4], "big") for k in range(width))
        left -= rows


def _samples(handle: BinaryIO, stbl: Box) -> int:
    """The sample count, once the tables that place and time the samples agree on it (players go by those)."""
    stsz = _child(handle, stbl, b"stsz")
    sizes = stsz or _child(handle, stbl, b"stz2")
    if sizes is None:
        raise Mp4Error("a track has no sample size table")
    size, count = _fields(handle, sizes, 4, (4, 4))  # after version and flags: the sample (or field) size
    bits = (size & 0xFF) if stsz is None else (0 if size else 32)
    if bits not in (0, 4, 8, 16, 32) or sizes[1] + 12 + (count * bits + 7) // 8 > sizes[2]:
        raise Mp4Error(f"the sample size table of {sizes[2] - sizes[1]} bytes cannot hold {count} samples")
    if stsz is not None and size * count > os.fstat(handle.fileno()).st_size:
        raise Mp4Error(f"{count} samples of {size} bytes each are more than the file holds")
    stts = _child(handle, stbl, b"stts")
    if stts is None:
        raise Mp4Error("a track has no decoding time table")
    (runs,) = _fields(handle, stts, 4, (4,))
    timed = sum(n for n, _ in _table(handle, stts, min(runs, count + 1), 2)) if runs <= count else count + 1
    if timed != count:
        raise Mp4Error(f"the decoding time table times {timed} samples, the sample size table lists {count}")
    if (placed := _placed(handle, stbl)) != count:
        raise Mp4Error(f"the chunk tables place {placed} samples, the sample size table lists {count}")
    return count


def _placed(handle: BinaryIO, stbl: Box) -> int:
    """Samples the chunk tables (`stsc` runs over `stco`/`co64` chunks) put in the file."""
    offsets = _child(handle, stbl, b"stco") or _child(handle, stbl, b"co64")
    stsc = _child(handle, stbl, b"stsc")
    if offsets is None or stsc is None:
        raise Mp4Error("a track has no chunk tables")
    (chunks,) = _fields(handle, offsets, 4, (4,))
    (runs,) = _fields(handle, stsc, 4, (4,))
    if runs > chunks:
        raise Mp4Error(f"{runs} chunk runs for {chunks} chunks")
    placed, previous = 0, None
    for first, per_chunk, _ in _table(handle, stsc, runs, 3):
        if previous is not None:
            if not previous[0] < first <= chunks:
                raise Mp4Error("the chunk runs are out of order")
            placed += (first - previous[0]) * previous[1]
        elif first != 1:
            raise Mp4Error("the chunk runs do not start at the first chunk")
        previous = (first, per_chunk)
    if previous is not None:
        placed += (chunks + 1 - previous[0]) * previous[1]
    return placed


def _entry(handle: BinaryIO, stbl: Box, visual: bool) -> tuple[str, int, int]:
    """The first sample entry's format and, for video, its frame size."""
    stsd = _child(handle, stbl, b"stsd")
    if stsd is None:
        raise Mp4Error("a track has no sample description")
    (entries,) = _fields(handle, stsd, 4, (4,))
    if entries == 0:
        return "", 0, 0
    _, kind = _fields(handle, stsd, 8, (4, 4))
    # A visual entry: 6 reserved bytes, the data reference, 16 bytes of pre_defined/reserved, then the size.
    width, height = _fields(handle, stsd, 40, (2, 2)) if visual else (0, 0)
    return kind.to_bytes(4, "big").decode("latin-1"), width, height


def _track(handle: BinaryIO, trak: Box, movie_timescale: int) -> Track:
    mdia = _child(handle, trak, b"mdia")
    mdhd, hdlr = _child(handle, mdia, b"mdhd"), _child(handle, mdia, b"hdlr")
    stbl = _child(handle, _child(handle, mdia, b"minf"), b"stbl")
    if mdhd is None or hdlr is None or stbl is None:
        raise Mp4Error("a track lacks its media header, handler or sample table")
    timescale, duration = _timing(handle, mdhd)
    (code,) = _fields(handle, hdlr, 8, (4,))  # after version, flags and pre_defined
    handler = code.to_bytes(4, "big").decode("latin-1")
    fourcc, width, height = _entry(handle, stbl, handler == "vide")
    return Track(
        handler=handler,
        fourcc=fourcc,
        width=width,
        height=height,
        timescale=timescale,
        duration=duration,
        samples=_samples(handle, stbl),
        seconds=_presented(handle, trak, stbl, timescale, duration, movie_timescale),
    )


def _top(handle: BinaryIO) -> dict[bytes, Box]:
    """The file's top-level boxes, which must tile it exactly and include the movie and its media data."""
    size = os.fstat(handle.fileno()).st_size
    top: dict[bytes, Box] = {}
    for box in _boxes(handle, 0, size, strict=True):
        top.setdefault(box[0], box)
    if b"moof" in top:
        raise Fragmented("the movie is fragmented")
    if b"moov" not in top or b"mdat" not in top:
        raise Mp4Error("no movie header (moov) and media data (mdat) at the top level")
    return top


def read_movie(path: Path) -> Movie:
    """Every track's handler, format, timing and sample count; `Mp4Error` if the file is not a whole movie."""
    with open(path, "rb") as handle:
        moov = _top(handle)[b"moov"]
        if _child(handle, moov, b"mvex") is not None:
            raise Fragmented("the movie is fragmented")
        mvhd = _child(handle, moov, b"mvhd")
        if mvhd is None:
            raise Mp4Error("the movie has no movie header (mvhd)")
        movie_timescale, _ = _timing(handle, mvhd)
        tracks = tuple(
            _track(handle, box, movie_timescale)
            for box in _boxes(handle, moov[1], moov[2], strict=True)
            if box[0] == b"trak"
        )
    return Movie(tracks)


def mov_is_whole(path: Path) -> bool:
    """Whether a finished file's top-level boxes tile it exactly and include `moov` and `mdat`.

    A cheap check (headers only) for lost or truncated writes.
    """
    try:
        with open(path, "rb") as handle:
            _top(handle)
    except Fragmented:
        return True
    except Mp4Error:
        return False
    return True


def video_samples(path: Path) -> int | None:
    """Frames of the first video track, from its sample size table; None if the file cannot say."""
    try:
        video = read_movie(path).video
    except Mp4Error:
        return None
    return video.samples if video else None
