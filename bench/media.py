"""Media-clip benchmark: what seeking saves a resumed video asset, and what a smooth Ken Burns costs.

Resume: a video asset clip's picture (the real filter graph, encoded to nothing) from a
resume point to its end, decoding from the asset's start vs seeking to just before the
point; printed as the seek's CPU ÷ decoding from the start, and whether the frames are
identical (framemd5 of every frame).

Ken Burns: a white square zoomed and panned across the frame by `zoompan`, the image at 1x
in 4:2:0 (plain zoompan) vs oversampled in planar RGB as the service does; printed: CPU per
frame, backward steps of the square and its jitter (rms of the frame-to-frame motion
around a smooth fit), in output pixels.

    .venv/bin/python bench/media.py [--size 1920x1080] [--seconds 60]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from bench.jobs import parse_size
from bench.report import table
from contracts.job import ClipSpec, Profile
from engine.media import ffgraph as ffmpeg
from engine.media.sources import VideoAsset, ken_burns_stream, oversample, video_asset_stream, zoompan_options

FPS = 30


def cpu_of(command: list[str]) -> tuple[float, bytes]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([command[0], "-v", "error", "-y", *command[1:]], check=True, capture_output=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, out


def resume_rows(work: Path, profile: Profile, seconds: int) -> list[list[object]]:
    asset = work / "asset.mp4"
    size = f"{profile.width}x{profile.height}"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=s={size}:r=25:d={seconds + 3}",
                    "-c:v", "libx264", "-preset", "ultrafast", "-g", "50", str(asset)], check=True)  # fmt: skip
    spec = ClipSpec(kind="video", duration=float(seconds), video="bench", trim_in=2.0)
    frames = seconds * FPS
    rows: list[list[object]] = []
    for share in (0.1, 0.5, 0.9):
        first = int(frames * share) // 60 * 60
        runs = {}
        for name, form in (("start", "mpegts"), ("seek", "mov,mp4")):
            source = VideoAsset(asset, form, seconds + 3.0)
            picture = video_asset_stream(spec, profile, source, first).trim(start_frame=first, end_frame=frames)
            command = ffmpeg.output(picture.setpts("PTS-STARTPTS"), "-", f="framemd5").compile()
            runs[name] = cpu_of(command)
        same = _frames(runs["start"][1], frames - first) == _frames(runs["seek"][1], frames - first)
        start, seek = runs["start"][0], runs["seek"][0]
        rows.append([f"{share:.0%}", f"{start:.2f}", f"{seek:.2f}", f"{seek / start:.2f}", "yes" if same else "NO"])
    return rows


def _frames(framemd5: bytes, count: int) -> list[bytes]:
    """The last `count` frame lines of a framemd5 listing (pts, size and checksum of each)."""
    return [line for line in framemd5.splitlines() if not line.startswith(b"#")][-count:]


def ken_burns_rows(work: Path, profile: Profile) -> list[list[object]]:
    w, h = profile.width, profile.height
    image = work / "square.png"
    box = f"drawbox=x={w * 2 - w // 5}:y={h * 2 - w // 5}:w={w * 2 // 5}:h={w * 2 // 5}:c=white:t=fill"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"color=c=0x202020:s={w * 4}x{h * 4}",
                    "-vf", box, "-frames:v", "1", str(image)], check=True)  # fmt: skip
    frames = 5 * FPS
    spec = ClipSpec(kind="image", duration=5.0, image="bench", zoom=(1.0, 1.15), pan="left")
    service = ken_burns_stream(spec, profile, image, frames)
    plain = ffmpeg.input(str(image)).video.filter("scale", w, h).filter("format", "yuv420p")
    plain = plain.filter("zoompan", **zoompan_options(spec, profile, frames)).filter("setsar", 1)
    rows: list[list[object]] = []
    for name, stream in ((f"oversampled {oversample(profile)}x, RGB (service)", service), ("plain zoompan", plain)):
        command = ffmpeg.output(stream, "-", f="rawvideo", pix_fmt="gray").compile()
        cpu, raw = cpu_of(command)
        luma = np.frombuffer(raw, np.uint8).reshape(-1, h, w).astype(np.float64)
        weight = np.clip(luma - 32, 0, None)
        centres = (weight.sum(axis=1) @ np.arange(w)) / weight.sum(axis=(1, 2))
        steps = np.diff(centres)
        smooth = np.polyval(np.polyfit(np.arange(len(steps)), steps, 2), np.arange(len(steps)))
        jitter = float(np.sqrt(np.mean((steps - smooth) ** 2)))
        rows.append([name, f"{cpu / frames * 1000:.1f}", int((steps < 0).sum()), f"{jitter:.3f}"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=parse_size, default=(1920, 1080))
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()
    profile = Profile(args.size[0], args.size[1], FPS)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print(f"Video asset resumed, {args.size[0]}x{args.size[1]}, {args.seconds} s clip (CPU seconds of the picture)")
        header = ["resumed at", "decode from start", "seek", "seek ÷ start", "same frames"]
        print(table(resume_rows(work, profile, args.seconds), header))
        print(f"\nKen Burns, {args.size[0]}x{args.size[1]}, 5 s, zoom 1.0 → 1.15, pan left")
        header = ["way", "CPU ms/frame", "backward steps", "jitter rms px"]
        print(table(ken_burns_rows(work, profile), header))


if __name__ == "__main__":
    main()
