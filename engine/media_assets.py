"""Video assets for media clips: fetched like every asset, then probed once, before any frame is rendered.

A video asset is not decoded whole up front (it may be long); ffprobe reads its
streams and length and one frame at `in` is decoded, so a missing, unreadable or
too short asset fails at once, as BadAsset naming the field, instead of mid-render.
"""

from __future__ import annotations

import asyncio
import json
import math
from fractions import Fraction
from pathlib import Path
from typing import Any

from contracts.job import MIN_CLIP_SECONDS, ClipSpec
from engine.deps import Deps, check_asset_size, fetch
from engine.errors import BadAsset
from engine.media.backdrop import LoopVideo
from engine.media.graphs import progress_args
from engine.media.process import run_ffmpeg, run_tool
from engine.media.sources import VideoAsset, asset_audio_command
from engine.storage import confine

LENGTH_SLACK_S = MIN_CLIP_SECONDS
"""An asset may end this much before `out` (containers round their lengths); its last frame fills the gap."""


async def fetch_video(deps: Deps, spec: ClipSpec, dest: Path) -> VideoAsset:
    """The clip's video asset on local disk, checked: inside the roots, present, a video, long enough."""
    uri = spec.video or ""
    confine(uri, deps.settings.storage.asset_roots, "source")
    storage = deps.storages.for_uri(uri)
    if not await asyncio.to_thread(storage.exists, uri):
        raise BadAsset(f"source: video asset {uri} does not exist")
    await check_asset_size(deps, uri, "source: video asset")
    path = await fetch(deps, uri, dest)
    asset = await probe_video(path, uri)
    end = spec.trim_in + spec.duration
    if asset.duration_s + LENGTH_SLACK_S < end:
        raise BadAsset(f"out: {end:g} s is past the end of video asset {uri} ({asset.duration_s:.3f} s long)")
    code, _, err = await run_tool(
        "ffmpeg", "-v", "error", "-xerror", "-ss", f"{spec.trim_in:.3f}", "-i", str(path),
        "-map", "0:v:0", "-frames:v", "1", "-f", "null", "-",
    )  # fmt: skip
    if code != 0 or err.strip():
        said = err.decode(errors="replace").strip()[-300:] or f"ffmpeg exited with {code}"
        raise BadAsset(f"source: video asset {uri} cannot be decoded at in={spec.trim_in:g} s: {said}")
    return asset


async def probe_video(path: Path, uri: str, field: str = "source") -> VideoAsset:
    asset, _ = await _probe(path, uri, field)
    return asset


async def _probe(path: Path, uri: str, field: str) -> tuple[VideoAsset, dict[str, Any]]:
    """The asset as the render needs it, and ffprobe's own description of its format and video stream."""
    code, out, err = await run_tool(
        "ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)
    )  # fmt: skip
    if code != 0:
        said = err.decode(errors="replace").strip()[-300:]
        raise BadAsset(f"{field}: video asset {uri} is not readable media: {said}")
    data = json.loads(out)
    streams = data.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    if video is None or video.get("disposition", {}).get("attached_pic"):
        raise BadAsset(f"{field}: {uri} has no video stream")
    form = data.get("format", {})
    duration = float(video.get("duration") or form.get("duration") or 0)
    asset = VideoAsset(
        path=path,
        format_name=str(form.get("format_name", "")),
        duration_s=duration,
        has_audio=any(s.get("codec_type") == "audio" for s in streams),
        square_pixels=video.get("sample_aspect_ratio", "1:1") in ("1:1", "0:1", "N/A"),
    )
    return asset, {"format": form, "video": video}


BACKGROUND_FIELD = "theme.background.video"
MAX_LOOP_FRAMES = 18000
"""A background loop's frames, each listed in memory: ten minutes at 30 fps (a loop is seconds long)."""


