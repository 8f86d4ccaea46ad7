"""narrate: every clip's narration synthesized before any clip renders.

The plan needs each narration's length to size its clip (a clip grows to hold its
narration, or the job is refused), so speech is made first, levelled to one speech
loudness, and stored in the work store under a hash of what produced it (engine,
voice, speed, text; the voice is the clip's own, or its language's, where it has one):
a retry, the clip render and later videos reuse it.
"""

from __future__ import annotations

import sys
import wave
from array import array
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.common import temporal_errors
from activities.keeper import keep_heartbeating
from activities.logs import activity_log
from activities.plans import PlanStore
from contracts import names
from contracts.job import AUDIO_RATE, JobError, LoudnessTarget
from contracts.plan import NarrationTake, canonical_sha256, fit_narration, video_only
from contracts.records import NarrateInput, NarrateResult, Narration, NarrationWork
from engine.deps import Deps, fetch, scratch
from engine.media.loudness import Measurement, measure, measure_file, normalize_filter
from engine.media.process import run_ffmpeg
from engine.threads import in_thread, stoppable
from engine.tts import TimesWords, TtsEngine, Voices

SPEECH_LUFS = -18.0
"""Every narration is levelled to this before mixing, so voices match across clips and videos;
the programme's own target is met later, with one gain for the whole mix."""
SPEECH_PEAK_DBTP = -6.5
"""Peaks this far under speech loudness leave room to raise the programme to -14 LUFS and stay under
-1.5 dBTP without the final limiter audibly squashing the voice (nor pulling the loudness down)."""
PROCESSING = "2"
"""Part of every narration's hash: bump it when the same text would be processed differently."""


def narration_key(engine: str, voice: str, speed: float, text: str) -> str:
    digest = canonical_sha256({"engine": engine, "voice": voice, "speed": speed, "text": text, "v": PROCESSING})
    return f"narration/{digest[:32]}.wav"


def wav_samples(path: Path) -> int:
    """Samples per channel of a PCM WAV, from its header."""
    with wave.open(str(path), "rb") as handle:
        return handle.getnframes()


AUDIBLE = round(32768 * 10 ** (-50 / 20))
"""A sample this loud (-50 dBFS) is speech; below it is the quiet an engine leaves around its words."""


def speech_span(path: Path) -> tuple[int, int] | None:
    """Where a 16-bit PCM WAV's speech starts and ends, in samples per channel (its first audible sample, and
    one past its last): the timing of its captions. None when nothing in it is audible."""
    with wave.open(str(path), "rb") as handle:
        if handle.getsampwidth() != 2:
            return None
        channels = handle.getnchannels()
        pcm = array("h", handle.readframes(handle.getnframes()))
    if sys.byteorder == "big":
        pcm.byteswap()
    first = next((n for n in range(len(pcm)) if abs(pcm[n]) >= AUDIBLE), None)
    if first is None:
        return None
    last = next(n for n in range(len(pcm) - 1, first - 1, -1) if abs(pcm[n]) >= AUDIBLE)
    return first // channels, last // channels + 1


PCM_STEREO = "aformat=sample_fmts=s16:channel_layouts=stereo"


def level_command(raw: Path, out: Path, measured: Measurement) -> list[str]:
    """Speech at SPEECH_LUFS with its peaks kept low, at the programme's rate and layout.

    One static gain from a measurement, not loudnorm's sliding window: that needs
    three seconds of signal and leaves a short line far too quiet.
    """
    levelled = normalize_filter(measured, LoudnessTarget(SPEECH_LUFS, SPEECH_PEAK_DBTP))
    return [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-progress", "pipe:1", "-nostats",
        "-i", str(raw), "-af", f"aresample={AUDIO_RATE},{levelled},{PCM_STEREO}",
        "-c:a", "pcm_s16le", "-f", "wav", str(out),
    ]  # fmt: skip


