"""Finished clips shared across videos, addressed by what decides their bytes.

A channel's intro, outro or shared card renders the same in every video. After a
clip is rendered it is also kept under `_cache/clips/<key>.mov` in the work store
(a hard link on disk, a server-side copy on S3: never through the worker or
history); a later clip with the same key is copied from there instead of rendered.

The key hashes everything the render reads that can change the output: the spec,
frames and profile, the look (theme, numbering, Han forms), whether the clip has
sound and, if so, its narration and voice, the fonts' bytes, the encoder and its
arguments, the segment length, the ffmpeg build, the text libraries, each asset's version, and
`CACHE_VERSION` with the planner's engine version. Leaving any of them out would
hand one video another's pixels.

Entries are written whole under a private name and then renamed (on S3 the copy
lands whole), so two videos storing the same clip at once cannot corrupt it. Each
entry carries the record of its content (engine/integrity.py: a `<key>.mov.sha256`
file written before it on disk, metadata on S3), and a hit is published only once
the bytes actually read hash to it (and, on disk, show every planned frame); a bad
entry is deleted, counted `bad`, and the clip rendered and kept again. A hit refreshes the
entry's modification time: the control workers' age sweep then removes entries
unused for `RENDER_WORK_MAX_AGE_HOURS`, and `evict` keeps the whole under
`RENDER_CLIP_CACHE_GB`, least recently used first.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import hashlib
import os
import shutil
import threading
import time
from contextlib import suppress
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import structlog
from prometheus_client import Counter

from contracts.pictures import question_picture
from contracts.plan import ENGINE_VERSION, canonical_sha256, spec_material
from contracts.records import ClipWork
from contracts.themes import cache_material
from engine import integrity, metrics
from engine.deps import Deps
from engine.integrity import Content
from engine.media.encoder import choose_encoder, video_args
from engine.media.fonts import FontChain
from engine.media.graphs import Fonts
from engine.media.probe import ProbeError, counted, shows_all
from engine.media.process import run_tool
from engine.media.text import LAYOUT_VERSION
from engine.media.themed import theme_fonts
from engine.media.wordbreak import icu_version
from engine.progress import Reporter
from engine.segments import segment_frames
from engine.settings import Settings
from engine.storage import (
    FileStorage,
    ObjectMissing,
    S3Storage,
    StorageError,
    file_path,
    partial_name,
    split_s3,
)
from engine.threads import in_thread, stoppable

log = structlog.get_logger(__name__)

CACHE_VERSION = "2"
"""Bump when the cache's layout or the meaning of its key changes.

2: entries carry a content record. Entries of version 1 have none and are never looked up again: a
probe cannot vouch for them (a flipped bit in a frame passes it; on S3 they were checked by metadata
only), so each clip renders once more and the old entries age out (least recently used first)."""
PREFIX = "_cache/clips"
"""Under the work root; video ids start with a letter or digit, so no video's intermediates land here."""
S3_COPY_MAX = 5 << 30
"""The largest object one CopyObject request may copy."""

LOOKUPS = Counter("render_clip_cache", "Clip cache lookups and stores by result", ["result"])
"""result: hit (copied instead of rendered), miss, bad (an entry failed its check and was removed), store."""


@dataclass(frozen=True)
class Facts:
    """What the key needs from outside the render input: read from disk, the store and the worker."""

    encoder: str
    ffmpeg: str
    fonts: tuple[str, ...]
    """Each face the clip may be drawn with (the primary ones and the installed fallbacks) and its sha256."""
    assets: dict[str, str]
    """Version of each asset the clip reads (size, modification and change times and inode, or the S3 ETag), by URI."""
    text: str = ""
    """The libraries that shape, break and draw the clip's text (`text_libraries`): another of them may
    draw other pixels or break a line elsewhere."""


