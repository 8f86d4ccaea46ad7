"""Google Cloud Text-to-Speech through its REST API (`POST /v1/text:synthesize`), with the stdlib's urllib.

The job's voice name goes to Google unchanged (`en-US-Neural2-F`); its first two
parts are the language code, and a bare tag (`en-US`) lets Google pick the voice.
Text is sent as plain text, never SSML; speed is Google's own `speakingRate`.
The API key (sent as the `X-Goog-Api-Key` header, never in the URL) or the bearer
token is never logged nor put in an error.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import structlog

from engine.errors import VoiceRejected, VoiceUnavailable
from engine.settings import GoogleSettings, SpeechSettings
from engine.threads import Stopped, in_thread, stoppable
from engine.voices import SpeechEngine, register
from engine.voices.wav import write_linear16

log = structlog.get_logger(__name__)

SAMPLE_RATE = 24000
"""What Google's neural voices are made at: asking for more only resamples."""
SYNTHESIZE_PATH = "/v1/text:synthesize"
BACKOFF_SECONDS = 0.5
"""First pause between attempts; doubled each time."""
RETRYABLE_STATUS = frozenset({408, 429})
"""4xx answers that say 'later', not 'never'."""


def google_request(text: str, voice: str, speed: float) -> dict[str, Any]:
    """text:synthesize's body: plain text in, LINEAR16 out, the voice name as the job gave it."""
    parts = voice.split("-")
    selection = {"languageCode": "-".join(parts[:2])}
    if len(parts) > 2:
        selection["name"] = voice
    return {
        "input": {"text": text},
        "voice": selection,
        "audioConfig": {"audioEncoding": "LINEAR16", "speakingRate": speed, "sampleRateHertz": SAMPLE_RATE},
    }


def google_message(body: bytes) -> str:
    """Google's error in one line: `{"error": {"status": …, "message": …}}`, else the body's start."""
    try:
        error = json.loads(body)["error"]
        said = f"{error.get('status', '')}: {error.get('message', '')}"
    except (ValueError, KeyError, TypeError):
        said = body[:200].decode("utf-8", "replace")
    return " ".join(said.split())[:200]


class GoogleTts:
    name = "google"

    def __init__(
        self,
        *,
        url: str = "https://texttospeech.googleapis.com",
        api_key: str | None = None,
        token: str | None = None,
        timeout: float = 20.0,
        attempts: int = 3,
        backoff: float = BACKOFF_SECONDS,
    ) -> None:
        self.url = url.rstrip("/") + SYNTHESIZE_PATH
        self._api_key = api_key
        self._token = token
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff

    def __repr__(self) -> str:
        return f"GoogleTts(url={self.url!r})"

    async def synthesize(self, text: str, voice: str, speed: float, out: Path) -> bool:
        if not (self._api_key or self._token):
            raise VoiceUnavailable(
                f"google voice {voice!r}: no credentials on this worker "
                "(RENDER_GOOGLE_TTS_API_KEY or RENDER_GOOGLE_TTS_TOKEN)"
            )
        audio = await stoppable(self._post, google_request(text, voice, speed), voice)
        try:
            samples = await in_thread(write_linear16, out, audio, SAMPLE_RATE)
        except ValueError as err:
            raise VoiceUnavailable(f"google voice {voice!r}: {err}") from None
        if not samples:
            log.warning("google returned no audio, clip will be silent", voice=voice)
        return samples > 0

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if self._api_key:
            headers["X-Goog-Api-Key"] = self._api_key
        else:
            headers["Authorization"] = f"Bearer {self._token}"
        return headers

    def _post(self, body: dict[str, Any], voice: str, *, stop: threading.Event) -> bytes:
        """POST with bounded retries on 5xx, 408/429 and network trouble; a 4xx fails at once."""
        said = f"google voice {voice!r}"
        data = json.dumps(body).encode()
        last = ""
        for attempt in range(self.attempts):
            if attempt and stop.wait(self.backoff * 2 ** (attempt - 1)):
                break
            if stop.is_set():
                break
            request = urllib.request.Request(self.url, data=data, headers=self._headers(), method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    answer = response.read()
            except urllib.error.HTTPError as err:
                message = google_message(err.read())
                if 400 <= err.code < 500 and err.code not in RETRYABLE_STATUS:
                    raise VoiceRejected(f"{said} was refused ({err.code}): {message}") from None
                last = f"HTTP {err.code}: {message}"
            except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
                last = str(getattr(err, "reason", err)) or type(err).__name__
            else:
                return audio_content(answer, said)
            log.warning("google tts attempt failed", voice=voice, attempt=attempt + 1, error=last)
        if stop.is_set():
            raise Stopped("speech synthesis was cancelled")
        raise VoiceUnavailable(f"{said}: no speech after {self.attempts} attempts; last: {last}")


def audio_content(answer: bytes, said: str) -> bytes:
    """The decoded `audioContent` of a text:synthesize answer."""
    try:
        return base64.b64decode(json.loads(answer)["audioContent"], validate=True)
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise VoiceUnavailable(f"{said}: the answer has no audioContent") from None


def make(settings: GoogleSettings, speech: SpeechSettings) -> GoogleTts:
    return GoogleTts(
        url=settings.url,
        api_key=settings.api_key,
        token=settings.token,
        timeout=speech.timeout_seconds,
        attempts=speech.attempts,
    )


ENGINE = register(SpeechEngine("google", GoogleSettings, make, needs_settings=True))