async def narration_file(
    deps: Deps, tts: TtsEngine, key: str, text: str, voice: str, speed: float, stem: Path
) -> Path | None:
    """The levelled narration stored under `key`, synthesized and stored first when it is not there yet.

    None when the engine cannot speak it (the clip renders silent).
    """
    uri = deps.settings.work_uri_for(key)
    storage = deps.storages.for_uri(uri)
    if await in_thread(storage.exists, uri):
        return await fetch(deps, uri, stem.with_suffix(".wav"))
    raw = stem.with_suffix(".raw.wav")
    if not await tts.synthesize(text, voice, speed, raw):
        return None
    out = stem.with_suffix(".wav")
    await run_ffmpeg(level_command(raw, out, await measure(measure_file(raw))))
    await stoppable(storage.upload, out, uri)
    return out


async def spoken_words(tts: TtsEngine, text: str, voice: str, speed: float) -> tuple[tuple[int, int, int], ...]:
    """(first character, length, start in samples at AUDIO_RATE) of each word, when the engine says; else ()."""
    if not isinstance(tts, TimesWords):
        return ()
    return tuple((w.start, w.length, w.ms * AUDIO_RATE // 1000) for w in await tts.words(text, voice, speed))


class NarrationActivities:
    def __init__(self, deps: Deps, tts: TtsEngine | None = None) -> None:
        self.deps = deps
        self.voices = Voices(deps.settings, tts)
        self.plans = PlanStore(deps)

    @activity.defn(name=names.NARRATE)
    async def narrate(self, inp: NarrateInput) -> NarrateResult:
        """Speak every narration of the stored plan, then store the plan fitted to it (clips grown to hold their
        narration, or the job refused naming the clip): only the new plan's key returns to history."""
        with temporal_errors():
            job = await self.plans.job(inp.plan_key)
            plan = await self.plans.plan(inp.plan_key)
        lines = [(c.index, c.spec.narration) for c in plan.clips if c.spec.narration]
        voices = {c.index: c.spec.voice for c in plan.clips if c.spec.narration and c.spec.voice}
        spoken = await self.synthesize(
            NarrationWork(inp.video_id, lines, inp.voice, inp.speed, inp.tts_engine, inp.channel, voices)
        )
        try:
            fitted = video_only(fit_narration(job, plan, spoken.takes))
        except JobError as err:
            raise ApplicationError(str(err), {"field": err.field}, type=names.INVALID_JOB, non_retryable=True) from None
        with temporal_errors():
            key = await self.plans.save(job, fitted)
        grown = sum(c.grown_frames for c in fitted.clips)
        return NarrateResult(key, fitted.frames, len(spoken.takes), grown, spoken.engine)

    async def synthesize(self, inp: NarrationWork) -> Narration:
        """Speak each line (run inside an activity: it heartbeats); each take is stored by its content hash."""
        log = activity_log(video_id=inp.video_id, narrations=len(inp.lines))
        takes: list[NarrationTake] = []
        with temporal_errors():
            async with (
                keep_heartbeating() as beats,
                scratch(self.deps.settings, f"{inp.video_id}-narrate") as tmp,
            ):
                tts = self.voices.choose(inp.tts_engine, inp.channel)
                for n, (index, text) in enumerate(inp.lines):
                    beats.stage(f"narrating {n + 1}/{len(inp.lines)}")
                    voice = inp.voices.get(index, inp.voice)
                    key = narration_key(tts.name, voice, inp.speed, text)
                    local = await narration_file(self.deps, tts, key, text, voice, inp.speed, tmp / f"{n:04d}")
                    if local is not None:
                        samples, speech = await in_thread(wav_samples, local), await in_thread(speech_span, local)
                        words = await spoken_words(tts, text, voice, inp.speed)
                        takes.append(NarrationTake(index, key, samples, speech, words))
        log.info("narration synthesized", spoken=len(takes), engine=tts.name)
        return Narration(takes=takes, engine=tts.name)