def key_material(inp: ClipWork, settings: Settings, facts: Facts) -> dict[str, Any]:
    """Everything that decides the clip's bytes, as plain data."""
    clip = inp.clip
    material: dict[str, Any] = {
        "cache": CACHE_VERSION,
        "engine": ENGINE_VERSION,
        "spec": spec_material(clip.spec),
        "frames": clip.frames,
        "profile": asdict(inp.profile),
        "look": {
            "theme": cache_material(clip.theme, clip.spec.kind) if clip.theme else None,
            "number": clip.number,
            "total": clip.total,
            "language": clip.language,
        },
        "fonts": [str(settings.render.font), str(settings.render.font_bold), *facts.fonts],
        "encoder": [facts.encoder, *video_args(facts.encoder, inp.profile, settings.render.ffmpeg_threads)],
        "segment_frames": segment_frames(inp.profile, settings.render.segment_seconds),
        "ffmpeg": facts.ffmpeg,
        "text": facts.text,
        "assets": dict(sorted(facts.assets.items())),
        "video_only": inp.video_only,
    }
    if not inp.video_only:
        # The clip's own sound: narration (stored by content, or synthesized here) and music.
        engine = inp.tts_engine or settings.speech.channels.get(inp.channel) or settings.speech.engine
        material["sound"] = {
            "narration_key": clip.narration_key,
            "voice": [inp.tts_voice, inp.tts_speed, engine, settings.speech.polly.engine],
        }
    return material


def clip_key(inp: ClipWork, settings: Settings, facts: Facts) -> str:
    return canonical_sha256(key_material(inp, settings, facts))


def asset_uris(inp: ClipWork) -> list[str]:
    """The assets the render fetches for this clip."""
    spec, theme = inp.clip.spec, inp.clip.theme
    uris = [spec.image, spec.video, question_picture(spec, theme)] + ([] if inp.video_only else [spec.audio])
    if theme is not None:
        uris += [theme.background.image, theme.background.video, theme.logo.uri if theme.logo else None]
    return [uri for uri in uris if uri]


_ffmpeg: str | None = None
_ffmpeg_lock = asyncio.Lock()
_font_digests: dict[tuple[str, int, int], str] = {}
_font_lock = threading.Lock()


async def ffmpeg_build() -> str:
    """The first line of `ffmpeg -version`, once per process: another build may encode other bytes."""
    global _ffmpeg
    async with _ffmpeg_lock:
        if _ffmpeg is None:
            code, out, _ = await run_tool("ffmpeg", "-hide_banner", "-version")
            _ffmpeg = out.decode(errors="replace").split("\n", 1)[0].strip() if code == 0 else "unknown"
        return _ffmpeg


@functools.cache
def text_libraries() -> str:
    """Pillow with the FreeType, HarfBuzz, raqm and FriBiDi it draws and shapes with, and the Python
    packages and the libicu that pick faces and break lines, with their versions."""
    from PIL import __version__ as pillow
    from PIL import features

    drawn = [f"pillow {pillow}"]
    for lib in ("freetype2", "harfbuzz", "raqm", "fribidi"):
        try:
            drawn.append(f"{lib} {features.version(lib)}")
        except ValueError:  # a Pillow too old to report it
            drawn.append(f"{lib} unknown")
    drawn += [f"{package} {metadata.version(package)}" for package in ("fonttools", "regex", "pythainlp", "pyphen")]
    drawn.append(f"icu {icu_version() or 'none'}")  # its dictionaries break Khmer, Myanmar and Lao lines
    drawn.append(f"line breaking {LAYOUT_VERSION}")
    return ", ".join(drawn)


def font_digest(path: Path) -> str:
    """sha256 of a font file, remembered while it is unchanged; 'missing' when there is none."""
    try:
        stat = path.stat()
    except OSError:
        return "missing"
    mark = (str(path), stat.st_size, stat.st_mtime_ns)
    with _font_lock:  # once per process, not once per clip starting at the same time
        if mark not in _font_digests:
            digest = hashlib.sha256()
            with open(path, "rb") as face:
                while chunk := face.read(1 << 20):
                    digest.update(chunk)
            _font_digests[mark] = digest.hexdigest()
        return _font_digests[mark]


