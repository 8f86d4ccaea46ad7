"""Job → clip plan: frame counts, spec hashes and storage keys, computed once.

Durations become whole frames here and nowhere else, so the renderer, the concat
check and the result all agree on every clip's exact length.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass, replace
from typing import Any

from contracts.kinds import KINDS
from contracts.kinds import shown as shown  # labels elsewhere (starter.present) show text as these do
from contracts.languages import primary
from contracts.material import without_defaults
from contracts.rules import AUDIO_RATE, MEDIA_DEFAULTS, ClipSpec, Job, JobError, Poster, Profile
from contracts.themes import Theme, look_material

_KANA = re.compile("[\u3040-\u30ff\u31f0-\u31ff\u32d0-\u32fe\u3300-\u3357\uff66-\uff9f\U0001b000-\U0001b16f]")
"""Hiragana and Katakana, with their phonetic extensions and half-width forms (the stdlib `re`: plans are
also made inside the workflow's sandbox)."""
_HANGUL = re.compile("[\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\uac00-\ud7ff\uffa0-\uffdc]")
VOICE_LANGUAGES = {"ja": "ja", "jpn": "ja", "ko": "ko", "kor": "ko", "zh": "zh", "cmn": "zh", "yue": "zh"}
"""A voice's language tag (its first part: 'ja-JP-Neural2-B', 'cmn-CN') as the forms Han characters take."""

ENGINE_VERSION = "3"
"""Part of every spec hash: bump it when the same spec would render differently."""
PORTRAIT_LAYOUT = 2
"""The themed layouts of 9:16, 4:5 and 1:1 frames, kept clear of the short-video players' interface: part of
those clips' keys, so no clip laid out before is reused (16:9 clips keep theirs)."""


@dataclass(frozen=True)
class PlannedClip:
    index: int
    spec: ClipSpec
    frames: int
    spec_hash: str
    key: str
    """Storage key of the rendered intermediate, relative to the work root."""
    label: str
    """A short human description for logs and the Web UI."""
    grown_frames: int = 0
    """Frames added so the clip holds its whole narration (narration_fit 'grow')."""
    narration_key: str | None = None
    """The narration synthesized ahead, in the work store; None: the render synthesizes it."""
    speech: tuple[int, int] | None = None
    """Where the narration's speech starts and ends, in samples from the clip's start at AUDIO_RATE (its captions'
    timing); None: no narration, or plans made before it was measured."""
    language: str = ""
    """How the job's Han characters are drawn ('ja', 'ko', 'zh'); '' (plans made before): from the clip's text."""

    theme: Theme | None = None
    """The look it is drawn with; None in plans made before themes, which keep the plain look they began with."""
    number: int = 0
    """A question's place (1-based) among the video's `total` questions, shown as "3/10"; 0 for other clips."""
    total: int = 0
    words: tuple[tuple[int, int, int], ...] = ()
    """Each spoken word of its narration: (first character, length in characters, start in samples from the clip's
    start at AUDIO_RATE), when the speech engine says (espeak-ng does); empty otherwise."""


def job_language(job: Job) -> str:
    """One language for all of a video's Han characters, so kanji-only cards of a Japanese video are drawn the
    Japanese way: the voice's when it is Japanese, Korean or Chinese, else Japanese when the job's text has
    kana, Korean when it has Hangul, else Chinese."""
    tag = job.tts_voice.lower().replace("_", "-").split("-", 1)[0]
    if tag in VOICE_LANGUAGES:
        return VOICE_LANGUAGES[tag]
    texts = [t for c in job.clips for t in (*c.lines, c.question or "", *c.answers) if t]
    if any(_KANA.search(t) for t in texts):
        return "ja"
    return "ko" if any(_HANGUL.search(t) for t in texts) else "zh"


def han_language(spec: ClipSpec, video: str) -> str:
    """A clip in Japanese, Korean or Chinese draws its Han characters that way; other clips as the video does."""
    own = VOICE_LANGUAGES.get(primary(spec.language or spec.voice)) if spec.language or spec.voice else None
    return own or video


@dataclass(frozen=True)
class VideoPlan:
    video_id: str
    profile: Profile
    clips: tuple[PlannedClip, ...]
    poster: Poster | None = None
    """The job's choice of poster frame; None: the default (see `poster_seconds`)."""

    @property
    def frames(self) -> int:
        return sum(c.frames for c in self.clips)

    @property
    def duration_s(self) -> float:
        return self.frames / self.profile.fps

    @property
    def poster_seconds(self) -> float:
        """When the poster frame is: the job's `poster`, else the middle of the first question (its answers up,
        none revealed: a thumbnail never gives the answer away), else of the first clip."""
        if not self.clips:
            return 0.0
        fps = self.profile.fps
        index = next((i for i, clip in enumerate(self.clips) if _counted(clip.spec)), 0)
        at: float | None = None
        if self.poster is not None and self.poster.clip <= len(self.clips):
            index, at = self.poster.clip - 1, self.poster.at
        frames = self.clips[index].frames
        offset = frames // 2 if at is None else min(round(at * fps), frames - 1)
        return (sum(clip.frames for clip in self.clips[:index]) + offset) / fps


def frames_for(seconds: float, fps: int) -> int:
    """Round a duration to whole frames, never below one frame."""
    return max(1, round(seconds * fps))


def samples_for(frames: int, fps: int) -> int:
    """Audio samples that exactly cover `frames` video frames."""
    return frames * (AUDIO_RATE // fps)


def canonical_sha256(value: Any) -> str:
    """sha256 of `value` as canonical JSON (sorted keys, no spaces, ASCII): equal values, equal hashes."""
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def spec_material(spec: ClipSpec) -> dict[str, Any]:
    """The spec as hashed: media fields only where set, so clips from before they existed keep their keys."""
    return without_defaults(asdict(spec), MEDIA_DEFAULTS)


def spec_hash(spec: ClipSpec, job: Job, look: dict[str, Any] | None = None) -> str:
    """With a `look` (theme and numbering) it is hashed too; plans without one keep their keys."""
    material: dict[str, Any] = {
        "engine": ENGINE_VERSION,
        "spec": spec_material(spec),
        "profile": asdict(job.profile),
        # The engine only when the job names one: clips of jobs without it keep their keys.
        "voice": [job.tts_voice, job.tts_speed, *([job.tts_engine] if job.tts_engine else [])],
    }
    if look is not None:
        material["look"] = look
    return canonical_sha256(material)[:16]


def clip_frames(spec: ClipSpec, fps: int) -> int:
    """The clip's frames by its kind's rule (`contracts.kinds`); `frames_for` for a kind nobody registered."""
    registered = KINDS.get(spec.kind)
    return registered.frames(spec.duration, fps) if registered is not None else frames_for(spec.duration, fps)


def clip_label(spec: ClipSpec, index: int, total: int) -> str:
    """`clip 3/10 · ` and what the clip's kind says of it (bidi controls shown as escapes)."""
    head = f"clip {index + 1}/{total}"
    registered = KINDS.get(spec.kind)
    said = registered.label(spec) if registered is not None else f"{spec.kind} · {spec.duration:g} s"
    return f"{head} · {shown(said)}"


def _counted(spec: ClipSpec) -> bool:
    """A question of the quiz: the poster's default and a theme's question numbers count these."""
    registered = KINDS.get(spec.kind)
    return registered is not None and registered.counted


def _numbered(spec: ClipSpec) -> bool:
    registered = KINDS.get(spec.kind)
    return registered is not None and registered.numbered


def _planned(
    job: Job, index: int, spec: ClipSpec, language: str, theme: Theme | None, place: int, count: int
) -> PlannedClip:
    look = None if theme is None else {"theme": look_material(theme, spec.kind), "number": place, "total": count}
    if look is not None and job.profile.width / job.profile.height < 1.3:
        look["layout"] = PORTRAIT_LAYOUT  # laid out clear of the players' buttons: not the earlier clips
    digest = spec_hash(spec, job, look)
    return PlannedClip(
        index=index,
        spec=spec,
        frames=clip_frames(spec, job.profile.fps),
        spec_hash=digest,
        key=f"{job.video_id}/clips/{index:04d}-{digest}.mov",
        label=clip_label(spec, index, len(job.clips)),
        language=language,
        theme=theme,
        number=place if theme else 0,
        total=count if theme else 0,
    )


def plan_video(job: Job, default_theme: Theme | None = None) -> VideoPlan:
    """The clips with their keys; drawn with the job's theme, else `default_theme` (the channel's)."""
    language = job_language(job)
    theme = job.theme or default_theme
    questions = sum(1 for spec in job.clips if _counted(spec))
    number = 0
    clips = []
    for index, spec in enumerate(job.clips):
        number += _counted(spec)
        place, count = (number, questions) if _numbered(spec) else (0, 0)
        registered = KINDS.get(spec.kind)
        if theme is not None and registered is not None and registered.themed is not None:
            # The theme words the spec (a reveal's narration); with the default words it, and its key, are unchanged.
            spec = registered.themed(spec, theme, job.tts_voice)
        clips.append(_planned(job, index, spec, han_language(spec, language), theme, place, count))
    return VideoPlan(video_id=job.video_id, profile=job.profile, clips=tuple(clips), poster=job.poster)


def video_only(plan: VideoPlan) -> VideoPlan:
    """The plan with each clip's key marking a video-only intermediate, never mistaken for one with sound: the
    service renders every clip video only and builds the video's sound once, beside them."""
    keys = [replace(c, key=c.key.removesuffix(".video.mov").removesuffix(".mov") + ".video.mov") for c in plan.clips]
    return replace(plan, clips=tuple(keys))


NARRATION_TAIL_SECONDS = 0.2
"""Quiet kept after the last word, before the clip's closing fade."""


@dataclass(frozen=True)
class NarrationTake:
    """A clip's narration, synthesized ahead of the render."""

    index: int
    key: str
    """Where it is stored, relative to the work root (named by its content hash)."""
    samples: int
    """Its length at AUDIO_RATE."""
    speech: tuple[int, int] | None = None
    """Its first and last audible sample (its quiet lead and tail left out); None: not measured."""
    words: tuple[tuple[int, int, int], ...] = ()
    """Each word: (first character, length in characters, start in samples); empty when the engine does not say."""


def frames_to_hold(samples: int, fps: int) -> int:
    """Frames a clip needs to play `samples` of narration and its quiet tail."""
    return math.ceil((samples + NARRATION_TAIL_SECONDS * AUDIO_RATE) / (AUDIO_RATE // fps))


def fit_narration(job: Job, plan: VideoPlan, takes: list[NarrationTake]) -> VideoPlan:
    """The plan with each clip long enough for its narration, or a JobError naming the clip.

    A grown clip is a new spec (a longer duration), so it gets its own hash and key;
    the frames added are recorded in the plan and, through the render, in the result.
    """
    fps = plan.profile.fps
    by_index = {take.index: take for take in takes}
    clips = []
    for clip in plan.clips:
        take = by_index.get(clip.index)
        if take is None:
            clips.append(clip)
            continue
        need = frames_to_hold(take.samples, fps)
        if need <= clip.frames:
            clips.append(replace(clip, narration_key=take.key, speech=take.speech, words=take.words))
            continue
        if job.narration_fit != "grow":
            speech = take.samples / AUDIO_RATE
            raise JobError(
                f"clips[{clip.index}].narration",
                f"{speech:.2f} s of speech does not fit the {clip.frames / fps:g} s clip ({clip.label}); "
                'lengthen the clip or set narration_fit to "grow"',
            )
        grown = _planned(
            job, clip.index, replace(clip.spec, duration=need / fps), clip.language, clip.theme, clip.number, clip.total
        )
        grown = replace(grown, frames=need, grown_frames=need - clip.frames, narration_key=take.key)
        clips.append(replace(grown, speech=take.speech, words=take.words))
    return replace(plan, clips=tuple(clips))
