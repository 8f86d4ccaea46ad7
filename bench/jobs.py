"""Benchmark jobs in the trivia farm's format, sized by clip count and resolution."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

SAMPLE_JOB = Path(__file__).resolve().parent.parent / "examples" / "trivia-sample.json"
CLIP_SECONDS = 6.0


def parse_size(value: str) -> tuple[int, int]:
    """'1920x1080' → (1920, 1080); even sides only, as the job contract demands."""
    width, sep, height = value.lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        raise ValueError(f"expected WIDTHxHEIGHT, got {value!r}")
    return int(width), int(height)


BENCH_TTS_SPEED = 1.4


def trivia_job(
    video_id: str,
    clips: int,
    *,
    size: tuple[int, int] = (1920, 1080),
    fps: int = 30,
    clip_seconds: float = CLIP_SECONDS,
    max_parallel_clips: int = 8,
) -> dict[str, Any]:
    """`clips` clips of `clip_seconds` each: question/reveal pairs from the sample, a closing card if odd.

    The sample's three questions repeat with a round number, so every clip has
    its own text and spec hash, and nothing is reused between clips.
    """
    sample: dict[str, Any] = json.loads(SAMPLE_JOB.read_text(encoding="utf-8"))
    questions = []
    for n in range(clips // 2):
        question = copy.deepcopy(sample["questions"][n % len(sample["questions"])])
        question["question"] = f"Round {n + 1}: {question['question']}"
        questions.append(question)
    extra = (
        [
            {
                "kind": "card",
                "duration": clip_seconds,
                "background": "navy",
                "lines": ["Thanks for playing!"],
                "narration": "Thanks for playing!",
            }
        ]
        if clips % 2
        else []
    )
    return {
        "video_id": video_id,
        "channel": sample["channel"],
        "tts_voice": sample["tts_voice"],
        # Faster than the sample, so every narration (the longest spells out symbols) fits its
        # 6 s clip: no clip grows, and the plain script, which renders the unfitted plan, makes
        # the same frames.
        "tts_speed": BENCH_TTS_SPEED,
        "profile": {"width": size[0], "height": size[1], "fps": fps, "quality": 23},
        "question_seconds": clip_seconds,
        "reveal_seconds": clip_seconds,
        "questions": questions,
        "total_questions": len(questions),
        "clips": extra,
        "max_parallel_clips": max_parallel_clips,
    }
