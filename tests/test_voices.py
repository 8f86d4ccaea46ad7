"""Speech engines through their real clients: Polly by boto3 against moto's server over HTTP, Google
Cloud Text-to-Speech by its REST API against a local server that speaks it."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import math
import struct
import threading
import urllib.request
import uuid
import wave
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import structlog
from moto.moto_api import recorder
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.common import temporal_errors
from activities.render import RenderActivities
from contracts.job import parse_job
from contracts.plan import plan_video
from contracts.records import ClipWork
from contracts.voices import TTS_ENGINES
from engine.deps import Deps
from engine.errors import VoiceRejected, VoiceUnavailable
from engine.settings import Settings, SpeechSettings
from engine.storage import file_path
from engine.tts import EspeakTts, SilentTts, Voices, make_tts
from engine.voices import ENGINES, register
from engine.voices.google import GoogleTts
from engine.voices.polly import PollyTts, polly_voice
from tests.fault_proxy import FaultProxy, Rule
from tests.media import audio_samples

HOSTILE = 'Who painted <the> "Mona Lisa" & why? ]]> </speak>'
API_KEY = "AIza-test-key-not-for-logs"
TOKEN = "ya29.test-token-not-for-logs"


def read_wav(path: Path) -> tuple[int, int, int, bytes]:
    with wave.open(str(path), "rb") as wav:
        return wav.getnchannels(), wav.getsampwidth(), wav.getframerate(), wav.readframes(wav.getnframes())


# --- Amazon Polly on the moto server ---


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret-value")


@pytest.fixture
def recording(s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The moto server writes down each request it receives during the test (read with `recorded`)."""
    monkeypatch.setattr(recorder, "_location", str(tmp_path / "moto-recording"))
    post(f"{s3_endpoint}/moto-api/recorder/reset-recording")
    post(f"{s3_endpoint}/moto-api/recorder/start-recording")
    yield
    post(f"{s3_endpoint}/moto-api/recorder/stop-recording")


