"""What `concat_clips` spends its time on, step by step, replayed on a finished set of clips.

The activity reports one span; this splits it into the work it does (probe the clips
when their encoders differ, mux the clips' video with the finished sound, check the
result's headers, publish), so a recommendation rests on a measurement rather than a guess.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench.plain import run
from engine.media.graphs import concat_list, mux_command
from engine.media.probe import counted, probe
from engine.settings import file_uri
from engine.storage import FileStorage

Step = tuple[str, float, float]
"""(what, wall seconds, CPU seconds of the children it ran)."""


async def timed(what: str, step: Callable[[], Awaitable[object]]) -> Step:
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    await step()
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return what, wall, (after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime)


async def join_anatomy(clips: list[Path], track: Path | None, work: Path) -> list[Step]:
    """Each step `concat_clips` takes, in its order, then the cheaper alternative."""
    if track is None:
        raise ValueError("join_anatomy: the plain script's sound track is needed")
    work.mkdir(parents=True, exist_ok=True)
    list_file = work / "clips.ffconcat"
    list_file.write_text(concat_list(clips), encoding="utf-8")
    joined = work / "video.mp4"

    async def probe_each() -> None:
        for clip in clips:
            await probe(clip)

    async def probe_all() -> None:
        await asyncio.gather(*(probe(clip) for clip in clips))

    async def publish() -> None:
        await asyncio.to_thread(FileStorage().upload, joined, file_uri(work / "published.mp4"))

    return [
        await timed(f"ffprobe {len(clips)} clips (only when their encoders differ)", probe_each),
        await timed("mux: video and AAC stream copy", lambda: run(mux_command(list_file, track, joined, None))),
        await timed("check the joined video's headers (no process)", lambda: counted(joined)),
        await timed("publish to the work store: copy + fsync", publish),
        await timed(f"  alternative: ffprobe {len(clips)} clips at once", probe_all),
    ]