class ClipCache:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    @property
    def enabled(self) -> bool:
        return self.deps.settings.limits.clip_cache_bytes > 0

    def entry_uri(self, key: str) -> str:
        return self.deps.settings.work_uri_for(f"{PREFIX}/{key}.mov")

    async def key(self, inp: ClipWork) -> str:
        settings = self.deps.settings
        fonts = Fonts(settings.render.font, settings.render.font_bold, inp.clip.language or None)
        if inp.clip.theme is not None:
            fonts = theme_fonts(inp.clip.theme, fonts)
        language = inp.clip.language or "zh"
        chains = [FontChain.installed(fonts.regular, language=language)]
        chains.append(FontChain.installed(fonts.bold, bold=True, language=language))
        faces = sorted({(str(path), index) for chain in chains for path, index in chain.files()})
        facts = Facts(
            encoder=await choose_encoder(settings.render.encoder),
            ffmpeg=await ffmpeg_build(),
            text=text_libraries(),
            fonts=tuple([f"{path}#{index}:{await in_thread(font_digest, Path(path))}" for path, index in faces]),
            assets={uri: await in_thread(self._version, uri) for uri in asset_uris(inp)},
        )
        return clip_key(inp, settings, facts)

    def _version(self, uri: str) -> str:
        """Changes whenever the asset's bytes do; 'missing' when it cannot be read (the render then says why)."""
        try:
            storage = self.deps.storages.for_uri(uri)
            if isinstance(storage, FileStorage):
                stat = file_path(uri).stat()
                # The change time too: a copy that keeps size and modification time (cp -p, rsync -t, an
                # unpacked archive) cannot keep it, nor the inode a rename brings. Not the device: on a
                # shared mount each worker numbers it its own way, and their keys must agree.
                return f"{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ctime_ns}:{stat.st_ino}"
            if isinstance(storage, S3Storage):
                bucket, key = split_s3(uri)
                head = storage._client.head_object(Bucket=bucket, Key=key)
                return f"{head['ContentLength']}:{head.get('ETag', '')}"
        except Exception:
            return "missing"
        return "unknown"

    async def take(self, inp: ClipWork, uri: str, beats: Reporter, key: str | None = None) -> str | None:
        """Publish the cached clip at `uri` if there is a good one; its encoder, or None to render it."""
        if not self.enabled:
            return None
        beats.stage("looking in the clip cache")
        key = key or await self.key(inp)
        encoder = await choose_encoder(self.deps.settings.render.encoder)
        entry = self.entry_uri(key)
        storage = self.deps.storages.for_uri(entry)
        try:
            if isinstance(storage, FileStorage):
                found = await self._take_file(file_path(entry), file_path(uri), inp)
            elif isinstance(storage, S3Storage):
                found = await stoppable(self._take_s3, storage, entry, uri, inp.clip.frames)
            else:  # pragma: no cover - Storages knows no other backend
                found = False
        except (OSError, StorageError) as err:
            log.warning("clip cache unreadable, rendering", entry=entry, error=str(err))
            found = False
        LOOKUPS.labels("hit" if found else "miss").inc()
        if found:
            log.info("clip taken from the cache", entry=entry, uri=uri, clip_index=inp.clip.index)
        return encoder if found else None

    async def keep(
        self, inp: ClipWork, uri: str, beats: Reporter, before: str | None = None, content: Content | None = None
    ) -> None:
        """Keep the clip just stored at `uri` for other videos; a failure here never fails the clip.

        `before` is the key taken before the assets were fetched: when an asset changed since, the clip's
        pixels may be of either version, so it is kept under neither. `content` is the record of the clip's
        bytes, kept with the entry; by default the one stored with the clip (without one, nothing is kept: an
        entry no one can check is no use).
        """
        if not self.enabled:
            return
        beats.stage("keeping the clip in the cache")
        key = await self.key(inp)
        if before is not None and key != before:
            log.warning("an asset changed while the clip rendered, not kept in the cache", uri=uri)
            return
        if content is None:
            content = await in_thread(integrity.recorded, self.deps.storages.for_uri(uri), uri)
        if content is None:
            log.warning("the clip has no content record, not kept in the cache", uri=uri)
            return
        entry = self.entry_uri(key)
        storage = self.deps.storages.for_uri(entry)
        try:
            if isinstance(storage, FileStorage):
                await in_thread(_publish_file, file_path(uri), file_path(entry), content)
            elif isinstance(storage, S3Storage):
                described = {"frames": str(inp.clip.frames)} | content.metadata()
                await in_thread(_copy_s3, storage, uri, entry, described)
            LOOKUPS.labels("store").inc()
        except (OSError, StorageError) as err:
            log.warning("clip not kept in the cache", entry=entry, error=str(err))

    async def _take_file(self, entry: Path, dest: Path, inp: ClipWork) -> bool:
        if not await in_thread(entry.is_file):
            return False
        # Link first, then check what was linked: the bytes checked are the bytes published.
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = partial_name(dest)
        try:
            await in_thread(_link_or_copy, entry, partial)
            # The record was written before the entry: an entry without one was not stored by the cache.
            record = await in_thread(integrity.read_record, entry)
            checked = await stoppable(integrity.check_file, partial, record) if record else None
            why = "no content record" if checked is None else checked.why
            if not why and not await _whole(partial, inp.clip.frames, inp.profile.fps, with_audio=not inp.video_only):
                why = "its frames or sound are not the clip's"
            if why:
                _bad(str(entry), why)
                await in_thread(_remove_if_same, entry, partial)
                return False
            assert record is not None
            await in_thread(integrity.write_record, dest, record)  # the video's own clip, checkable on resume
            await in_thread(os.replace, partial, dest)
        finally:
            partial.unlink(missing_ok=True)
        await in_thread(_touch, entry)
        return True

    def _take_s3(self, storage: S3Storage, entry: str, dest: str, frames: int, *, stop: threading.Event) -> bool:
        try:
            head = storage.head(entry)
        except ObjectMissing:
            return False
        metadata = head["metadata"]
        record = Content.from_metadata(metadata)
        # Entries are only ever written by a copy that records the frames and the content: anything else is not one.
        why = (
            ""
            if metadata.get("frames") == str(frames)
            else f"{metadata.get('frames', 'no')} frames recorded, not {frames}"
        )
        if not why and record is None:
            why = "no content record"
        if not why:
            assert record is not None
            # The bytes themselves, read and hashed (metadata survives a cut object), of this very version.
            if head["size"] != record.size:
                why = integrity.compare(record, Content("", head["size"]))
            else:
                digest, size = storage.digest(entry, stop=stop, if_match=head["etag"] or None)
                why = integrity.compare(record, Content(digest, size))
        if why:
            _bad(entry, why)
            storage.delete(entry)
            return False
        assert record is not None
        # If-Match: the copy is of the version just hashed; a replaced entry fails it (and the clip is rendered).
        _copy_s3(storage, entry, dest, record.metadata(), if_match=head["etag"] or None)
        # Copied onto itself with its metadata restated: a new modification time, the last use.
        # The clip is published already: an entry evicted meanwhile is no reason to render it.
        with suppress(StorageError):
            _copy_s3(storage, entry, entry, metadata | {"used": str(int(time.time()))})
        return True


