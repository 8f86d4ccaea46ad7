"""Small frames of every built-in theme in every frame shape, rendered by the real clip graph (ffmpeg).

`scripts/frames` writes them to docs/frames/, where docs/job-format.md shows them; `scripts/frames --zones`
draws the short-video players' interface zones over them (`-zones.jpg`), to check a layout by eye.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from contracts.job import parse_job
from contracts.plan import PlannedClip, plan_video
from contracts.themes import BUILTIN_THEMES
from engine.media.encoder import video_args
from engine.media.graphs import ClipInputs, Segments, build_clip_commands
from engine.media.images import write_picture
from engine.media.layers import Fonts
from engine.media.themed import theme_fonts
from engine.media.themed_graph import Look
from engine.media.zones import zones
from runtime.settings import RenderEnv, load

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "trivia-sample.json"
SHAPES = {"16x9": (1920, 1080), "9x16": (1080, 1920), "1x1": (1080, 1080), "4x5": (1080, 1350)}
WIDTH = 320
FPS = 5
AT_SECONDS = 2.0
"""When the question's frame is taken: its ring and bar part way down."""


def zones_filter(width: int, height: int) -> str:
    """ffmpeg boxes (translucent red, outlined) over every platform zone: the `--zones` debug overlay."""
    boxes = [
        f"drawbox=x={x}:y={y}:w={right - x}:h={bottom - y}:color=red@0.25:t=fill,"
        f"drawbox=x={x}:y={y}:w={right - x}:h={bottom - y}:color=red@0.9:t={max(2, width // 270)}"
        for _, (x, y, right, bottom) in zones(width, height)
    ]
    return ",".join(boxes) + "," if boxes else ""


def render_frame(
    clip: PlannedClip, width: int, height: int, fonts: Fonts, out: Path, at: float, show_zones: bool = False
) -> None:
    """Render the clip's first seconds with libx264 and keep one frame, `WIDTH` pixels wide, as JPEG; with
    `show_zones`, the platforms' interface zones drawn over it."""
    job_profile = parse_job({"video_id": "f", "profile": {"width": width, "height": height, "fps": FPS},
                             "clips": [{"kind": "card", "duration": 1}]}).profile  # fmt: skip
    assert clip.theme is not None
    frames = round((at + 1 / FPS) * FPS)
    whole = clip.frames  # where a theme's exit and fade are; only `frames` encoded
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "segments").mkdir()
        commands = build_clip_commands(
            clip.spec, job_profile, max(frames, whole), inputs=ClipInputs(), fonts=fonts,
            video_args=[*video_args("libx264", job_profile), "-frames:v", str(frames)], text_dir=work,
            segments=Segments(work / "segments", max(frames, whole)), audio_out=work / "audio.wav",
            look=Look(clip.theme, clip.number, clip.total),
        )  # fmt: skip
        for path, text in commands.text_files.items():
            path.write_text(text, encoding="utf-8")
        for path, image in commands.images.items():
            write_picture(path, image)
        subprocess.run(commands.video, check=True, capture_output=True)
        matrix = "bt709" if height >= 720 else "bt601"
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-ss", f"{at}", "-i", str(work / "segments" / "00000.mov"),
             "-frames:v", "1", "-vf",
             f"scale=in_color_matrix={matrix}:in_range=tv,format=rgb24,"
             f"{zones_filter(width, height) if show_zones else ''}scale={WIDTH}:-2:flags=lanczos",
             "-q:v", "3", str(out)],
            check=True, capture_output=True,
        )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    show_zones = "--zones" in args
    args = [a for a in args if a != "--zones"]
    out = Path((args or [str(ROOT / "docs" / "frames")])[0])
    out.mkdir(parents=True, exist_ok=True)
    env = load(RenderEnv)
    worker = Fonts(Path(env.font), Path(env.font_bold))
    raw = json.loads(SAMPLE.read_text())
    raw.pop("theme", None)  # the job's own theme would win over each built-in in turn
    for shape, (width, height) in SHAPES.items():
        raw["profile"] = {"width": width, "height": height, "fps": FPS}
        job = parse_job(raw)
        for name, theme in BUILTIN_THEMES.items():
            question, reveal = plan_video(job, theme).clips[2:4]  # the second question: "2/3"
            fonts = theme_fonts(theme, worker)
            for clip, at in ((question, AT_SECONDS), (reveal, 0.4)):
                path = out / f"{name}-{shape}-{clip.spec.kind}{'-zones' if show_zones else ''}.jpg"
                render_frame(clip, width, height, fonts, path, at, show_zones)
                print(
                    f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {path.stat().st_size // 1024} KB"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
