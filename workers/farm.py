"""This worker's farm fingerprint, and the check against its farm's record (runtime.farm) at start."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import structlog
from temporalio.client import Client

from contracts.themes import BUILTIN_THEMES
from engine.clip_cache import ffmpeg_build, font_digest
from engine.media.fonts import CJK_INDEX, FontChain
from engine.media.themed import font_path
from engine.settings import Settings
from runtime import farm
from runtime.versioning import Build, source_build_id

log = structlog.get_logger(__name__)


def font_files(settings: Settings) -> list[Path]:
    """Every face the text engine may draw with: the chains of the worker's fonts and the built-in themes'."""
    primaries = {(settings.render.font, False), (settings.render.font_bold, True)}
    for theme in BUILTIN_THEMES.values():
        primaries |= {(p, False) for p in [font_path(theme.font, False)] if p}
        primaries |= {(p, True) for p in [font_path(theme.font_bold, True)] if p}
    files = {settings.render.font, settings.render.font_bold}  # a configured font that is missing counts too
    for primary, bold in primaries:
        for language in CJK_INDEX:
            files |= {face.path for face in FontChain.installed(primary, bold=bold, language=language).faces}
    return sorted(files)


def font_set(settings: Settings) -> str:
    """`<n> files, sha256 <16 hex digits>` over the files' contents (not their paths: the same fonts installed
    elsewhere draw the same pixels)."""
    files = font_files(settings)
    digests = sorted(font_digest(path) for path in files)
    return f"{len(files)} files, sha256 {hashlib.sha256(' '.join(digests).encode()).hexdigest()[:16]}"


async def fingerprint(settings: Settings) -> dict[str, str]:
    """What must agree across the farm (runtime.farm.SETTINGS), as this worker has it."""
    return {
        "work_uri": settings.storage.work_uri,
        "output_roots": ",".join(settings.storage.output_roots),
        "asset_roots": ",".join(settings.storage.asset_roots),
        "fonts": await asyncio.to_thread(font_set, settings),
        "ffmpeg": (await ffmpeg_build()).split(" Copyright")[0],
        "engine": source_build_id(),
    }


async def join_farm(client: Client, build: Build | None, settings: Settings) -> farm.FarmRecord:
    """Write the farm's record or check this worker against it; FarmMismatch names each difference."""
    mine = await fingerprint(settings)
    record, wrote = await farm.join(client, build.key if build else None, mine)
    if wrote:
        log.info("wrote the farm record: workers of this build must share these settings",
                 record=record.record, **mine)  # fmt: skip
    else:
        log.info("this worker matches its farm", record=record.record, written_by=record.written_by)
    return record
