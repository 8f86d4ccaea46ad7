"""render_clip: one planned clip → one intermediate in the work store."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from temporalio import activity

from activities.common import Deps, fetch_asset, scratch, temporal_errors
from activities.logs import activity_log
from activities.media.encoder import choose_encoder, video_args
from activities.media.graphs import ClipInputs, Fonts, build_clip_command
from activities.media.probe import ProbeError, probe
from activities.media.process import run_ffmpeg
from activities.tts import TtsEngine, make_tts
from contracts import names
from contracts.records import ClipResult, RenderClipInput


class RenderActivities:
    def __init__(self, deps: Deps, tts: TtsEngine | None = None) -> None:
        self.deps = deps
        self.tts = tts or make_tts(deps.settings.tts)

    @activity.defn(name=names.RENDER_CLIP)
    async def render_clip(self, inp: RenderClipInput) -> ClipResult:
        clip = inp.clip
        log = activity_log(clip_index=clip.index, video_id=inp.video_id)
        uri = self.deps.settings.work_uri_for(clip.key)
        storage = self.deps.storages.for_uri(uri)
        started = time.monotonic()
        with temporal_errors():
            if await self._finished(uri, clip.frames):
                # Same video id + same spec hash = same pixels: never render it twice.
                log.info("clip already rendered, reusing", uri=uri)
                return ClipResult(clip.index, uri, clip.frames, "reused", 0.0, skipped=True)
            encoder = await choose_encoder(self.deps.settings.encoder)
            async with scratch(self.deps.settings, f"{inp.video_id}-{clip.index}") as tmp:
                inputs, narration = await self._inputs(inp, tmp)
                text_dir = tmp / "text"
                text_dir.mkdir()
                command = build_clip_command(
                    clip.spec,
                    inp.profile,
                    clip.frames,
                    inputs=inputs,
                    fonts=Fonts(self.deps.settings.font, self.deps.settings.font_bold),
                    video_args=video_args(encoder, inp.profile, self.deps.settings.ffmpeg_threads),
                    text_dir=text_dir,
                    output=tmp / "clip.mov",
                )
                for path, text in command.text_files.items():
                    path.write_text(text, encoding="utf-8")
                log.info("rendering clip", label=clip.label, frames=clip.frames, encoder=encoder)

                def heartbeat(frames_done: int) -> None:
                    activity.heartbeat({"frames_done": frames_done, "frames_total": clip.frames})

                await run_ffmpeg(command.args, heartbeat)
                await asyncio.to_thread(storage.upload, tmp / "clip.mov", uri)
        seconds = time.monotonic() - started
        log.info("clip rendered", seconds=round(seconds, 3), fps=round(clip.frames / max(seconds, 1e-6), 1))
        return ClipResult(clip.index, uri, clip.frames, encoder, round(seconds, 3), skipped=False, narration=narration)

    async def _finished(self, uri: str, frames: int) -> bool:
        storage = self.deps.storages.for_uri(uri)
        if not await asyncio.to_thread(storage.exists, uri):
            return False
        local = storage.local_path(uri)
        if local is None:
            return True  # object stores publish whole objects only
        try:
            info = await probe(local)
        except ProbeError:
            return False
        return info.video is not None and info.video.packets == frames

    async def _inputs(self, inp: RenderClipInput, tmp: Path) -> tuple[ClipInputs, str]:
        spec = inp.clip.spec
        image = await fetch_asset(self.deps, spec.image, tmp / "image", "image") if spec.image else None
        audio = await fetch_asset(self.deps, spec.audio, tmp / "audio", "audio") if spec.audio else None
        narration: Path | None = None
        if spec.narration:
            wav = tmp / "narration.wav"
            if await self.tts.synthesize(spec.narration, inp.tts_voice, inp.tts_speed, wav):
                narration = wav
        kind = "tts" if narration else "asset" if audio else "none"
        return ClipInputs(image=image, audio=audio, narration=narration), kind
