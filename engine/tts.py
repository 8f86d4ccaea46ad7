"""Voice-over behind a small interface: espeak-ng locally, Amazon Polly, Google Cloud TTS, or silence.

An engine implements `TtsEngine.synthesize`; `make_tts` builds one by name and
`Voices` picks one per clip: the job's `tts_engine`, else its channel's
(RENDER_TTS_CHANNELS), else this worker's (RENDER_TTS).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Protocol, runtime_checkable

import structlog

from contracts.languages import LANGUAGE_ALIASES
from engine.media.process import run_tool
from engine.settings import Settings
from engine.threads import in_thread
from engine.voices.espeak_words import WordTime, word_times
from engine.voices.google import GoogleTts
from engine.voices.polly import PollyTts

log = structlog.get_logger(__name__)
ESPEAK_BASE_WPM = 175


class TtsEngine(Protocol):
    name: str

    async def synthesize(self, text: str, voice: str, speed: float, out: Path) -> bool:
        """Write speech to `out` (WAV); False when this engine cannot speak it."""
        ...


@runtime_checkable
class TimesWords(Protocol):
    """An engine that says when it speaks each word (for captions that mark the spoken word)."""

    async def words(self, text: str, voice: str, speed: float) -> list[WordTime]: ...


class SilentTts:
    name = "none"

    async def synthesize(self, text: str, voice: str, speed: float, out: Path) -> bool:
        return False


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


def make_tts(choice: str, settings: Settings | None = None) -> TtsEngine:
    """The engine named `choice` (RENDER_TTS's values); cloud engines read theirs from `settings`."""
    if choice in ("polly", "google"):
        if settings is None:
            raise ValueError(f"the {choice} speech engine needs the worker's settings")
        return cloud_tts(choice, settings)
    binary = shutil.which("espeak-ng")
    if choice in ("auto", "espeak") and binary:
        return EspeakTts(binary)
    if choice == "espeak":
        log.warning("RENDER_TTS=espeak but espeak-ng is not installed; narration will be silent")
    elif choice == "auto":
        log.info("espeak-ng not installed; narration will be silent (apt-get install espeak-ng)")
    return SilentTts()


def cloud_tts(choice: str, given: Settings) -> TtsEngine:
    timeout, attempts = given.tts_timeout_seconds, given.tts_attempts
    if choice == "polly":
        return PollyTts(
            endpoint_url=given.polly_endpoint_url,
            region=given.polly_region,
            engine=given.polly_engine,
            timeout=timeout,
            attempts=attempts,
        )
    return GoogleTts(
        url=given.google_tts_url,
        api_key=given.google_tts_api_key,
        token=given.google_tts_token,
        timeout=timeout,
        attempts=attempts,
    )


class Voices:
    """The engine for each clip, built once per name and shared by every render on this worker."""

    def __init__(self, settings: Settings, default: TtsEngine | None = None) -> None:
        self.settings = settings
        self._engines: dict[str, TtsEngine] = {}
        self.default = default or self.engine(settings.tts)

    def engine(self, choice: str) -> TtsEngine:
        if choice not in self._engines:
            self._engines[choice] = make_tts(choice, self.settings)
        return self._engines[choice]

    def choose(self, engine: str | None, channel: str) -> TtsEngine:
        """The job's engine, else the channel's, else this worker's default."""
        choice = engine or self.settings.tts_channels.get(channel)
        return self.engine(choice) if choice else self.default
