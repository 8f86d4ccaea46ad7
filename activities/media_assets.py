"""Video assets for media clips: fetched like every asset, then probed once, before any frame is rendered.

A video asset is not decoded whole up front (it may be long); ffprobe reads its
streams and length and one frame at `in` is decoded, so a missing, unreadable or
too short asset fails at once, as BadAsset naming the field, instead of mid-render.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from activities.common import Deps, check_asset_size, fetch
from activities.errors import BadAsset
from activities.media.graphs import progress_args
from activities.media.process import run_ffmpeg, run_tool
from activities.media.sources import VideoAsset, asset_audio_command
from activities.storage import confine
from contracts.job import MIN_CLIP_SECONDS, ClipSpec

LENGTH_SLACK_S = MIN_CLIP_SECONDS
"""An asset may end this much before `out` (containers round their lengths); its last frame fills the gap."""


async def fetch_video(deps: Deps, spec: ClipSpec, dest: Path) -> VideoAsset:
    """The clip's video asset on local disk, checked: inside the roots, present, a video, long enough."""
    uri = spec.video or ""
    confine(uri, deps.settings.asset_roots, "source")
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


async def probe_video(path: Path, uri: str) -> VideoAsset:
    code, out, err = await run_tool(
        "ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)
    )  # fmt: skip
    if code != 0:
        said = err.decode(errors="replace").strip()[-300:]
        raise BadAsset(f"source: video asset {uri} is not readable media: {said}")
    data = json.loads(out)
    streams = data.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    if video is None or video.get("disposition", {}).get("attached_pic"):
        raise BadAsset(f"source: {uri} has no video stream")
    form = data.get("format", {})
    duration = float(video.get("duration") or form.get("duration") or 0)
    return VideoAsset(
        path=path,
        format_name=str(form.get("format_name", "")),
        duration_s=duration,
        has_audio=any(s.get("codec_type") == "audio" for s in streams),
        square_pixels=video.get("sample_aspect_ratio", "1:1") in ("1:1", "0:1", "N/A"),
    )


async def asset_audio(spec: ClipSpec, asset: VideoAsset, dest: Path, *, narrated: bool) -> tuple[Path | None, float]:
    """The asset's sound for this clip as a WAV (None when dropped or silent), and the CPU seconds it took."""
    command = asset_audio_command(spec, asset, dest, narrated=narrated)
    if command is None:
        return None, 0.0
    seconds = await run_ffmpeg([command[0], *progress_args(), *command[1:]])
    return dest, seconds
