"""Word timing from espeak-ng's own word events: each word starts where the take's speech is heard, and a
WebVTT cue marks each word so players can highlight the one being spoken."""

from __future__ import annotations

import re
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
import webvtt

from activities.captions import Cue, caption_cues, to_subrip, to_webvtt
from contracts.job import AUDIO_RATE, parse_job
from contracts.plan import plan_video
from engine.tts import ESPEAK_BASE_WPM
from engine.voices.espeak_words import word_times

SENTENCES = "One. Two. Three. Four."
EARLY_MS = 60
"""A word event marks where its phonemes start: a plosive's closure is quiet, so the heard onset comes up to
a few tens of milliseconds later."""


def heard_onsets(wav: Path) -> list[float]:
    """Where sound resumes after a pause (silencedetect, 50 ms of -50 dB)."""
    run = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostats", "-i", str(wav), "-af", "silencedetect=noise=-50dB:d=0.05", "-f",
         "null", "-"], capture_output=True, text=True, check=True,
    )  # fmt: skip
    return [float(m) for m in re.findall(r"silence_end: ([\d.]+)", run.stderr)]


@pytest.mark.parametrize("speed", [1.0, 1.4])
def test_each_word_starts_where_the_take_is_heard(tmp_path: Path, speed: float) -> None:
    wpm = round(ESPEAK_BASE_WPM * speed)
    wav = tmp_path / "take.wav"
    subprocess.run(["espeak-ng", "-v", "en", "-s", str(wpm), "-w", str(wav), SENTENCES], check=True)
    words = word_times(SENTENCES, ["en"], wpm)
    assert [SENTENCES[w.start : w.start + w.length] for w in words] == ["One", "Two", "Three", "Four"]
    onsets = heard_onsets(wav)
    for word in words[1:]:  # each sentence after the first follows a pause
        heard = min(onsets, key=lambda onset: abs(onset - word.ms / 1000))
        assert 0 <= heard * 1000 - word.ms <= EARLY_MS, (word, onsets)


def test_an_unknown_voice_gives_no_times() -> None:
    assert word_times("hello", ["xx-nonexistent"], 175) == []


def test_cues_mark_each_word_after_the_first_and_subrip_keeps_plain_text(tmp_path: Path) -> None:
    card = {"kind": "card", "duration": 2, "lines": ["x"], "narration": "Hello <b>there</b> & you"}
    job = parse_job({"video_id": "v", "profile": {"width": 160, "height": 90, "fps": 30}, "clips": [card]})
    plan = plan_video(job)
    words = ((0, 5, 0), (6, 12, AUDIO_RATE // 4), (19, 1, AUDIO_RATE // 2), (21, 3, 3 * AUDIO_RATE // 4))
    spoken = replace(plan.clips[0], narration_key="n", speech=(0, AUDIO_RATE), words=words)
    fitted = replace(plan, clips=(spoken,))
    cues = caption_cues(fitted)
    assert cues == [Cue(0, 1000, "Hello <b>there</b> & you", ((6, 250), (19, 500), (21, 750)))]
    vtt = tmp_path / "c.vtt"
    vtt.write_text(to_webvtt(cues), encoding="utf-8")
    assert "Hello <00:00:00.250>&lt;b&gt;there&lt;/b&gt; <00:00:00.500>&amp; <00:00:00.750>you" in vtt.read_text()
    (read,) = webvtt.read(str(vtt)).captions
    assert read.text == "Hello &lt;b&gt;there&lt;/b&gt; &amp; you"  # the marks are timing, not text
    assert "00:00:00.250" not in to_subrip(cues)
