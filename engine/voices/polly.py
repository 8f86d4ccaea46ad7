"""Amazon Polly through boto3: 16 kHz PCM wrapped into WAV.

Voices: a Polly voice id (`Joanna`, `Matthew`) is used as it is. A language tag
or a Google-style name (`en`, `en-GB`, `en-US-Neural2-F`) picks the locale's
voice in `LOCALE_VOICES`: female unless the name ends in a letter Google uses
for a male en-US voice (A, B, D, I, J) or in `-M`. The Polly engine
(neural, standard, …) is RENDER_POLLY_ENGINE; the voice must offer it.

Speed: Polly has no rate parameter, so a speed other than 1 is sent as SSML
`<prosody rate="…%">` around the XML-escaped text; at speed 1 plain text is sent.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import boto3
import structlog
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from engine.errors import VoiceRejected, VoiceUnavailable
from engine.settings import PollySettings, SpeechSettings
from engine.threads import Stopped, in_thread, stoppable
from engine.voices import SpeechEngine, register
from engine.voices.wav import write_pcm_wav

log = structlog.get_logger(__name__)

SAMPLE_RATE = 16000
"""Polly's highest PCM rate."""
CHUNK = 64 * 1024

LOCALE_VOICES: dict[str, tuple[str, str]] = {
    "en-US": ("Joanna", "Matthew"),
    "en-GB": ("Amy", "Brian"),
    "en-AU": ("Olivia", "Olivia"),
    "en-IN": ("Kajal", "Kajal"),
    "de-DE": ("Vicki", "Daniel"),
    "fr-FR": ("Lea", "Remi"),
    "es-ES": ("Lucia", "Sergio"),
    "es-US": ("Lupe", "Pedro"),
    "it-IT": ("Bianca", "Adriano"),
    "pt-BR": ("Camila", "Thiago"),
    "ja-JP": ("Kazuha", "Takumi"),
}
"""(female, male) neural voices by locale (one voice twice where Polly has one); a bare language: its first locale."""
MALE_LETTERS = frozenset("ABDIJ")


@dataclass(frozen=True)
class PollyVoice:
    voice_id: str
    language: str | None
    """LanguageCode for the request: the locale a tag named, None for a voice id."""


def polly_voice(voice: str) -> PollyVoice:
    """The Polly voice for a job's `tts_voice`; VoiceRejected names it when no voice fits."""
    if "-" not in voice and voice[:1].isupper():
        return PollyVoice(voice, None)
    parts = voice.split("-")
    language = parts[0].lower()
    if len(parts) > 1 and len(parts[1]) == 2:
        locale = f"{language}-{parts[1].upper()}"
    else:
        locale = next((name for name in LOCALE_VOICES if name.startswith(language + "-")), "")
    if locale not in LOCALE_VOICES:
        known = ", ".join(LOCALE_VOICES)
        raise VoiceRejected(f"polly has no voice for {voice!r}: name a Polly voice id (Joanna, …) or one of {known}")
    last = parts[-1].upper() if len(parts) > 2 else ""
    male = last == "M" or (locale == "en-US" and len(last) == 1 and last in MALE_LETTERS)
    return PollyVoice(LOCALE_VOICES[locale][male], locale)


def polly_request(text: str, voice: PollyVoice, speed: float, engine: str) -> dict[str, str]:
    """SynthesizeSpeech's parameters; SSML only for a speed, and then with the text escaped."""
    request = {"Engine": engine, "OutputFormat": "pcm", "SampleRate": str(SAMPLE_RATE), "VoiceId": voice.voice_id}
    if voice.language:
        request["LanguageCode"] = voice.language
    if round(speed, 2) == 1.0:
        return request | {"Text": text, "TextType": "text"}
    ssml = f'<speak><prosody rate="{round(speed * 100)}%">{escape(text)}</prosody></speak>'
    return request | {"Text": ssml, "TextType": "ssml"}


class PollyTts:
    name = "polly"

    def __init__(
        self,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        engine: str = "neural",
        timeout: float = 20.0,
        attempts: int = 3,
    ) -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        self.engine = engine
        self.config = Config(
            connect_timeout=timeout,
            read_timeout=timeout,
            retries={"total_max_attempts": attempts, "mode": "standard"},
        )
        self._client: Any = None
        self._lock = threading.Lock()

    def client(self) -> Any:
        """Made on first use (in a worker thread): credentials and region come from the AWS config."""
        with self._lock:
            if self._client is None:
                self._client = boto3.client(
                    "polly", endpoint_url=self.endpoint_url, region_name=self.region, config=self.config
                )
            return self._client

    async def synthesize(self, text: str, voice: str, speed: float, out: Path) -> bool:
        chosen = polly_voice(voice)
        request = polly_request(text, chosen, speed, self.engine)
        pcm = await stoppable(self._speak, request, voice)
        samples = await in_thread(write_pcm_wav, out, pcm, SAMPLE_RATE)
        if not samples:
            log.warning("polly returned no audio, clip will be silent", voice=voice, polly_voice=chosen.voice_id)
        return samples > 0

    def _speak(self, request: dict[str, str], voice: str, *, stop: threading.Event) -> bytes:
        mapped = "" if request["VoiceId"] == voice else f"tts_voice {voice!r}, "
        said = f"polly voice {request['VoiceId']!r} ({mapped}engine {self.engine})"
        try:
            response = self.client().synthesize_speech(**request)
            chunks = []
            with response["AudioStream"] as stream:
                while chunk := stream.read(CHUNK):
                    if stop.is_set():
                        raise Stopped("speech synthesis was cancelled")
                    chunks.append(chunk)
            return b"".join(chunks)
        except ClientError as err:
            status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
            code = err.response.get("Error", {}).get("Code", "?")
            message = " ".join(str(err.response.get("Error", {}).get("Message", "")).split())[:200]
            if 400 <= status < 500 and status not in (408, 429) and code != "ThrottlingException":
                raise VoiceRejected(f"{said} was refused: {code}: {message}") from None
            raise VoiceUnavailable(f"{said}: Polly answered {status} {code}: {message}") from None
        except (NoCredentialsError, NoRegionError) as err:
            raise VoiceUnavailable(f"{said}: no AWS credentials or region on this worker ({err})") from None
        except BotoCoreError as err:
            raise VoiceUnavailable(f"{said}: {err}"[:300]) from None


def make(settings: PollySettings, speech: SpeechSettings) -> PollyTts:
    return PollyTts(
        endpoint_url=settings.endpoint_url,
        region=settings.region,
        engine=settings.engine,
        timeout=speech.timeout_seconds,
        attempts=speech.attempts,
    )


ENGINE = register(SpeechEngine("polly", PollySettings, make, needs_settings=True))
