"""ffprobe: what a media file really holds, for checks before and after joins."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from activities.media.process import run_tool


class ProbeError(Exception):
    pass


@dataclass(frozen=True)
class StreamInfo:
    codec: str
    packets: int
    duration_s: float
    width: int = 0
    height: int = 0
    fps: str = ""
    sample_rate: int = 0
    signature: str = ""
    """Codec parameters that must match for a stream-copy join."""


@dataclass(frozen=True)
class MediaInfo:
    video: StreamInfo | None
    audio: StreamInfo | None
    duration_s: float


async def probe(path: Path) -> MediaInfo:
    code, out, err = await run_tool(
        "ffprobe", "-v", "error", "-count_packets", "-show_streams", "-show_format", "-of", "json", str(path)
    )
    if code != 0:
        raise ProbeError(f"ffprobe could not read {path.name}: {err.decode(errors='replace').strip()[-500:]}")
    data = json.loads(out)
    streams: dict[str, StreamInfo] = {}
    for s in data.get("streams", []):
        kind = s.get("codec_type")
        if kind not in ("video", "audio") or kind in streams:
            continue
        signature = "|".join(
            str(s.get(k, ""))
            for k in (
                "codec_name",
                "profile",
                "level",
                "width",
                "height",
                "pix_fmt",
                "r_frame_rate",
                "time_base",
                "sample_rate",
                "channels",
                "sample_fmt",
            )
        )
        streams[kind] = StreamInfo(
            codec=s.get("codec_name", ""),
            packets=int(s.get("nb_read_packets", 0) or 0),
            duration_s=float(s.get("duration", 0) or 0),
            width=int(s.get("width", 0) or 0),
            height=int(s.get("height", 0) or 0),
            fps=s.get("r_frame_rate", ""),
            sample_rate=int(s.get("sample_rate", 0) or 0),
            signature=signature,
        )
    duration = float(data.get("format", {}).get("duration", 0) or 0)
    return MediaInfo(video=streams.get("video"), audio=streams.get("audio"), duration_s=duration)


async def container_format(path: Path) -> str:
    """The demuxer ffmpeg picks for the file ('png_pipe', 'image2', 'mov,mp4,m4a,3gp,3g2,mj2', ...)."""
    code, out, err = await run_tool(
        "ffprobe", "-v", "error", "-show_entries", "format=format_name", "-of", "default=nw=1:nk=1", str(path)
    )
    if code != 0:
        raise ProbeError(err.decode(errors="replace").strip()[-300:] or f"ffprobe exited with {code}")
    return out.decode(errors="replace").strip()


def is_still_image(format_name: str) -> bool:
    return format_name == "image2" or format_name.endswith("_pipe")


async def decode_check(path: Path, kind: str) -> None:
    """Decode the file (one frame of an image, all of an audio or video file); raise if ffmpeg objects.

    ffprobe alone accepts a text file named .png, and a looped image that cannot be
    decoded would stall the render instead of failing it. An image must also be a
    still-image format: a video or a GIF decodes a first frame happily, but the
    render loops the image (`-loop 1`), which only image demuxers accept, so it
    would fail every attempt.
    """
    if kind == "image":
        found = await container_format(path)
        if not is_still_image(found):
            raise ProbeError(f"is {found.split(',')[0]} media, not a still image (PNG, JPEG, WebP, BMP or TIFF)")
    stream = "0:a:0" if kind == "audio" else "0:v:0"
    limit = ["-frames:v", "1"] if kind == "image" else []
    code, _, err = await run_tool(
        "ffmpeg", "-v", "error", "-xerror", "-i", str(path), "-map", stream, *limit, "-f", "null", "-"
    )
    if code != 0 or err.strip():
        raise ProbeError(err.decode(errors="replace").strip()[-300:] or f"ffmpeg exited with {code}")


def _atoms(handle: BinaryIO, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(kind, payload start, end) of each atom between `start` and `end`, up to the first malformed header."""
    offset = start
    while offset + 8 <= end:
        handle.seek(offset)
        header = handle.read(16)
        length, kind, head = int.from_bytes(header[:4], "big"), header[4:8], 8
        if length == 1 and len(header) == 16:
            length, head = int.from_bytes(header[8:16], "big"), 16
        if length < head or offset + length > end:
            return
        yield kind, offset + head, offset + length
        offset += length


def _child(handle: BinaryIO, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    return next(((s, e) for k, s, e in _atoms(handle, start, end) if k == kind), None)


def mov_is_whole(path: Path) -> bool:
    """Whether a finished .mov is structurally complete: its top-level atoms tile the file exactly
    and include the movie header and the media data.

    A cheap check (headers only, no process) for lost or truncated writes; frame counts are
    read from the headers too (`video_samples`).
    """
    size = path.stat().st_size
    seen: set[bytes] = set()
    tiled = 0
    with open(path, "rb") as handle:
        for kind, _, end in _atoms(handle, 0, size):
            seen.add(kind)
            tiled = end
    return tiled == size and {b"moov", b"mdat"} <= seen


def video_samples(path: Path) -> int | None:
    """Samples (frames) of the first video track of a .mov, from its sample size table: headers only."""
    with open(path, "rb") as handle:
        moov = _child(handle, 0, os.fstat(handle.fileno()).st_size, b"moov")
        for kind, start, end in _atoms(handle, *moov) if moov else ():
            mdia = _child(handle, start, end, b"mdia") if kind == b"trak" else None
            hdlr = _child(handle, *mdia, b"hdlr") if mdia else None
            if mdia is None or hdlr is None:
                continue
            handle.seek(hdlr[0] + 8)  # version and flags, pre_defined, then the handler type
            if handle.read(4) != b"vide":
                continue
            minf = _child(handle, *mdia, b"minf")
            stbl = _child(handle, *minf, b"stbl") if minf else None
            stsz = _child(handle, *stbl, b"stsz") if stbl else None
            if stsz is None:
                return None
            handle.seek(stsz[0] + 8)  # version and flags, sample size, then the sample count
            return int.from_bytes(handle.read(4), "big")
    return None
