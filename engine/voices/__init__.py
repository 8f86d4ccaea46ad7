"""The speech engines, a registry keyed by the name a job, a channel or RENDER_TTS gives (`TTS_ENGINES`).

Each engine's module registers itself: its name, the section of `engine.settings.SpeechSettings` that configures
it (`settings.speech.<name>`), and `make`, which builds the engine (its `synthesize` writes the speech) from that
section and the shared speech settings. `engine.tts` imports the modules and resolves `auto` and `none` itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.settings import Section, SpeechSettings

if TYPE_CHECKING:  # engine.tts imports the engines' modules, which import this one
    from engine.tts import TtsEngine


@dataclass(frozen=True)
class SpeechEngine:
    name: str
    """As RENDER_TTS, RENDER_TTS_CHANNELS and a job's `tts_engine` name it."""
    settings: type[Section]
    """Its section of the speech settings, `settings.speech.<name>`."""
    make: Callable[[Any, SpeechSettings], TtsEngine]
    """The engine, from its section and the shared speech settings (timeouts, attempts)."""
    needs_settings: bool = False
    """A cloud engine: building it without the worker's settings is a mistake, not a default."""

    def section(self, speech: SpeechSettings) -> Section:
        """Its own settings out of the speech settings."""
        own = getattr(speech, self.name)
        if not isinstance(own, self.settings):
            raise TypeError(f"settings.speech.{self.name} is not {self.settings.__name__}")
        return own


class SilentTts:
    """`none`, and what `auto` or `espeak` fall back to without espeak-ng: clips without speech."""

    name = "none"

    async def synthesize(self, text: str, voice: str, speed: float, out: Path) -> bool:
        return False


ENGINES: dict[str, SpeechEngine] = {}
"""Every registered engine by name."""


def register(engine: SpeechEngine) -> SpeechEngine:
    """Add an engine; a name registered twice is a mistake."""
    if engine.name in ENGINES:
        raise ValueError(f"speech engine {engine.name!r} is registered twice")
    ENGINES[engine.name] = engine
    return engine