def _bad(entry: str, why: str) -> None:
    log.warning("clip cache entry failed its check, removed; rendering the clip", entry=entry, why=why)
    LOOKUPS.labels("bad").inc()
    metrics.DAMAGED.labels("cache_entry").inc()


async def _whole(path: Path, frames: int, fps: int, *, with_audio: bool) -> bool:
    """Every planned frame there and shown, and sound exactly when the clip should have it."""
    try:
        info = await counted(path)
    except ProbeError:
        return False
    if info.video is None or info.video.packets != frames or not shows_all(info.video, frames, fps):
        return False
    return (info.audio is not None) == with_audio


def _link_or_copy(src: Path, dest: Path) -> None:
    try:
        os.link(src, dest)
    except OSError as err:
        if err.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
        shutil.copyfile(src, dest)


def _publish_file(src: Path, entry: Path, content: Content) -> None:
    """`src` under `entry` with its record (written first), appearing whole: linked (or copied) to a private
    name, then renamed."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    integrity.write_record(entry, content)
    partial = partial_name(entry)
    try:
        _link_or_copy(src, partial)
        os.replace(partial, entry)
    finally:
        partial.unlink(missing_ok=True)
    _touch(entry)


def _touch(path: Path) -> None:
    """Mark a use, of the entry and its record (the age sweep must not take one without the other); the
    entry may have been evicted meanwhile, which is fine."""
    for each in (path, integrity.record_path(path)):
        with suppress(FileNotFoundError):
            os.utime(each)


def _remove_if_same(entry: Path, checked: Path) -> None:
    """Remove a bad entry and its record, unless another video replaced it since (then it is a new one, unchecked)."""
    with suppress(FileNotFoundError):
        if os.path.samefile(entry, checked):
            entry.unlink()
            integrity.record_path(entry).unlink(missing_ok=True)


def _copy_s3(storage: S3Storage, src: str, dest: str, metadata: dict[str, str], *, if_match: str | None = None) -> None:
    """A server-side copy: the bytes never leave the store, and the object lands whole."""
    bucket, key = split_s3(src)
    dest_bucket, dest_key = split_s3(dest)
    size = storage.size(src)
    if size > S3_COPY_MAX:
        raise StorageError(f"{src} is {size} bytes, more than one copy request can take")
    # The copy gets a checksum of its own: a multipart source's composite one does not describe one whole object.
    extra: dict[str, Any] = storage._checksum() | ({"CopySourceIfMatch": if_match} if if_match else {})
    storage._call(
        dest,
        "copy",
        storage._client.copy_object,
        Bucket=dest_bucket,
        Key=dest_key,
        CopySource={"Bucket": bucket, "Key": key},
        Metadata=metadata,
        MetadataDirective="REPLACE",
        **extra,
    )


# eviction


@dataclass(frozen=True)
class Entry:
    uri: str
    size: int
    used: float


async def evict(deps: Deps, limit_bytes: int) -> int:
    """Remove the least recently used entries until the cache holds at most `limit_bytes`; how many went.

    The limit 0 (cache off) empties it: entries kept while it was on would otherwise stay until they age out.
    """
    root = deps.settings.work_uri_for(PREFIX)
    storage = deps.storages.for_uri(root)
    entries = await asyncio.to_thread(_listing, storage, root)
    total = sum(e.size for e in entries)
    removed = 0
    for entry in sorted(entries, key=lambda e: e.used):
        if total <= limit_bytes:
            break
        await asyncio.to_thread(integrity.remove, storage, entry.uri)
        total -= entry.size
        removed += 1
    if removed:
        log.info("clip cache trimmed", removed=removed, kept_bytes=total, limit_bytes=limit_bytes)
    return removed


async def cached_bytes(deps: Deps) -> int:
    """What the cache holds now, in bytes."""
    root = deps.settings.work_uri_for(PREFIX)
    storage = deps.storages.for_uri(root)
    return sum(e.size for e in await asyncio.to_thread(_listing, storage, root))


def _listing(storage: Any, root: str) -> list[Entry]:
    if isinstance(storage, FileStorage):
        found = []
        try:
            with os.scandir(file_path(root)) as listing:
                for item in listing:
                    if item.is_file(follow_symlinks=False) and item.name.endswith(".mov"):
                        with_stat = item.stat(follow_symlinks=False)
                        found.append(Entry(f"{root}/{item.name}", with_stat.st_size, with_stat.st_mtime))
        except FileNotFoundError:
            return []
        return found
    if isinstance(storage, S3Storage):
        bucket, prefix = split_s3(root)
        paginator = storage._client.get_paginator("list_objects_v2")
        return [
            Entry(f"s3://{bucket}/{item['Key']}", int(item["Size"]), item["LastModified"].timestamp())
            for page in paginator.paginate(Bucket=bucket, Prefix=f"{prefix}/")
            for item in page.get("Contents", [])
        ]
    return []  # pragma: no cover - Storages knows no other backend


__all__ = ["LOOKUPS", "PREFIX", "ClipCache", "Facts", "cached_bytes", "clip_key", "evict", "key_material"]