async def fetch_loop_video(deps: Deps, uri: str, dest: Path) -> LoopVideo:
    """A theme's background video on local disk, checked and decoded once to list its frames.

    Its picture is copied (not re-encoded) into Matroska without its sound: indexed whatever it
    came in (MPEG-TS has no index, and ffmpeg loses frames looping it), so it loops and seeks
    exactly. Every frame is decoded here (a background loop is short), so an asset that is not a
    video or breaks part way fails now, naming the field, and a resumed render knows where each frame is.
    """
    confine(uri, deps.settings.storage.asset_roots, BACKGROUND_FIELD)
    storage = deps.storages.for_uri(uri)
    if not await asyncio.to_thread(storage.exists, uri):
        raise BadAsset(f"{BACKGROUND_FIELD}: video asset {uri} does not exist")
    await check_asset_size(deps, uri, f"{BACKGROUND_FIELD}: video asset")
    fetched = await fetch(deps, uri, dest)
    _, first = await _probe(fetched, uri, BACKGROUND_FIELD)
    # Every frame is decoded at this size, and again for each pass of the loop: bounded like an image.
    width, height = int(first["video"].get("width") or 0), int(first["video"].get("height") or 0)
    limit = deps.settings.limits.budget.image_megapixels
    if width * height > limit * 1e6:
        megapixels = f"{width}x{height} ({width * height / 1e6:.1f} MP)"
        raise BadAsset(f"{BACKGROUND_FIELD}: video asset {uri} is {megapixels}; the limit is {limit:g} MP")
    path = dest.with_name(dest.name + ".mkv")
    code, _, err = await run_tool(
        "ffmpeg", "-v", "error", "-nostdin", "-y", "-i", str(fetched), "-map", "0:v:0", "-c", "copy",
        "-f", "matroska", str(path),
    )  # fmt: skip
    if code != 0:
        said = err.decode(errors="replace").strip()[-300:]
        raise BadAsset(f"{BACKGROUND_FIELD}: video asset {uri} cannot be read: {said}")
    asset, facts = await _probe(path, uri, BACKGROUND_FIELD)
    code, out, err = await run_tool(
        "ffprobe", "-v", "error", "-select_streams", "v:0",
        "-read_intervals", f"%+#{MAX_LOOP_FRAMES + 1}",
        "-show_entries", "frame=best_effort_timestamp_time", "-of", "json", str(path),
    )  # fmt: skip
    listed = json.loads(out or b"{}").get("frames", []) if code == 0 else []
    if len(listed) > MAX_LOOP_FRAMES:
        raise BadAsset(f"{BACKGROUND_FIELD}: video asset {uri} has more than {MAX_LOOP_FRAMES} frames to loop")
    # A frame without a timestamp is listed as NaN: the loop is then never entered by seeking.
    times = tuple(_seconds(frame.get("best_effort_timestamp_time")) for frame in listed)
    if code != 0 or err.strip() or not times:
        said = err.decode(errors="replace").strip()[-300:] or "no frames"
        raise BadAsset(f"{BACKGROUND_FIELD}: video asset {uri} cannot be decoded: {said}")
    rate = _rate(facts["video"].get("avg_frame_rate")) or _rate(facts["video"].get("r_frame_rate"))
    if rate is None:
        raise BadAsset(f"{BACKGROUND_FIELD}: video asset {uri} has no frame rate")
    start = float(facts["format"].get("start_time") or 0.0)
    # The copy may drop the original's display rotation (Matroska in ffmpeg before 7 does): then the loop turns it.
    lost = _rotation(first["video"]) if not _rotation(facts["video"]) else 0
    return LoopVideo(asset, times, rate, start if math.isfinite(start) else 0.0, lost)


def _rotation(stream: dict[str, Any]) -> int:
    """Degrees counterclockwise a video stream's display matrix turns its picture: 0, 90, 180 or 270."""
    for side in stream.get("side_data_list", []):
        if "rotation" in side:
            try:
                return round(float(side["rotation"]) / 90) % 4 * 90
            except (TypeError, ValueError):
                return 0
    return 0


def _seconds(text: object) -> float:
    try:
        return float(str(text))
    except ValueError:
        return math.nan


def _rate(text: object) -> Fraction | None:
    """'30000/1001' as a fraction; None for '0/0' or anything else that is no rate."""
    try:
        rate = Fraction(str(text))
    except (ValueError, ZeroDivisionError):
        return None
    return rate if 0 < rate <= 1000 else None


async def asset_audio(spec: ClipSpec, asset: VideoAsset, dest: Path, *, narrated: bool) -> tuple[Path | None, float]:
    """The asset's sound for this clip as a WAV (None when dropped or silent), and the CPU seconds it took."""
    command = asset_audio_command(spec, asset, dest, narrated=narrated)
    if command is None:
        return None, 0.0
    seconds = await run_ffmpeg([command[0], *progress_args(), *command[1:]])
    return dest, seconds
