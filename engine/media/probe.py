"""ffprobe: what a media file really holds, for checks before and after joins."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path

from engine.media.mp4 import Fragmented, Mp4Error, mov_is_whole, read_movie, video_samples
from engine.media.process import run_tool

__all__ = ["MediaInfo", "ProbeError", "StreamInfo", "counted", "mov_is_whole", "probe", "shows_all", "video_samples"]


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


async def counted(path: Path) -> MediaInfo:
    """Frames and track durations from the file's headers (no process); ffprobe only for a fragmented file.

    Enough for the checks after a render or a join, which ask how many frames and how long;
    codec parameters (`signature`) still need `probe`. `codec` is the sample entry's code
    ('avc1', 'mp4a', 'sowt'), not ffprobe's codec name, and `packets` of PCM audio counts samples.
    """
    try:
        movie = await asyncio.to_thread(read_movie, path)
    except Fragmented:
        return await probe(path)
    except (Mp4Error, OSError) as err:
        raise ProbeError(f"{path.name} is not a whole movie: {err}") from None
    streams = {
        kind: StreamInfo(
            codec=track.fourcc,
            packets=track.samples,
            duration_s=track.seconds,
            width=track.width,
            height=track.height,
        )
        for kind, track in (("video", movie.video), ("audio", movie.audio))
        if track is not None
    }
    duration = max((s.duration_s for s in streams.values()), default=0.0)
    return MediaInfo(video=streams.get("video"), audio=streams.get("audio"), duration_s=duration)


def shows_all(video: StreamInfo, frames: int, fps: int) -> bool:
    """Whether the track plays for its `frames` frames at `fps`, to within half a frame (an edit list may cut it)."""
    return abs(video.duration_s * fps - frames) < 0.5
