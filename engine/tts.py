"""Voice-over behind a small interface: espeak-ng locally, Amazon Polly, Google Cloud TTS, or silence.

An engine implements `TtsEngine.synthesize` and registers itself in `engine.voices.ENGINES` (its module:
engine/voices/<name>.py); `make_tts` builds one by name, resolving `auto` (espeak-ng when installed, else
silence) and `none` (silence) itself, and `Voices` picks one per clip: the job's `tts_engine`, else its
channel's (RENDER_TTS_CHANNELS), else this worker's (RENDER_TTS).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Protocol, runtime_checkable

import structlog

from engine.settings import Settings, SpeechSettings
from engine.voices import ENGINES, SilentTts
from engine.voices import espeak as espeak  # each engine's module registers it in ENGINES
from engine.voices import google as google
from engine.voices import polly as polly
from engine.voices.espeak import ESPEAK_BASE_WPM, EspeakTts, espeak_voices
from engine.voices.espeak_words import WordTime

__all__ = [
    "ESPEAK_BASE_WPM",
    "EspeakTts",
    "SilentTts",
    "TimesWords",
    "TtsEngine",
    "Voices",
    "espeak_voices",
    "make_tts",
]

log = structlog.get_logger(__name__)


class TtsEngine(Protocol):
    name: str

    async def synthesize(self, text: str, voice: str, speed: float, out: Path) -> bool:
        """Write speech to `out` (WAV); False when this engine cannot speak it."""
        ...


@runtime_checkable
class TimesWords(Protocol):
    """An engine that says when it speaks each word (for captions that mark the spoken word)."""

    async def words(self, text: str, voice: str, speed: float) -> list[WordTime]: ...


def make_tts(choice: str, settings: Settings | None = None) -> TtsEngine:
    """The engine named `choice` (RENDER_TTS's values); a registered engine reads its own section of `settings`."""
    if choice == "auto":
        binary = shutil.which("espeak-ng")
        if binary:
            return EspeakTts(binary)
        log.info("espeak-ng not installed; narration will be silent (apt-get install espeak-ng)")
        return SilentTts()
    engine = ENGINES.get(choice)
    if engine is None:  # `none`
        return SilentTts()
    if settings is None and engine.needs_settings:
        raise ValueError(f"the {choice} speech engine needs the worker's settings")
    speech = settings.speech if settings is not None else SpeechSettings()
    return engine.make(engine.section(speech), speech)


class Voices:
    """The engine for each clip, built once per name and shared by every render on this worker."""

    def __init__(self, settings: Settings, default: TtsEngine | None = None) -> None:
        self.settings = settings
        self._engines: dict[str, TtsEngine] = {}
        self.default = default or self.engine(settings.speech.engine)

    def engine(self, choice: str) -> TtsEngine:
        if choice not in self._engines:
            self._engines[choice] = make_tts(choice, self.settings)
        return self._engines[choice]

    def choose(self, engine: str | None, channel: str) -> TtsEngine:
        """The job's engine, else the channel's, else this worker's default."""
        choice = engine or self.settings.speech.channels.get(channel)
        return self.engine(choice) if choice else self.default
