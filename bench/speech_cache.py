"""Cached speech: the TTS time of a job's first render and of the same job rendered again.

A trivia job's narration (every question and reveal) is made the way a render makes it:
`narrate` synthesizes, levels and stores each line under its content hash, then
`build_audio` fetches it for the mix. Both run twice against one work store, the second
time on new activity instances (as a fresh worker would). Printed per render: engine
calls, seconds inside the engine (espeak-ng), and the narrate step's wall seconds; then
second ÷ first for each.

    .venv/bin/python bench/speech_cache.py [--clips 10]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from temporalio.testing import ActivityEnvironment

from activities.audio import AudioActivities
from activities.narration import NarrationActivities
from bench.jobs import trivia_job
from bench.report import table
from contracts.job import Job, parse_job
from contracts.plan import fit_narration, plan_video
from contracts.records import AudioWork, NarrationWork
from engine.deps import Deps
from engine.settings import RenderSettings, Settings, StorageSettings, file_uri
from engine.tts import EspeakTts


@dataclass
class TimedTts:
    """The real espeak-ng engine, with its calls counted and timed."""

    engine: EspeakTts
    name: str = "espeak-ng"
    calls: int = 0
    seconds: float = 0.0

    async def synthesize(self, text: str, voice: str, speed: float, out: Path) -> bool:
        started = time.perf_counter()
        try:
            return await self.engine.synthesize(text, voice, speed, out)
        finally:
            self.calls += 1
            self.seconds += time.perf_counter() - started


async def render_speech(deps: Deps, job: Job, tts: TimedTts) -> float:
    """Narrate the job and build its sound as a render does; the narrate step's wall seconds."""
    plan = plan_video(job)
    lines = [(c.index, c.spec.narration) for c in plan.clips if c.spec.narration]
    started = time.perf_counter()
    narrated = await ActivityEnvironment().run(
        NarrationActivities(deps, tts).synthesize, NarrationWork(job.video_id, lines, job.tts_voice, job.tts_speed)
    )
    wall = time.perf_counter() - started
    fitted = fit_narration(job, plan, narrated.takes)
    await ActivityEnvironment().run(
        AudioActivities(deps, tts).build, AudioWork(fitted, job.loudness, job.tts_voice, job.tts_speed)
    )
    return wall


async def run(clips: int) -> list[list[object]]:
    binary = shutil.which("espeak-ng")
    if binary is None:
        raise SystemExit("espeak-ng is not installed (scripts/bootstrap installs it)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for sub in ("work", "output", "assets", "scratch"):
            (root / sub).mkdir()
        settings = Settings(
            storage=StorageSettings(
                work_uri=file_uri(root / "work"),
                output_roots=(file_uri(root / "output"),),
                asset_roots=(file_uri(root / "assets"),),
                scratch_dir=root / "scratch",
            ),
            render=RenderSettings(ffmpeg_threads=1),
        )
        deps = Deps.from_settings(settings)
        job = parse_job(trivia_job("speech-cache", clips, size=(320, 180)))
        renders = []
        for _ in range(2):
            tts = TimedTts(EspeakTts(binary))
            wall = await render_speech(deps, job, tts)
            renders.append((tts.calls, tts.seconds, wall))
    (calls1, tts1, wall1), (calls2, tts2, wall2) = renders
    return [
        ["first render", calls1, f"{tts1:.3f}", f"{wall1:.3f}"],
        ["second render", calls2, f"{tts2:.3f}", f"{wall2:.3f}"],
        ["second ÷ first", f"{calls2 / calls1:.2f}", f"{tts2 / tts1:.3f}", f"{wall2 / wall1:.3f}"],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=10, help="question and reveal clips (each narrated)")
    args = parser.parse_args()
    rows = asyncio.run(run(args.clips))
    print(f"Speech of a {args.clips}-clip trivia job, rendered twice (espeak-ng, one work store)")
    print(table(rows, ["render", "engine calls", "TTS s", "narrate step s"]))


if __name__ == "__main__":
    main()
