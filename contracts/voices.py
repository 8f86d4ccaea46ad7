"""The speech engines a job or a channel may name: shared by the job contract and the workers."""

from __future__ import annotations

TTS_ENGINES = ("espeak", "google", "none", "polly")
"""espeak: espeak-ng on the worker (offline); google: Google Cloud TTS; polly: Amazon Polly; none: silence."""
