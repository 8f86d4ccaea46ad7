"""Speech audio as the WAV files the mixer reads: 16-bit mono PCM, header written by `wave`."""

from __future__ import annotations

import io
import wave
from pathlib import Path

SAMPLE_WIDTH = 2
"""Bytes per sample: both engines are asked for 16-bit signed little-endian PCM."""


def write_pcm_wav(out: Path, pcm: bytes, rate: int) -> int:
    """Wrap raw mono PCM into a WAV at `out`; the number of samples written."""
    frames = len(pcm) // SAMPLE_WIDTH
    with wave.open(str(out), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(SAMPLE_WIDTH)
        wav.setframerate(rate)
        wav.writeframes(pcm[: frames * SAMPLE_WIDTH])
    return frames


def write_linear16(out: Path, audio: bytes, rate: int) -> int:
    """LINEAR16 as an engine returned it: a whole WAV (checked, rewritten) or bare PCM at `rate`."""
    if audio[:4] != b"RIFF":
        return write_pcm_wav(out, audio, rate)
    try:
        with wave.open(io.BytesIO(audio), "rb") as wav:
            channels, width, found_rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
            pcm = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as err:
        raise ValueError(f"the engine's WAV is unreadable: {err}") from None
    if (channels, width) != (1, SAMPLE_WIDTH):
        raise ValueError(f"the engine's WAV has {channels} channel(s) of {width * 8} bits, not 16-bit mono")
    return write_pcm_wav(out, pcm, found_rate)
