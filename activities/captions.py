"""Captions beside every narrated video: `<output>.vtt` (WebVTT), and `<output>.srt` (SubRip) on request.

One cue per narration, timed from the fitted plan: the clip's start in the published video (the whole
frames before it, as the sound track is built) plus where its narration's speech starts and ends, measured
on the levelled take when it was synthesized. Cue text is the job's own narration, written literally: UTF-8
in the order it is stored (right-to-left and CJK text as typed, never reordered), escaped so no text can
end a cue or read as markup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from activities.manifest import Manifest
from activities.plans import PlanLost, PlanStore
from contracts.job import AUDIO_RATE
from contracts.plan import VideoPlan, samples_for
from engine.deps import Deps
from engine.threads import in_thread, stoppable

SUFFIXES = {"vtt": ".vtt", "srt": ".srt"}
"""Each caption format's file, beside the video and named from its whole name like its poster and manifest."""
LINE_BREAKS = re.compile("\r\n|[\r\n\u2028\u2029\x85\x0b\x0c]")
WORD_JOINER = "\u2060"
"""Invisible, and not a break: put inside what an SRT player would read as a tag, an arrow or an override."""
SRT_MARKUP = re.compile(r"(-->|<|\{)")


@dataclass(frozen=True)
class Cue:
    start_ms: int
    end_ms: int
    text: str
    """One or more lines, none of them blank."""
    words: tuple[tuple[int, int], ...] = ()
    """(character in `text`, ms) where each spoken word after the first starts, when the engine said: WebVTT
    marks them (`<00:00:01.250>`) so a player can highlight the word being spoken; SubRip has no such mark."""


def caption_uri(output_uri: str, fmt: str) -> str:
    """`show/ep1.mp4` → `show/ep1.mp4.vtt`: from the whole name, so `ep1.mp4` and `ep1.mov` never share one."""
    return output_uri + SUFFIXES[fmt]


def cue_text(text: str) -> str:
    """The narration as cue lines: its own line breaks kept, blank lines (which would end a cue) left out."""
    lines = (line.strip() for line in LINE_BREAKS.split(text.replace("\x00", "\ufffd")))
    return "\n".join(line for line in lines if line)


def caption_cues(plan: VideoPlan) -> list[Cue]:
    """One cue per narrated clip whose speech was measured, from its first audible sample to its last."""
    fps = plan.profile.fps
    cues: list[Cue] = []
    start = 0
    for clip in plan.clips:
        text = cue_text(clip.spec.narration or "")
        if clip.speech is not None and clip.narration_key and text:
            base, clip_end = samples_for(start, fps), samples_for(clip.frames, fps)
            first, last = clip.speech[0], min(clip.speech[1], clip_end)
            if last > first:
                start_ms, end_ms = _ms(base + first), _ms(base + last)
                cues.append(Cue(start_ms, end_ms, text, _word_marks(clip.spec.narration or "", text, clip.words,
                                                                      base, start_ms, end_ms)))  # fmt: skip
        start += clip.frames
    return cues


def _word_marks(
    spoken: str, text: str, words: tuple[tuple[int, int, int], ...], base: int, start_ms: int, end_ms: int
) -> tuple[tuple[int, int], ...]:
    """Each word's start inside the cue, strictly after the cue's start and before its end, rising; none when the
    cue's text is not the spoken text as it was (a narration of several lines keeps its plain cue)."""
    if text != spoken:
        return ()
    marks: list[tuple[int, int]] = []
    for first_char, _, sample in words:
        at = _ms(base + sample)
        if 0 < first_char < len(text) and start_ms < at < end_ms and (not marks or at > marks[-1][1]):
            marks.append((first_char, at))
    return tuple(marks)


def vtt_text(cue: Cue) -> str:
    """The cue's text, escaped, with a timestamp before each marked word."""
    parts, last = [], 0
    for char, at in cue.words:
        parts += [vtt_escape(cue.text[last:char]), f"<{_clock(at, '.')}>"]
        last = char
    return "".join([*parts, vtt_escape(cue.text[last:])])


def _ms(samples: int) -> int:
    return round(samples * 1000 / AUDIO_RATE)


def _clock(ms: int, separator: str) -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{separator}{millis:03d}"


def vtt_escape(text: str) -> str:
    """WebVTT cue text: `&`, `<` and `>` as character references (so `-->` and tags are only text)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def srt_escape(text: str) -> str:
    """SubRip has no escapes: a word joiner inside `-->`, `<` and `{` keeps players from reading a timing line,
    an HTML tag or an ASS override in the text, and shows it unchanged."""
    return SRT_MARKUP.sub(lambda match: "--" + WORD_JOINER + ">" if match[0] == "-->" else match[0] + WORD_JOINER, text)


def to_webvtt(cues: list[Cue]) -> str:
    blocks = [f"{n}\n{_clock(c.start_ms, '.')} --> {_clock(c.end_ms, '.')}\n{vtt_text(c)}\n" for n, c in
              enumerate(cues, 1)]  # fmt: skip
    return "\n".join(["WEBVTT\n", *blocks])


def to_subrip(cues: list[Cue]) -> str:
    blocks = [f"{n}\n{_clock(c.start_ms, ',')} --> {_clock(c.end_ms, ',')}\n{srt_escape(c.text)}\n" for n, c in
              enumerate(cues, 1)]  # fmt: skip
    return "".join(block + "\n" for block in blocks)  # every cue ends in a blank line


WRITERS = {"vtt": to_webvtt, "srt": to_subrip}


async def publish_captions(
    deps: Deps, plans: PlanStore, plan_key: str, output_uri: str, manifest: Manifest | None, tmp: Path
) -> dict[str, str]:
    """Write the job's caption files beside the video; each format's URI (none for a video nobody narrates).

    Safe to retry: the files are made from the stored plan, the same every time, and overwrite what an
    earlier attempt wrote; once the plan has gone with the intermediates, the manifest this upload already
    wrote says what was published.
    """
    if not plan_key:
        return {}
    try:
        job, plan = await plans.job(plan_key), await plans.plan(plan_key)
    except PlanLost:
        if manifest is None or manifest.result is None:
            raise
        done = {"vtt": manifest.result.caption_uri, "srt": manifest.result.srt_uri}
        return {fmt: uri for fmt, uri in done.items() if uri}
    cues = caption_cues(plan)
    published = {}
    storage = deps.storages.for_uri(output_uri)
    for fmt in SUFFIXES:
        uri = caption_uri(output_uri, fmt)
        if not cues or fmt not in job.captions:
            # A format this video does not publish: one left by an earlier video of this output (a run stopped
            # between its captions and its manifest) must not sit beside this one.
            await in_thread(storage.delete, uri)
            continue
        local = tmp / f"captions{SUFFIXES[fmt]}"
        local.write_text(WRITERS[fmt](cues), encoding="utf-8", newline="\n")
        await stoppable(storage.upload, local, uri)
        published[fmt] = uri
    return published


async def unpublish_captions(deps: Deps, output_uri: str) -> int:
    """Remove every caption file a video of this output may have published; how many there were."""
    storage = deps.storages.for_uri(output_uri)
    removed = 0
    for fmt in SUFFIXES:
        removed += int(await in_thread(storage.delete, caption_uri(output_uri, fmt)))
    return removed
