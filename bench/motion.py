"""Motion benchmark: what a theme's entrance and exit cost a question clip over the still picture.

One question of the sample job at each size, rendered as the render activity does (its pictures drawn
and written, then its segmented video command encoded with libx264), under the `midnight` theme with
`motion` none, fade, slide and pop (`transition` cut), and as midnight is by default (slide, fading ends).
Printed per run: CPU seconds drawing and writing the pictures, CPU seconds of ffmpeg, their sum, and the
sum ÷ motion none's, measured in the same run (goal: ≤ 1.5).

    .venv/bin/python bench/motion.py [--size 1080x1920 --size 1920x1080] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.jobs import parse_size
from bench.report import machine, median, table, verdict
from contracts.job import parse_job
from contracts.plan import plan_video
from engine.media.encoder import video_args
from engine.media.graphs import ClipInputs, Segments, build_clip_commands
from engine.media.images import write_picture
from engine.media.layers import Fonts
from engine.media.themed import theme_fonts
from engine.media.themed_graph import Look
from engine.segments import segment_frames
from runtime.settings import RenderEnv, load

SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "trivia-sample.json"
MOTIONS = ("none", "fade", "slide", "pop", "slide+fade")
"""Each with the `cut` transition; "slide+fade": midnight's own look, sliding parts and fading ends."""
GOAL = 1.5


def question_seconds(work: Path, size: tuple[int, int], motion: str, fonts: Fonts) -> tuple[float, float]:
    """(seconds drawing and writing the pictures, ffmpeg's CPU seconds) of the sample's first question."""
    raw: dict[str, Any] = json.loads(SAMPLE.read_text())
    moves, _, transition = motion.partition("+")
    theme = {"extends": "midnight", "motion": moves, "transition": transition or "cut"}
    job = parse_job({**raw, "profile": {"width": size[0], "height": size[1], "fps": 30}, "theme": theme})
    clip = next(c for c in plan_video(job).clips if c.spec.kind == "question")
    assert clip.theme is not None
    for sub in ("text", "segments"):
        (work / sub).mkdir(parents=True)
    started = time.process_time()
    commands = build_clip_commands(
        clip.spec, job.profile, clip.frames, inputs=ClipInputs(), fonts=theme_fonts(clip.theme, fonts),
        video_args=video_args("libx264", job.profile), text_dir=work / "text",
        segments=Segments(work / "segments", segment_frames(job.profile, 2.0)), audio_out=None,
        look=Look(clip.theme, clip.number, clip.total),
    )  # fmt: skip
    for path, text in commands.text_files.items():
        path.write_text(text, encoding="utf-8")
    for path, image in commands.images.items():
        write_picture(path, image)  # as the render activity writes them
    drawing = time.process_time() - started
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(commands.video, check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return drawing, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", action="append", type=parse_size, help="WxH; repeatable")
    parser.add_argument("--repeat", default=3, type=int, help="runs of each, the median kept")
    args = parser.parse_args()
    sizes = args.size or [(1080, 1920), (1920, 1080)]
    env = load(RenderEnv)
    fonts = Fonts(Path(env.render.font), Path(env.render.font_bold))
    print(machine())
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for w, h in sizes:
            runs: dict[str, list[tuple[float, float]]] = {m: [] for m in MOTIONS}
            for r in range(args.repeat):
                for motion in MOTIONS:  # interleaved, so load drifts touch every motion alike
                    runs[motion].append(question_seconds(Path(tmp) / f"{w}x{h}-{motion}-{r}", (w, h), motion, fonts))
            total = {m: median([d + c for d, c in runs[m]]) for m in MOTIONS}
            rows: list[list[object]] = []
            for motion in MOTIONS:
                ratio = total[motion] / total["none"]
                worst = max(worst, ratio)
                draw, cpu = median([d for d, _ in runs[motion]]), median([c for _, c in runs[motion]])
                rows.append([motion, f"{draw:.2f}", f"{cpu:.2f}", f"{total[motion]:.2f}", f"{ratio:.2f}"])
            print(f"\n{w}x{h}, the sample's first question, median of {args.repeat}")
            print(table(rows, ["motion", "draw+write CPU s", "ffmpeg CPU s", "sum s", "x none"]))
    print(f"\nworst motion ÷ none: {worst:.2f} ({verdict(worst, GOAL, at_most=True)})")


if __name__ == "__main__":
    main()
