"""Clip cache: CPU per video of a batch sharing an intro and an outro, cache on ÷ cache off.

    PYTHONPATH=. python -m bench.clip_cache [--videos 4] [--questions 4] [--size 1280x720] [--pairs 3]

Each video of the batch is an intro card, `--questions` cards of its own and an
outro card, rendered as the service renders them (video only: the sound is built
once per video elsewhere) by the real render activity, in this process, on
libx264 with one thread. A pair is the batch once with the cache off and once
with it on, each in a fresh work store (so the cache starts empty and the first
video fills it); the pairs interleave so both sides see the same machine. CPU is
this process's and its children's (ffmpeg, ffprobe). Concat and upload are the
same either way and are left out.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from temporalio.testing import ActivityEnvironment

from activities.render import RenderActivities
from bench.jobs import parse_size
from bench.report import machine, progress, table, with_spread
from contracts.job import parse_job
from contracts.plan import plan_video
from contracts.records import ClipWork
from engine.deps import Deps
from engine.settings import GB, LimitSettings, RenderSettings, Settings, SpeechSettings, StorageSettings, file_uri
from runtime.logs import configure_logging

CLIP_SECONDS = 3.0


def batch(videos: int, questions: int, size: tuple[int, int]) -> list[list[ClipWork]]:
    """Each video's clip renders: the shared intro, its own cards, the shared outro."""
    rendered = []
    for n in range(videos):
        video_id = f"cache-bench-{n}"
        own = [
            {"kind": "card", "duration": CLIP_SECONDS, "lines": [f"Video {n + 1}, question {q + 1}"]}
            for q in range(questions)
        ]
        clips = [
            {"kind": "card", "duration": CLIP_SECONDS, "lines": ["Welcome to the channel"], "background": "navy"},
            *own,
            {"kind": "card", "duration": CLIP_SECONDS, "lines": ["Thanks for watching"], "background": "navy"},
        ]
        job = parse_job({"video_id": video_id, "profile": {"width": size[0], "height": size[1]}, "clips": clips})
        plan = plan_video(job)
        rendered.append(
            [ClipWork(video_id, c, plan.profile, job.tts_voice, job.tts_speed, video_only=True) for c in plan.clips]
        )
    return rendered


def cpu_now() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@dataclass
class Run:
    cpu_per_video: float
    hits: int
    clips: int


async def run_batch(videos: list[list[ClipWork]], cache_bytes: int) -> Run:
    root = Path(tempfile.mkdtemp(prefix="clip-cache-bench-"))
    try:
        for sub in ("work", "assets", "output", "scratch"):
            (root / sub).mkdir()
        settings = Settings(
            storage=StorageSettings(
                work_uri=file_uri(root / "work"),
                output_roots=(file_uri(root / "output"),),
                asset_roots=(file_uri(root / "assets"),),
                scratch_dir=root / "scratch",
            ),
            render=RenderSettings(encoder="libx264", ffmpeg_threads=1),
            speech=SpeechSettings(engine="none"),
            limits=LimitSettings(clip_cache_gb=cache_bytes / GB),
        )
        render = RenderActivities(Deps.from_settings(settings))
        hits = clips = 0
        started = cpu_now()
        for video in videos:
            for inp in video:
                result = await ActivityEnvironment().run(render.render, inp)
                hits += result.from_cache
                clips += 1
        return Run((cpu_now() - started) / len(videos), hits, clips)
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def measure(args: argparse.Namespace) -> list[tuple[Run, Run]]:
    videos = batch(args.videos, args.questions, parse_size(args.size))
    progress("warming up (imports, the encoder probe, font digests)")
    await run_batch(videos[:1], 1 << 30)
    pairs = []
    for n in range(args.pairs):
        progress(f"pair {n + 1}/{args.pairs}: cache off")
        off = await run_batch(videos, 0)
        progress(f"pair {n + 1}/{args.pairs}: cache on")
        on = await run_batch(videos, 10 << 30)
        pairs.append((off, on))
    return pairs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--questions", type=int, default=4, help="cards of each video's own between intro and outro")
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args(argv)
    configure_logging("console", "WARNING")  # the figures below, not a log line per clip
    pairs = asyncio.run(measure(args))
    print(machine())
    print(
        f"{args.videos} videos of {args.questions + 2} clips of {CLIP_SECONDS:g} s at {args.size}, "
        "intro and outro shared, libx264 one thread, video only"
    )
    rows = [
        [f"pair {n + 1}", off.cpu_per_video, on.cpu_per_video, f"{on.hits}/{on.clips}"]
        for n, (off, on) in enumerate(pairs)
    ]
    print(table(rows, ["", "CPU s/video, off", "CPU s/video, on", "clips from cache"]))
    ratios = [on.cpu_per_video / off.cpu_per_video for off, on in pairs]
    shared = 2 * (args.videos - 1) / (args.videos * (args.questions + 2))
    print(f"CPU per video, cache on ÷ off: {with_spread(ratios)}")
    print(f"hit rate {pairs[-1][1].hits / pairs[-1][1].clips:.3f} (at most {shared:.3f} for this batch)")


if __name__ == "__main__":
    main()
