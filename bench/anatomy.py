"""What `concat_clips` spends its time on, step by step, replayed on a finished set of clips.

The activity reports one span; this splits it into the work it does (probe every
clip, join, probe the result, publish) and times the alternatives that would make
it cheaper, so a recommendation rests on a measurement rather than a guess.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from activities.media.graphs import concat_command, concat_list
from activities.media.probe import probe
from activities.settings import file_uri
from activities.storage import FileStorage
from bench.plain import run

Step = tuple[str, float, float]
"""(what, wall seconds, CPU seconds of the children it ran)."""


def without_audio_encode(args: list[str]) -> list[str]:
    """The join with the AAC encode left out: what the video stream copy alone costs."""
    start, end = args.index("-af" if "-af" in args else "-c:a"), args.index("-b:a") + 2
    return [*args[:start], "-an", *args[end:]]


def with_fast_aac(args: list[str]) -> list[str]:
    """The join with ffmpeg's faster AAC search (`-aac_coder fast`) instead of the default two-loop one."""
    at = args.index("aac") + 1
    return [*args[:at], "-aac_coder", "fast", *args[at:]]


async def timed(what: str, step: Callable[[], Awaitable[object]]) -> Step:
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    await step()
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return what, wall, (after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime)


async def join_anatomy(clips: list[Path], work: Path) -> list[Step]:
    """Each step `concat_clips` takes, in its order, then the cheaper alternatives."""
    work.mkdir(parents=True, exist_ok=True)
    list_file = work / "clips.ffconcat"
    list_file.write_text(concat_list(clips), encoding="utf-8")
    joined = work / "video.mp4"
    join = concat_command(list_file, joined, None)

    async def probe_each() -> None:
        for clip in clips:
            await probe(clip)

    async def probe_all() -> None:
        await asyncio.gather(*(probe(clip) for clip in clips))

    async def publish() -> None:
        await asyncio.to_thread(FileStorage().upload, joined, file_uri(work / "published.mp4"))

    return [
        await timed(f"ffprobe {len(clips)} clips (only when their encoders differ)", probe_each),
        await timed("join: video stream copy + AAC encode (as now)", lambda: run(join)),
        await timed("ffprobe the joined video (as now)", lambda: probe(joined)),
        await timed("publish to the work store: copy + fsync (as now)", publish),
        await timed(f"  alternative: ffprobe {len(clips)} clips at once", probe_all),
        await timed("  alternative: join without the AAC encode", lambda: run(without_audio_encode(join))),
        await timed("  alternative: join with -aac_coder fast", lambda: run(with_fast_aac(join))),
    ]
