"""The poster: a JPEG of one chosen frame, published beside the video.

It is taken from the joined video at concat (so it is exactly a frame viewers see)
and published with the video, under the same manifest's ownership.
"""

from __future__ import annotations

from pathlib import Path

from engine.deps import Deps, fetch
from engine.media.probe import counted
from engine.media.process import run_ffmpeg
from engine.threads import in_thread, stoppable

POSTER_SUFFIX = ".poster.jpg"


def poster_uri(output_uri: str) -> str:
    """Beside the video, named from its whole name like its manifest: `show/ep1.mp4` → `show/ep1.mp4.poster.jpg`.

    Never from the name without its suffix: `ep1.mp4` and `ep1.mov` are different videos, each owning
    its own poster, so one video can never overwrite (or, cancelled, unpublish) another's.
    """
    return output_uri + POSTER_SUFFIX


def poster_command(video: Path, seconds: float, height: int, out: Path) -> list[str]:
    """One frame at `seconds`, converted from the video's tagged matrix to JPEG's full-range BT.601."""
    matrix = "bt709" if height >= 720 else "bt601"
    scale = f"scale=in_color_matrix={matrix}:in_range=tv:out_color_matrix=bt601:out_range=pc,format=yuvj420p"
    return [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-progress", "pipe:1", "-nostats",
        "-ss", f"{seconds:.6f}", "-i", str(video), "-frames:v", "1", "-vf", scale, "-q:v", "2", "-f", "mjpeg", str(out),
    ]  # fmt: skip


async def poster_from_clip(clips: list[Path], frames_each: list[int], fps: int, seconds: float, tmp: Path) -> Path:
    """The poster frame taken from the clip that holds second `seconds` of the video, at that clip's offset:
    the same picture as the joined video's, with no need to wait for the join."""
    frame = round(seconds * fps)
    start = 0
    for clip, frames in zip(clips, frames_each, strict=True):
        if frame < start + frames or clip is clips[-1]:
            info = await counted(clip)
            height = info.video.height if info.video else 0
            return await make_poster(clip, max(0, frame - start) / fps, height, tmp / "poster.jpg")
        start += frames
    raise ValueError("poster_from_clip: no clips")


async def make_poster(video: Path, seconds: float, height: int, out: Path) -> Path:
    await run_ffmpeg(poster_command(video, seconds, height, out))
    return out


async def publish_poster(deps: Deps, source_uri: str, output_uri: str, scratch: Path) -> str:
    """Copy the poster beside the published video; its URI, or '' when there is none to publish.

    Safe to retry: once the intermediate is gone, an already published poster stands.
    """
    dest = poster_uri(output_uri)
    source = deps.storages.for_uri(source_uri)
    target = deps.storages.for_uri(dest)
    if await in_thread(source.exists, source_uri):
        local = await fetch(deps, source_uri, scratch / "poster.jpg")
        await stoppable(target.upload, local, dest)
        return dest
    return dest if await in_thread(target.exists, dest) else ""
