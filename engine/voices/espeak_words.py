"""When espeak-ng speaks each word: its own word events, read through libespeak-ng (the library its CLI uses).

The CLI writes the take; the library, given the same text, voice and rate, synthesizes it again in memory
(milliseconds for a line) and reports each word's place in the text and its start in the audio. The two
agree because they are one engine: `tests/test_word_timing.py` checks the first word against the take's
first audible sample. Word times let captions mark the spoken word; without the library, there are none.
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass

LIBRARY = "libespeak-ng.so.1"
AUDIO_OUTPUT_SYNCHRONOUS = 2
EVENT_LIST_TERMINATED, EVENT_WORD = 0, 1
RATE_PARAMETER = 1
POS_CHARACTER = 1
CHARS_UTF8 = 1
EE_OK = 0

_lock = threading.Lock()
"""The library keeps one global synthesizer: one line at a time in this process."""


@dataclass(frozen=True)
class WordTime:
    start: int
    """Its first character in the text spoken (0-based, in characters)."""
    length: int
    """Its length in characters."""
    ms: int
    """When it starts in the take, in milliseconds."""


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_void_p),
    ]


_Callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


class _Engine:
    def __init__(self) -> None:
        self.lib = ctypes.CDLL(LIBRARY)
        self.events: list[WordTime] = []
        self._callback = _Callback(self._collect)  # kept: the library calls it for the process's life
        if self.lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, None, 0) <= 0:
            raise OSError("espeak-ng did not initialize")
        self.lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, _wav: object, _samples: int, events: ctypes.Array[_Event]) -> int:
        i = 0
        while events[i].type != EVENT_LIST_TERMINATED:
            event = events[i]
            if event.type == EVENT_WORD:
                self.events.append(WordTime(event.text_position - 1, event.length, event.audio_position))
            i += 1
        return 0

    def speaks(self, voices: list[str]) -> bool:
        return any(self.lib.espeak_SetVoiceByName(voice.encode()) == EE_OK for voice in voices)

    def words(self, text: str, voices: list[str], wpm: int) -> list[WordTime]:
        for voice in voices:  # the CLI's choice: the first voice the engine has
            if self.lib.espeak_SetVoiceByName(voice.encode()) == EE_OK:
                break
        else:
            return []
        self.lib.espeak_SetParameter(RATE_PARAMETER, wpm, 0)
        data = text.encode() + b"\0"
        self.events = []
        if self.lib.espeak_Synth(data, len(data), 0, POS_CHARACTER, 0, CHARS_UTF8, None, None) != EE_OK:
            return []
        return self.events


_engine: _Engine | None = None
_unavailable = False


def _loaded() -> _Engine | None:
    """The process's one synthesizer (under `_lock`); None when the library is missing or fails to start."""
    global _engine, _unavailable
    if _engine is None and not _unavailable:
        try:
            _engine = _Engine()
        except OSError:
            _unavailable = True
    return _engine


def word_times(text: str, voices: list[str], wpm: int) -> list[WordTime]:
    """Each word's place in `text` and its start in the take espeak-ng makes of it; [] when unknown.

    Blocking (a few milliseconds a line): call it in a thread.
    """
    with _lock:
        engine = _loaded()
        return list(engine.words(text, voices, wpm)) if engine else []


def espeak_speaks(voices: list[str]) -> bool | None:
    """Whether espeak-ng has one of `voices` (the CLI's candidates for a voice name); None when it cannot tell."""
    with _lock:
        engine = _loaded()
        return engine.speaks(voices) if engine else None
