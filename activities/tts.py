"""Voice-over behind a small interface: espeak-ng locally, silence when none is installed.

A cloud TTS engine plugs in by implementing `TtsEngine.synthesize`.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Protocol

import structlog

from activities.media.process import run_tool

log = structlog.get_logger(__name__)
ESPEAK_BASE_WPM = 175


class TtsEngine(Protocol):
    name: str

    async def synthesize(self, text: str, voice: str, speed: float, out: Path) -> bool:
        """Write speech to `out` (WAV); False when this engine cannot speak it."""
        ...


class SilentTts:
    name = "none"

    async def synthesize(self, text: str, voice: str, speed: float, out: Path) -> bool:
        return False


def espeak_voices(voice: str) -> list[str]:
    """'en-US-Neural2-F' (a cloud voice name) → ['en-us', 'en']: the nearest local voices."""
    parts = voice.lower().split("-")
    return list(dict.fromkeys(["-".join(parts[:2]), parts[0]]))


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


def make_tts(choice: str) -> TtsEngine:
    binary = shutil.which("espeak-ng")
    if choice in ("auto", "espeak") and binary:
        return EspeakTts(binary)
    if choice == "espeak":
        log.warning("RENDER_TTS=espeak but espeak-ng is not installed; narration will be silent")
    elif choice == "auto":
        log.info("espeak-ng not installed; narration will be silent (apt-get install espeak-ng)")
    return SilentTts()
