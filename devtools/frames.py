"""Small frames of every built-in theme in every frame shape, rendered by the real clip graph (ffmpeg).

`scripts/frames` writes them to docs/frames/, where docs/job-format.md shows them: a question, its reveal, and
the same question with a picture (`-picture.jpg`, a planet drawn here, so the repository holds no photo);
`scripts/frames --zones` draws the short-video players' interface zones over them (`-zones.jpg`), to check a
layout by eye.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFilter

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


def planet(path: Path) -> Path:
    """A banded gas giant with a red spot on a starry sky, 800x600, as PNG at `path`: the question's picture
    (the sample's second question asks which planet has the shortest day; Jupiter). Drawn the same every time."""
    scale, (w, h) = 2, (800, 600)
    sky = Image.new("RGB", (w * scale, h * scale), (8, 10, 24))
    draw = ImageDraw.Draw(sky)
    stars = random.Random(5)
    for _ in range(140):
        x, y, r = stars.randrange(w * scale), stars.randrange(h * scale), stars.choice((1, 1, 2, 3))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(200 + stars.randrange(56),) * 3)
    cx, cy, radius = w * scale // 2, h * scale // 2, round(h * scale * 0.4)
    disc = Image.new("RGB", (2 * radius, 2 * radius))
    bands = ImageDraw.Draw(disc)
    colours = [(222, 200, 168), (176, 124, 84), (236, 222, 196), (160, 104, 70), (214, 182, 140), (190, 146, 104)]
    band = 2 * radius // 13
    for i in range(14):
        bands.rectangle((0, i * band, 2 * radius, (i + 1) * band), fill=colours[i % len(colours)])
    disc = disc.filter(ImageFilter.GaussianBlur(band / 5))
    ImageDraw.Draw(disc).ellipse(
        (round(radius * 1.15), round(radius * 1.2), round(radius * 1.55), round(radius * 1.42)), fill=(190, 86, 58)
    )
    shade = Image.radial_gradient("L").resize(disc.size).point(lambda v: 255 - v * 3 // 5)
    shaded = Image.composite(disc, Image.new("RGB", disc.size), shade)
    mask = Image.new("L", disc.size)
    ImageDraw.Draw(mask).ellipse((0, 0, 2 * radius - 1, 2 * radius - 1), fill=255)
    sky.paste(shaded, (cx - radius, cy - radius), mask)
    sky.resize((w, h), Image.Resampling.LANCZOS).save(path, "PNG")
    return path


def render_frame(
    clip: PlannedClip,
    width: int,
    height: int,
    fonts: Fonts,
    out: Path,
    at: float,
    show_zones: bool = False,
    picture: Path | None = None,
) -> None:
    """Render the clip's first seconds with libx264 and keep one frame, `WIDTH` pixels wide, as JPEG; with
    `show_zones`, the platforms' interface zones drawn over it; `picture`: the question's picture, fetched."""
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
            look=Look(clip.theme, clip.number, clip.total, picture=picture),
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
    worker = Fonts(env.render.font, env.render.font_bold)
    raw = json.loads(SAMPLE.read_text())
    raw.pop("theme", None)  # the job's own theme would win over each built-in in turn
    with tempfile.TemporaryDirectory() as tmp:
        picture = planet(Path(tmp) / "planet.png")
        illustrated: dict[str, Any] = {**raw, "questions": list(raw["questions"])}
        illustrated["questions"][1] = {**raw["questions"][1], "image": picture.as_uri()}
        for shape, (width, height) in SHAPES.items():
            profile = {"width": width, "height": height, "fps": FPS}
            job, with_picture = (parse_job({**r, "profile": profile}) for r in (raw, illustrated))
            for name, theme in BUILTIN_THEMES.items():
                question, reveal = plan_video(job, theme).clips[2:4]  # the second question: "2/3"
                fonts = theme_fonts(theme, worker)
                shown: list[tuple[PlannedClip, float, str, Path | None]] = [
                    (question, AT_SECONDS, "question", None),
                    (reveal, 0.4, "reveal", None),
                ]
                shown.append((plan_video(with_picture, theme).clips[2], AT_SECONDS, "picture", picture))
                for clip, at, suffix, drawn in shown:
                    path = out / f"{name}-{shape}-{suffix}{'-zones' if show_zones else ''}.jpg"
                    render_frame(clip, width, height, fonts, path, at, show_zones, drawn)
                    shown_path = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
                    print(f"{shown_path}: {path.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
