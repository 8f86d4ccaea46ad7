"""Test helpers that read real media back: stream facts, decoded audio, decoded frames."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np


def streams(path: Path) -> dict[str, dict[str, Any]]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-show_streams", "-of", "json", str(path)],
        check=True,
        capture_output=True,
    ).stdout
    return {s["codec_type"]: s for s in json.loads(out)["streams"]}


def audio_samples(path: Path, rate: int = 48_000) -> np.ndarray:
    """Decoded mono audio as float samples in [-1, 1]."""
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:a:0", "-ac", "1", "-ar", str(rate), "-f", "s16le", "-"],
        check=True,
        capture_output=True,
    ).stdout
    return np.frombuffer(raw, dtype=np.int16).astype(np.float32) / 32768.0


def onsets(samples: np.ndarray, rate: int = 48_000, threshold: float = 0.05, gap_s: float = 0.3) -> list[float]:
    """Times where sound starts after at least `gap_s` of quiet."""
    loud = np.flatnonzero(np.abs(samples) > threshold)
    found: list[float] = []
    last = -1e9
    for i in loud:
        t = i / rate
        if t - last > gap_s:
            found.append(t)
        last = t
    return found


def frame(path: Path, seconds: float, width: int, height: int) -> np.ndarray:
    raw = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-ss",
            f"{seconds}",
            "-i",
            str(path),
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "gray",
            "-",
        ],
        check=True,
        capture_output=True,
    ).stdout
    return np.frombuffer(raw, dtype=np.uint8).reshape(height, width)


def rgb_frame(path: Path, seconds: float, width: int, height: int, matrix: str) -> np.ndarray:
    """A decoded frame as RGB, converted the way a player that assumes `matrix` (bt709, bt601) would."""
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-ss", f"{seconds}", "-i", str(path), "-frames:v", "1",
         "-vf", f"scale=in_color_matrix={matrix}:in_range=tv:out_range=pc", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        check=True,
        capture_output=True,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3)
