"""espeak-ng on the worker: offline speech through its CLI, and each word's start through its library
(engine.voices.espeak_words). Without espeak-ng installed, narration is silent."""

from __future__ import annotations

import shutil
from pathlib import Path

import structlog

from contracts.languages import LANGUAGE_ALIASES
from engine.media.process import run_tool
from engine.settings import EspeakSettings, SpeechSettings
from engine.threads import in_thread
from engine.voices import SilentTts, SpeechEngine, register
from engine.voices.espeak_words import WordTime, word_times

log = structlog.get_logger(__name__)
ESPEAK_BASE_WPM = 175


def espeak_voices(voice: str) -> list[str]:
    """'en-US-Neural2-F' (a cloud voice name) → ['en-us', 'en']: the nearest local voices; last, the language
    the tag names where espeak-ng knows it by another code ('jpn' → 'ja', 'iw-IL' → 'he', 'nn' → 'no')."""
    parts = voice.lower().split("-")
    return list(dict.fromkeys(["-".join(parts[:2]), parts[0], LANGUAGE_ALIASES.get(parts[0], parts[0])]))


class EspeakTts:
    name = "espeak-ng"

    def __init__(self, binary: str) -> None:
        self.binary = binary

    async def synthesize(self, text: str, voice: str, speed: float, out: Path) -> bool:
        wpm = str(round(ESPEAK_BASE_WPM * speed))
        for candidate in espeak_voices(voice):
            # Text goes in on stdin: never parsed as options, never through a shell.
            code, _, _ = await run_tool(
                self.binary, "-v", candidate, "-s", wpm, "-w", str(out), "--stdin", stdin=text.encode()
            )
            if code == 0 and out.exists() and out.stat().st_size > 44:
                return True
        log.warning("tts voice unavailable, clip will be silent", voice=voice, engine=self.name)
        return False

    async def words(self, text: str, voice: str, speed: float) -> list[WordTime]:
        """Each word's start in the take `synthesize` makes of the same text, voice and speed."""
        return await in_thread(word_times, text, espeak_voices(voice), round(ESPEAK_BASE_WPM * speed))


def make(settings: EspeakSettings, speech: SpeechSettings) -> EspeakTts | SilentTts:
    """espeak-ng where installed, else silence (with a warning: the worker was asked for espeak)."""
    binary = shutil.which("espeak-ng")
    if binary:
        return EspeakTts(binary)
    log.warning("RENDER_TTS=espeak but espeak-ng is not installed; narration will be silent")
    return SilentTts()


ENGINE = register(SpeechEngine("espeak", EspeakSettings, make))
