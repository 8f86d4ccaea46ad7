"""Activity inputs and results: one dataclass each, so fields can be added compatibly.

History carries these records and URIs only, never media bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from contracts.job import Profile
from contracts.plan import NarrationTake, PlannedClip, VideoPlan


@dataclass(frozen=True)
class VideoFacts:
    """What the workflow itself reads of a job: a fixed handful of scalars, whatever the job's size."""

    video_id: str
    channel: str
    priority: int
    gpu_class: str | None
    max_parallel_clips: int
    output_uri: str | None
    loudness: str
    tts_voice: str
    tts_speed: float
    tts_engine: str | None
    webhook_url: str | None
    narrated_clips: int
    """Clips with narration to synthesize before the clips are sized."""


@dataclass(frozen=True)
class ValidatedJob:
    """The job as validated and planned once, recorded in history by a local activity.

    The job and its plan are stored in the work store under `plan_key` (a claim check): history holds
    this bounded record, never a record that grows with the clip count. A later, stricter contract
    cannot change what a running video already accepted: replay reads this record.
    """

    facts: VideoFacts
    plan_key: str
    """Where the job and its plan are stored, relative to the work root (named by their hash)."""
    job_hash: str
    """sha256 of the canonical job: which job a published output was rendered from."""
    clips: int
    frames: int
    fps: int
    assets: int


@dataclass(frozen=True)
class ClipTicket:
    """What the workflow needs to schedule one clip: its place, its label and its time budget."""

    index: int
    label: str
    frames: int
    timeout_seconds: float
    """Start-to-close for one attempt: frames at the slowest expected rate or the recipe's own cost."""


@dataclass(frozen=True)
class TicketsInput:
    plan_key: str
    first: int
    count: int


@dataclass(frozen=True)
class CheckJobInput:
    video_id: str
    output_uri: str | None
    plan_key: str
    """The stored job, whose assets are checked."""
    job_hash: str
    """An output this video already published from the same job is returned instead of rendered."""
    channel: str
    """Whose fairness weight to look up in the control workers' configuration."""


@dataclass(frozen=True)
class CheckJobResult:
    output_uri: str
    """The destination, resolved against the configured output root when the job gave none."""
    heartbeat_seconds: float
    """Render heartbeat timeout from the control workers' configuration, recorded in history."""
    usd_per_hour: dict[str, float]
    """Prices by GPU class, 'gpu' (unclassed) and 'cpu' (per core), from the control workers' configuration."""
    queue_wait_seconds: float
    """How long a clip may wait for a render worker before the video fails (0: no limit)."""
    fairness_weight: float
    """The channel's share of render workers (RENDER_CHANNEL_WEIGHTS), recorded in history."""
    published: VideoResult | None = None
    """This video's result when it was already published from the same job: nothing is rendered again."""


@dataclass(frozen=True)
class NarrateInput:
    video_id: str
    plan_key: str
    """The stored plan whose clips' narration is synthesized, then fitted."""
    voice: str
    speed: float
    tts_engine: str | None
    """The job's speech engine; None: the channel's or the render worker's."""
    channel: str


@dataclass(frozen=True)
class NarrateResult:
    plan_key: str
    """The fitted plan: every clip long enough for its narration."""
    frames: int
    spoken: int
    grown_frames: int
    """Frames added to the video so that no narration is cut."""
    engine: str


@dataclass(frozen=True)
class NarrationWork:
    """The engine's side of `narrate`: the texts to speak, by clip index."""

    video_id: str
    lines: list[tuple[int, str]]
    voice: str
    speed: float
    tts_engine: str | None = None
    channel: str = "default"
    voices: dict[int, str] = field(default_factory=dict)
    """A clip's own voice by clip index (its language's, or the one it names); the rest speak `voice`."""


@dataclass(frozen=True)
class Narration:
    takes: list[NarrationTake]
    """One per narration the engine could speak; a clip without one renders silent."""
    engine: str = ""


@dataclass(frozen=True)
class Loudness:
    """An EBU R128 measurement of the delivered programme."""

    integrated_lufs: float | None
    """None for a silent programme: its loudness has no finite value (strict JSON has no -Infinity)."""
    true_peak_dbtp: float | None
    range_lu: float | None
    target_lufs: float
    target_true_peak_dbtp: float


def finite(value: float) -> float | None:
    """`value`, or None when it is not a finite number: every record stays strict JSON."""
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class BuildAudioInput:
    video_id: str
    plan_key: str
    loudness: str
    voice: str
    speed: float
    tts_engine: str | None
    channel: str


@dataclass(frozen=True)
class AudioWork:
    """The engine's side of `build_audio`."""

    plan: VideoPlan
    """The fitted plan: every clip's frames, music and narration."""
    loudness: str
    voice: str
    speed: float
    tts_engine: str | None = None
    """The job's speech engine, for a narration the work store no longer holds."""
    channel: str = "default"


@dataclass(frozen=True)
class AudioResult:
    uri: str
    """The finished AAC track in the work store, exactly as long as the plan."""
    loudness: Loudness
    cpu_seconds: float = 0.0


@dataclass(frozen=True)
class RenderClipInput:
    video_id: str
    plan_key: str
    index: int
    """The clip, read from the stored plan: its spec never travels through history."""
    tts_voice: str
    tts_speed: float
    tts_engine: str | None
    channel: str


