"""The clip cache's key against assets whose bytes change under the same URI: a theme's background video,
a file rewritten with its size and modification time kept, and an asset changed while the clip renders."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
from temporalio.testing import ActivityEnvironment

from activities.keeper import Beat, Heartbeats
from contracts.records import ClipWork
from contracts.themes import BUILTIN_THEMES
from engine import clip_cache
from engine.clip_cache import PREFIX, ClipCache, Facts, clip_key, text_libraries
from engine.integrity import content_of, write_record
from engine.settings import Settings, file_uri
from tests.test_clip_cache import INTRO, cache_deps
from tests.test_render_engine import clip_inputs


def themed(inp: ClipWork, video: str) -> ClipWork:
    theme = BUILTIN_THEMES["midnight"]
    theme = dataclasses.replace(theme, background=dataclasses.replace(theme.background, image=None, video=video))
    return dataclasses.replace(inp, clip=dataclasses.replace(inp.clip, theme=theme))


async def test_the_key_follows_the_theme_background_videos_bytes(tmp_path: Path, settings: Settings) -> None:
    """Another loop at the same URI draws other pixels behind the card: it must not be a hit."""
    deps = cache_deps(tmp_path, settings)
    video = tmp_path / "loop.mp4"
    video.write_bytes(b"first loop")
    [inp] = clip_inputs("key-loop", [INTRO])
    inp = themed(inp, file_uri(video))
    cache = ClipCache(deps)
    first = await cache.key(inp)
    video.write_bytes(b"another loop, longer")
    assert await cache.key(inp) != first


async def test_the_key_follows_bytes_rewritten_with_size_and_time_kept(tmp_path: Path, settings: Settings) -> None:
    """`cp -p`, `rsync -t` or an unpacked archive put other bytes under the same size and modification time."""
    deps = cache_deps(tmp_path, settings)
    image = tmp_path / "bg.png"
    image.write_bytes(b"one picture")
    [inp] = clip_inputs("key-kept-time", [{**INTRO, "image": file_uri(image)}])
    cache = ClipCache(deps)
    first = await cache.key(inp)
    kept = image.stat()
    replacement = tmp_path / "new.png"
    replacement.write_bytes(b"two picture")  # same length
    os.utime(replacement, ns=(kept.st_atime_ns, kept.st_mtime_ns))
    os.replace(replacement, image)
    assert (image.stat().st_size, image.stat().st_mtime_ns) == (kept.st_size, kept.st_mtime_ns)
    assert await cache.key(inp) != first


async def test_a_clip_whose_asset_changed_while_it_rendered_is_not_kept(tmp_path: Path, settings: Settings) -> None:
    """Its pixels may be of the old bytes while the key after the render names the new ones."""
    deps = cache_deps(tmp_path, settings)
    image = tmp_path / "bg.png"
    image.write_bytes(b"old picture")
    [inp] = clip_inputs("keep-race", [{**INTRO, "image": file_uri(image)}])
    cache = ClipCache(deps)
    clip = tmp_path / "work" / "clip.mov"
    clip.write_bytes(b"a clip drawn on the old picture")
    write_record(clip, content_of(clip))  # as the render stores it
    entries = tmp_path / "work" / PREFIX

    async def keep(before: str) -> None:
        await cache.keep(inp, file_uri(clip), Heartbeats(Beat()), before)

    before = await cache.key(inp)
    image.write_bytes(b"new picture, another size")
    await ActivityEnvironment().run(keep, before)
    assert not entries.exists() or not any(entries.iterdir())
    await ActivityEnvironment().run(keep, await cache.key(inp))  # unchanged throughout: kept
    assert len(list(entries.glob("*.mov"))) == 1


async def test_the_key_follows_the_libraries_that_draw_the_text(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another Pillow, FreeType or line-breaking dictionary may draw other pixels or break a line elsewhere."""
    [inp] = clip_inputs("key-text", [INTRO])
    facts = Facts(encoder="libx264", ffmpeg="ffmpeg version 6", fonts=(), assets={}, text=text_libraries())
    assert (
        "pillow " in facts.text and "freetype2 " in facts.text and "pythainlp " in facts.text and "icu " in facts.text
    )
    base = clip_key(inp, settings, facts)
    assert clip_key(inp, settings, dataclasses.replace(facts, text=facts.text.replace("pillow ", "pillow 0"))) != base
    cache = ClipCache(cache_deps(tmp_path, settings))
    installed = await cache.key(inp)
    monkeypatch.setattr(clip_cache, "text_libraries", lambda: "pillow 0.0")
    assert await cache.key(inp) != installed


def test_an_assets_version_is_the_same_on_every_worker(tmp_path: Path, settings: Settings) -> None:
    """Workers mount a shared store under device numbers of their own: the version must not name the device."""
    image = tmp_path / "bg.png"
    image.write_bytes(b"one picture")
    version = ClipCache(cache_deps(tmp_path, settings))._version(file_uri(image))
    stat = image.stat()
    assert version.split(":") == [str(v) for v in (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)]
