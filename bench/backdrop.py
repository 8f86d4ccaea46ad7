"""Theme background benchmark: what a looping video background costs a card, and what a resume redoes.

A themed card's picture (the real filter graph, written as framemd5, no encoder) on the theme's
gradient vs on a looping video asset; then the video card resumed at 10 %, 50 % and 90 % of the
clip. Printed: CPU of the video card ÷ the gradient card, and of each resume ÷ the whole card,
and whether the resumed frames are identical to the uninterrupted render's (md5 of every frame).

    .venv/bin/python bench/backdrop.py [--size 1920x1080] [--seconds 20] [--loop 3.2]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image

from bench.jobs import parse_size
from bench.media import cpu_of
from bench.report import table
from contracts.job import ClipSpec, Profile
from contracts.themes import BUILTIN_THEMES, Background
from engine.deps import Deps
from engine.media import ffgraph as ffmpeg
from engine.media.graphs import colour_matrix, countdown_list
from engine.media.images import write_picture
from engine.media.layers import Fonts
from engine.media.themed import theme_fonts
from engine.media.themed_graph import Look, themed_video
from engine.media_assets import fetch_loop_video
from engine.settings import Settings, StorageSettings, file_uri
from runtime.settings import RenderEnv, load

FPS = 30


def card_frames(
    work: Path, profile: Profile, look: Look, frames: int, first: int, fonts: Fonts
) -> tuple[float, list[str]]:
    """CPU seconds and per-frame md5s of the card's picture from frame `first` to its end."""
    text = work / f"text-{first}-{look.video is not None}"
    text.mkdir()
    spec = ClipSpec(kind="card", duration=frames / FPS, lines=("Thanks for playing!", "New quiz every day"))
    images: dict[Path, Image.Image] = {}
    files: dict[Path, str] = {}
    video = themed_video(
        spec, profile, fonts, look, text, colour_matrix(profile), images, files, countdown_list, first_frame=first
    )
    for path, image in images.items():
        write_picture(path, image)
    picture = video.trim(start_frame=first, end_frame=frames).setpts("PTS-STARTPTS")
    seconds, out = cpu_of(ffmpeg.output(picture, "-", f="framemd5").compile())
    return seconds, [line.split(",")[-1].strip() for line in out.decode().splitlines() if not line.startswith("#")]


async def rows(work: Path, profile: Profile, seconds: int, loop: float) -> list[list[object]]:
    assets = work / "assets"
    assets.mkdir()
    asset = assets / "loop.mp4"
    size = f"{profile.width}x{profile.height}"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=s={size}:r=25:d={loop}",
                    "-c:v", "libx264", "-preset", "ultrafast", "-g", "50", str(asset)], check=True)  # fmt: skip
    for sub in ("work", "output", "scratch"):
        (work / sub).mkdir()
    storage = StorageSettings(work_uri=file_uri(work / "work"), output_roots=(file_uri(work / "output"),),
                              asset_roots=(file_uri(assets),), scratch_dir=work / "scratch")  # fmt: skip
    settings = Settings(storage=storage)
    looping = await fetch_loop_video(Deps.from_settings(settings), file_uri(asset), work / "fetched")
    env = load(RenderEnv)
    theme = BUILTIN_THEMES["midnight"]
    fonts = theme_fonts(theme, Fonts(env.render.font, env.render.font_bold))
    frames = seconds * FPS
    still, _ = card_frames(work, profile, Look(theme), frames, 0, fonts)
    moving_theme = replace(theme, background=Background(video=file_uri(asset)))
    moving = Look(moving_theme, video=looping)
    whole, md5s = card_frames(work, profile, moving, frames, 0, fonts)
    out: list[list[object]] = [
        ["gradient card", f"{still:.2f}", "1.00", "-"],
        ["video background card", f"{whole:.2f}", f"{whole / still:.2f} x gradient", "-"],
    ]
    for share in (0.1, 0.5, 0.9):
        first = int(frames * share) // 60 * 60
        cpu, resumed = card_frames(work, profile, moving, frames, first, fonts)
        same = "identical" if resumed == md5s[first:] else "DIFFERENT"
        out.append([f"resumed at {share:.0%} (frame {first})", f"{cpu:.2f}", f"{cpu / whole:.2f} x whole", same])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", default="1920x1080", type=parse_size)
    parser.add_argument("--seconds", default=20, type=int)
    parser.add_argument("--loop", default=3.2, type=float, help="the background video's length in seconds")
    args = parser.parse_args()
    width, height = args.size
    with tempfile.TemporaryDirectory() as tmp:
        found = asyncio.run(rows(Path(tmp), Profile(width, height, FPS), args.seconds, args.loop))
    print(f"{width}x{height}, {args.seconds} s card at {FPS} fps, {args.loop:g} s background loop at 25 fps")
    print(table(found, ["picture", "CPU s", "ratio", "frames"]))


if __name__ == "__main__":
    main()