@dataclass(frozen=True)
class ClipWork:
    """The engine's side of `render_clip`: one planned clip and how to voice it."""

    video_id: str
    clip: PlannedClip
    profile: Profile
    tts_voice: str
    tts_speed: float
    tts_engine: str | None = None
    """The job's speech engine; None: the channel's or the render worker's (RENDER_TTS_CHANNELS, RENDER_TTS)."""
    channel: str = "default"
    video_only: bool = False
    """The video's sound is built once elsewhere: render no audio track for this clip."""


@dataclass(frozen=True)
class ClipResult:
    index: int
    uri: str
    frames: int
    encoder: str
    render_seconds: float
    skipped: bool
    """True when a finished intermediate was found and reused instead of rendered."""
    narration: str = "none"
    """'tts', 'asset', 'none' (silent track), or 'track' (video only: the sound is built once for the video)."""
    reused_frames: int = 0
    """Frames taken from verified checkpoints of an earlier attempt instead of rendered again."""
    attempt: int = 1
    gpu_seconds: float = 0.0
    """Seconds this attempt held an NVENC session (0 on the CPU encoder)."""
    cpu_seconds: float = 0.0
    """CPU time of this attempt's ffmpeg processes."""
    grown_frames: int = 0
    """Frames the plan added to this clip so that its narration is never cut."""
    from_cache: bool = False
    """Copied from the clip cache (the same clip rendered for another video), not rendered."""


@dataclass(frozen=True)
class ConcatInput:
    video_id: str
    plan_key: str
    """The clips, their lengths and the poster's time are read from the stored plan, their encoders from
    the clip records the renders stored."""
    audio_uri: str


@dataclass(frozen=True)
class ConcatWork:
    """The engine's side of `concat_clips`."""

    video_id: str
    clip_uris: list[str]
    fps: int
    expected_frames: int
    clip_encoders: list[str] = field(default_factory=list)
    """Each clip's encoder as its render reported it ('reused' when unknown)."""
    poster_seconds: float | None = None
    """Take the poster at this time of the joined video; None: no poster."""
    clip_frames: list[int] = field(default_factory=list)
    """Each clip's planned frames, so each lasts exactly that long (read from the clips when absent)."""
    loudness: str | None = None
    """A key of LOUDNESS_TARGETS: the programme is brought to it; None leaves the mix as rendered."""
    audio_uri: str | None = None
    """The video's finished AAC track: the clips are video only and are muxed with it, nothing encoded."""


@dataclass(frozen=True)
class ConcatResult:
    uri: str
    frames: int
    reencoded: bool
    """True when the clips' codec parameters differed and the video was re-encoded."""
    cpu_seconds: float = 0.0
    poster_uri: str = ""
    """The poster JPEG in the work store ('' when none was asked for)."""
    loudness: Loudness | None = None
    """The delivered audio as measured after encoding."""


@dataclass(frozen=True)
class UploadInput:
    video_id: str
    source_uri: str
    output_uri: str
    job_hash: str = ""
    """Written to the output's manifest: the output belongs to this video and this job."""
    result: VideoResult | None = None
    """The video's result (bytes filled in on publish), kept in the manifest for a restart of a completed id."""
    poster_source_uri: str = ""
    """The poster in the work store, published beside the video ('' when there is none)."""
    plan_key: str = ""
    """The stored plan: the manifest lists every clip's record ('' lists none)."""


@dataclass(frozen=True)
class UploadResult:
    output_uri: str
    bytes: int
    poster_uri: str = ""
    manifest_uri: str = ""
    caption_uri: str = ""
    srt_uri: str = ""


@dataclass(frozen=True)
class DiscardInput:
    video_id: str
    output_uri: str | None = None
    """Also unpublish this output, if this video's manifest claims it (a cancel that raced the upload)."""


@dataclass(frozen=True)
class VideoResult:
    video_id: str
    output_uri: str
    duration_s: float
    frames: int
    bytes: int
    encoder: str
    reencoded_at_concat: bool
    clips: int = 0
    manifest_uri: str = ""
    """`<output>.render.json`: every clip's record, beside the video (the result stays a bounded summary)."""
    gpu_seconds: float = 0.0
    cpu_seconds: float = 0.0
    cost_usd: float = 0.0
    costliest_clips: list[str] = field(default_factory=list)
    """At most three clips that cost most, most expensive first, e.g. 'clip 3/10 · recipe mandelbrot · 4 s: $0.0012'."""
    poster_uri: str = ""
    """A JPEG of the poster frame (the first reveal, else the first clip's middle), beside the video."""
    loudness: Loudness | None = None
    """The delivered programme's EBU R128 loudness and its target."""
    clips_from_cache: int = 0
    """Clips copied from the clip cache instead of rendered."""
    cache_hit_rate: float = 0.0
    """clips_from_cache as a share of the video's clips."""
    caption_uri: str = ""
    """`<output>.vtt`: WebVTT captions, one cue per narration ('' when nothing is narrated or none were asked for)."""
    srt_uri: str = ""
    """`<output>.srt`: the same cues as SubRip, when the job's `captions` asks for it."""


@dataclass(frozen=True)
class WebhookInput:
    url: str
    body: dict[str, Any]


@dataclass
class Progress:
    """What the `progress` query returns."""

    stage: str = "validating"
    clips_total: int = 0
    clips_done: int = 0
    frames_total: int = 0
    frames_done: int = 0
    error: str | None = None
    notify_error: str | None = None
    """Why the completion webhook could not be started; the render itself stands."""