def recorded(endpoint: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{endpoint}/moto-api/recorder/download-recording", timeout=10) as answer:
        lines = answer.read().decode().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def post(url: str) -> None:
    urllib.request.urlopen(urllib.request.Request(url, data=b"", method="POST"), timeout=10).close()


def speech_requests(endpoint: str) -> list[dict[str, Any]]:
    bodies = [r for r in recorded(endpoint) if r["url"].endswith("/v1/speech")]
    return [json.loads(base64.b64decode(r["body"]) if r["body_encoded"] else r["body"]) for r in bodies]


async def test_polly_speaks_plain_text_and_writes_a_wav(
    aws: None, s3_endpoint: str, recording: None, tmp_path: Path
) -> None:
    polly = PollyTts(endpoint_url=s3_endpoint, region="us-east-1")
    out = tmp_path / "speech.wav"
    assert await polly.synthesize(HOSTILE, "en-US-Neural2-F", 1.0, out)

    [request] = speech_requests(s3_endpoint)
    assert request == {
        "Engine": "neural",
        "LanguageCode": "en-US",
        "OutputFormat": "pcm",
        "SampleRate": "16000",
        "Text": HOSTILE,
        "TextType": "text",
        "VoiceId": "Joanna",
    }
    channels, width, rate, pcm = read_wav(out)
    assert (channels, width, rate) == (1, 2, 16000)
    assert pcm and len(pcm) % 2 == 0  # moto answers a few samples of silence: all of them are kept


async def test_polly_speed_is_ssml_around_escaped_text(
    aws: None, s3_endpoint: str, recording: None, tmp_path: Path
) -> None:
    polly = PollyTts(endpoint_url=s3_endpoint, region="us-east-1", engine="standard")
    assert await polly.synthesize(HOSTILE, "en-US-Neural2-D", 1.25, tmp_path / "fast.wav")
    assert await polly.synthesize("Hello", "Amy", 0.8, tmp_path / "amy.wav")

    fast, amy = speech_requests(s3_endpoint)
    assert (fast["VoiceId"], fast["Engine"], fast["TextType"]) == ("Matthew", "standard", "ssml")
    speak = ET.fromstring(fast["Text"])  # well-formed: the text cannot open or close a tag
    [prosody] = list(speak)
    assert (speak.tag, prosody.tag, prosody.attrib, prosody.text) == ("speak", "prosody", {"rate": "125%"}, HOSTILE)
    assert (amy["VoiceId"], amy.get("LanguageCode"), amy["Text"]) == (
        "Amy",
        None,
        '<speak><prosody rate="80%">Hello</prosody></speak>',
    )


async def test_polly_refuses_an_unknown_voice_in_one_line_without_retrying(
    aws: None, s3_endpoint: str, recording: None, tmp_path: Path
) -> None:
    polly = PollyTts(endpoint_url=s3_endpoint, region="us-east-1")
    with pytest.raises(VoiceRejected) as refused:
        await polly.synthesize("Hello", "Zorblax", 1.0, tmp_path / "x.wav")
    message = str(refused.value)
    assert "\n" not in message and "'Zorblax'" in message and "polly" in message and "InvalidParameterValue" in message
    assert len(speech_requests(s3_endpoint)) == 1

    with pytest.raises(VoiceRejected, match="polly has no voice for 'xx-YY-Neural2-F'"):
        await polly.synthesize("Hello", "xx-YY-Neural2-F", 1.0, tmp_path / "y.wav")
    assert len(speech_requests(s3_endpoint)) == 1  # refused before any request
    assert not (tmp_path / "x.wav").exists() and not (tmp_path / "y.wav").exists()


def test_polly_voice_mapping() -> None:
    assert polly_voice("en").voice_id == "Joanna"
    assert polly_voice("en-GB").voice_id == "Amy"
    assert polly_voice("en-GB-Wavenet-M").voice_id == "Brian"
    assert polly_voice("de").language == "de-DE"
    assert polly_voice("Joanna").language is None


async def test_polly_rides_out_server_errors_then_fails_retryably(aws: None, proxy: FaultProxy, tmp_path: Path) -> None:
    polly = PollyTts(endpoint_url=proxy.url, region="us-east-1", attempts=3)
    proxy.add(Rule("503", "POST", "/v1/speech"), Rule("500", "POST", "/v1/speech"))
    assert await polly.synthesize("Hello", "en-US", 1.0, tmp_path / "ok.wav")
    assert [r.fault for r in proxy.injected()] == ["503", "500"]

    proxy.clear()
    proxy.add(Rule("500", "POST", "/v1/speech", times=100))
    with pytest.raises(ApplicationError) as failed, temporal_errors():
        await polly.synthesize("Hello", "en-US", 1.0, tmp_path / "no.wav")
    assert len(proxy.injected()) == 3  # bounded: RENDER_TTS_ATTEMPTS requests, no more
    assert (failed.value.type, failed.value.non_retryable) == ("VoiceUnavailable", False)
    assert "'Joanna'" in failed.value.message and "500" in failed.value.message


# --- Google Cloud Text-to-Speech on a local server ---


def tone(rate: int, seconds: float) -> bytes:
    count = int(rate * seconds)
    return struct.pack(f"<{count}h", *(int(8000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(count)))


def wav_bytes(pcm: bytes, rate: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)
    return buffer.getvalue()


@dataclass
class GoogleStub:
    """text:synthesize as Google answers it: auth checked, voices known, LINEAR16 as a base64 WAV."""

    voices: tuple[str, ...] = ("en-US-Neural2-F", "en-US-Neural2-D")
    statuses: list[int] = field(default_factory=list)
    """Answer these statuses first, one per request."""
    delay: float = 0.0
    seen: list[dict[str, Any]] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if path != "/v1/text:synthesize":
            return 404, error(404, "NOT_FOUND", f"no route {path}")
        if headers.get("x-goog-api-key") != API_KEY and headers.get("authorization") != f"Bearer {TOKEN}":
            return 401, error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        if self.statuses:
            status = self.statuses.pop(0)
            return status, error(status, "UNAVAILABLE", "The service is currently unavailable.")
        name = body["voice"].get("name")
        if name is not None and name not in self.voices:
            return 400, error(400, "INVALID_ARGUMENT", f"Voice '{name}' does not exist. Is it misspelled?")
        config = body["audioConfig"]
        assert config["audioEncoding"] == "LINEAR16"
        rate = int(config["sampleRateHertz"])
        audio = wav_bytes(tone(rate, 0.5), rate)
        return 200, {"audioContent": base64.b64encode(audio).decode()}

    def start(self) -> None:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                headers = {k.lower(): v for k, v in self.headers.items()}
                stub.seen.append({"path": self.path, "headers": headers, "body": body})
                stub.arrived.set()
                if stub.delay:
                    threading.Event().wait(stub.delay)
                status, answer = stub.answer(self.path, headers, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def error(code: int, status: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status}}


@pytest.fixture
def google() -> Iterator[GoogleStub]:
    stub = GoogleStub()
    stub.start()
    yield stub
    assert stub.server is not None
    stub.server.shutdown()
    stub.server.server_close()


async def test_google_gets_the_seed_voice_unchanged_and_plain_text(google: GoogleStub, tmp_path: Path) -> None:
    engine = GoogleTts(url=google.url, api_key=API_KEY)
    out = tmp_path / "speech.wav"
    with structlog.testing.capture_logs() as logs:
        assert await engine.synthesize(HOSTILE, "en-US-Neural2-F", 1.25, out)

    [request] = google.seen
    assert request["path"] == "/v1/text:synthesize"  # the key travels in a header, never in the URL
    assert request["headers"]["x-goog-api-key"] == API_KEY and "authorization" not in request["headers"]
    assert request["body"] == {
        "input": {"text": HOSTILE},
        "voice": {"languageCode": "en-US", "name": "en-US-Neural2-F"},
        "audioConfig": {"audioEncoding": "LINEAR16", "speakingRate": 1.25, "sampleRateHertz": 24000},
    }
    channels, width, rate, pcm = read_wav(out)
    assert (channels, width, rate) == (1, 2, 24000) and pcm == tone(24000, 0.5)
    assert API_KEY not in repr(engine) and API_KEY not in str(logs)


async def test_google_with_a_bearer_token_and_a_language_only(google: GoogleStub, tmp_path: Path) -> None:
    engine = GoogleTts(url=google.url, token=TOKEN)
    assert await engine.synthesize("Hello", "en-GB", 1.0, tmp_path / "gb.wav")
    [request] = google.seen
    assert request["headers"]["authorization"] == f"Bearer {TOKEN}" and "x-goog-api-key" not in request["headers"]
    assert request["body"]["voice"] == {"languageCode": "en-GB"}


async def test_google_refuses_an_unknown_voice_or_key_in_one_line_without_retrying(
    google: GoogleStub, tmp_path: Path
) -> None:
    engine = GoogleTts(url=google.url, api_key=API_KEY, attempts=3, backoff=0.01)
    with pytest.raises(ApplicationError) as refused, temporal_errors():
        await engine.synthesize("Hello", "en-US-Neural2-Q", 1.0, tmp_path / "x.wav")
    err = refused.value
    assert (err.type, err.non_retryable) == ("VoiceRejected", True)
    assert "\n" not in err.message and "google voice 'en-US-Neural2-Q'" in err.message
    assert "INVALID_ARGUMENT: Voice 'en-US-Neural2-Q' does not exist" in err.message
    assert len(google.seen) == 1

    wrong = GoogleTts(url=google.url, api_key="AIza-wrong-key", attempts=3, backoff=0.01)
    with pytest.raises(VoiceRejected, match=r"\(401\): UNAUTHENTICATED") as unauthorized:
        await wrong.synthesize("Hello", "en-US-Neural2-F", 1.0, tmp_path / "y.wav")
    assert "AIza-wrong-key" not in str(unauthorized.value) and len(google.seen) == 2

    with pytest.raises(VoiceUnavailable, match="no credentials on this worker"):
        await GoogleTts(url=google.url).synthesize("Hello", "en-US-Neural2-F", 1.0, tmp_path / "z.wav")
    assert len(google.seen) == 2


async def test_google_retries_server_errors_a_bounded_number_of_times(google: GoogleStub, tmp_path: Path) -> None:
    engine = GoogleTts(url=google.url, api_key=API_KEY, attempts=3, backoff=0.01)
    google.statuses = [503, 500]
    assert await engine.synthesize("Hello", "en-US-Neural2-F", 1.0, tmp_path / "ok.wav")
    assert len(google.seen) == 3

    google.seen.clear()
    google.statuses = [500] * 10
    with structlog.testing.capture_logs() as logs, pytest.raises(ApplicationError) as failed, temporal_errors():
        await engine.synthesize("Hello", "en-US-Neural2-F", 1.0, tmp_path / "no.wav")
    assert len(google.seen) == 3
    assert (failed.value.type, failed.value.non_retryable) == ("VoiceUnavailable", False)
    assert "no speech after 3 attempts; last: HTTP 500: UNAVAILABLE" in failed.value.message
    assert API_KEY not in str(logs) and API_KEY not in failed.value.message


async def test_google_timeouts_are_retried_then_fail_retryably(google: GoogleStub, tmp_path: Path) -> None:
    google.delay = 1.0
    engine = GoogleTts(url=google.url, api_key=API_KEY, timeout=0.2, attempts=2, backoff=0.01)
    with pytest.raises(VoiceUnavailable, match=r"no speech after 2 attempts; last: .*timed out"):
        await engine.synthesize("Hello", "en-US-Neural2-F", 1.0, tmp_path / "slow.wav")
    assert len(google.seen) == 2


async def test_a_cancelled_synthesis_stops_retrying(google: GoogleStub, tmp_path: Path) -> None:
    google.delay, google.statuses = 0.5, [503] * 10
    engine = GoogleTts(url=google.url, api_key=API_KEY, attempts=5, backoff=0.01)
    task = asyncio.ensure_future(engine.synthesize("Hello", "en-US-Neural2-F", 1.0, tmp_path / "c.wav"))
    await asyncio.to_thread(google.arrived.wait, 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task  # returns once the request in flight has ended
    await asyncio.sleep(0.3)
    assert len(google.seen) == 1 and not (tmp_path / "c.wav").exists()


# --- choosing the engine ---


def test_the_engine_is_the_jobs_else_the_channels_else_the_workers(settings: Settings) -> None:
    configured = settings.replace(speech={"engine": "none", "channels": {"quiz": "google"}})
    voices = Voices(configured)
    assert isinstance(voices.default, SilentTts)
    assert isinstance(voices.choose(None, "default"), SilentTts)
    assert isinstance(voices.choose(None, "quiz"), GoogleTts)
    assert isinstance(voices.choose("polly", "quiz"), PollyTts)
    assert voices.choose("polly", "x") is voices.choose("polly", "y")  # one client per engine
    assert isinstance(make_tts("espeak", configured), (EspeakTts, SilentTts))


def test_each_engine_registers_itself_with_its_own_settings_section(settings: Settings) -> None:
    """The registry holds every engine a job may name but `none`; each reads `settings.speech.<name>`."""
    assert set(ENGINES) == set(TTS_ENGINES) - {"none"}
    for name, engine in ENGINES.items():
        assert SpeechSettings.model_fields[name].annotation is engine.settings
    configured = settings.replace(speech={"polly": {"region": "eu-west-1", "engine": "standard"}, "attempts": 5})
    polly = make_tts("polly", configured)
    assert isinstance(polly, PollyTts) and (polly.region, polly.engine) == ("eu-west-1", "standard")
    with pytest.raises(ValueError, match=r"^the google speech engine needs the worker's settings$"):
        make_tts("google")
    assert isinstance(make_tts("none", configured), SilentTts)
    with pytest.raises(ValueError, match="registered twice"):
        register(ENGINES["polly"])


def clip_inputs(video_id: str, **job: Any) -> list[ClipWork]:
    question = {"kind": "question", "question": HOSTILE, "duration": 1, "answers": ["a", "b", "c", "d"], "correct": "B"}
    parsed = parse_job({"video_id": video_id, "profile": {"width": 320, "height": 180}, "clips": [question], **job})
    plan = plan_video(parsed)
    return [
        ClipWork(video_id, c, plan.profile, parsed.tts_voice, parsed.tts_speed, parsed.tts_engine, parsed.channel)
        for c in plan.clips
    ]


async def test_a_clip_is_narrated_by_the_channels_cloud_voice(settings: Settings, google: GoogleStub) -> None:
    configured = settings.replace(
        speech={"engine": "none", "channels": {"quiz": "google"}, "google": {"url": google.url, "api_key": API_KEY}}
    )
    render = RenderActivities(Deps.from_settings(configured))
    video = f"voices-{uuid.uuid4().hex[:8]}"
    [question, _] = clip_inputs(video, channel="quiz", tts_voice="en-US-Neural2-F")
    result = await ActivityEnvironment().run(render.render, question)
    assert result.narration == "tts"
    assert [r["body"]["input"]["text"] for r in google.seen] == [HOSTILE]
    samples = audio_samples(file_path(result.uri))
    assert float(np.sqrt(np.mean(samples**2))) > 0.01  # the served tone is in the clip

    [question, _] = clip_inputs(f"{video}-q", channel="quiz", tts_voice="en-US-Neural2-Q")
    with pytest.raises(ApplicationError) as refused:
        await ActivityEnvironment().run(render.render, question)
    assert (refused.value.type, refused.value.non_retryable) == ("VoiceRejected", True)

    [question, _] = clip_inputs(f"{video}-none", channel="quiz", tts_engine="none")
    silent = await ActivityEnvironment().run(render.render, question)
    assert silent.narration == "none" and len(google.seen) == 2


def test_a_job_that_names_its_engine_has_clip_keys_of_its_own() -> None:
    keys = {engine: [i.clip.key for i in clip_inputs("v", tts_engine=engine)] for engine in (None, "polly", "google")}
    assert len({key for planned in keys.values() for key in planned}) == 6
