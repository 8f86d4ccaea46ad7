"""What the engine's work shares: its dependencies, scratch space, fetching and checking assets.

Nothing here knows Temporal: `activities.common` maps the errors raised here (and by the rest of the
engine) onto the activities' failures.
"""

from __future__ import annotations

import asyncio
import errno
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from engine.errors import BadAsset
from engine.media.images import check_image_pixels
from engine.media.probe import ProbeError, decode_check
from engine.media.process import FfmpegError, use_home
from engine.scratch import child_home, process_dir
from engine.settings import Settings
from engine.storage import Storages, confine
from engine.threads import stoppable

SCRATCH_FULL_BYTES = 1 << 20
"""Less free scratch space than this when an activity fails: the full disk is why."""
FFMPEG_DISK_FULL = "No space left on device"


@dataclass
class Deps:
    settings: Settings
    storages: Storages

    @classmethod
    def from_settings(cls, settings: Settings) -> Deps:
        use_home(child_home(settings.storage.scratch_dir))
        return cls(settings, Storages(settings.storage.s3.endpoint_url, settings.storage.s3.region))


def says_disk_full(err: BaseException) -> bool:
    if isinstance(err, OSError):
        return err.errno == errno.ENOSPC
    return isinstance(err, FfmpegError) and FFMPEG_DISK_FULL in err.stderr_tail


@asynccontextmanager
async def scratch(settings: Settings, prefix: str) -> AsyncIterator[Path]:
    """A private working directory, removed whatever happens (success, failure, cancel).

    It lives in this process's own scratch directory, so if the process is
    killed before it can clean up, the next worker on the node removes it.
    """
    path = Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=process_dir(settings.storage.scratch_dir)))
    try:
        yield path
    except Exception as err:
        # ffmpeg 5.1 can lose writes to a full disk and still exit 0, so the failure
        # shows up later and looks like something else (a short clip, a bad join).
        # Whatever failed, a full scratch disk is the reason to report: a retry,
        # perhaps on another worker, has a chance.
        if not says_disk_full(err):
            usage = await asyncio.to_thread(shutil.disk_usage, path)
            if usage.free < SCRATCH_FULL_BYTES:
                where = f"{settings.storage.scratch_dir}: {usage.free} of {usage.total} bytes free"
                seen = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
                raise OSError(errno.ENOSPC, f"the scratch disk is full ({where}); it caused: {seen}") from err
        raise
    finally:
        await asyncio.to_thread(shutil.rmtree, path, True)


async def fetch(deps: Deps, uri: str, dest: Path) -> Path:
    """A local path for `uri`: the file itself when on local disk, else a copy in `dest`."""
    storage = deps.storages.for_uri(uri)
    local = storage.local_path(uri)
    if local is not None and "%" in str(local):
        # ffmpeg's image demuxer reads `%` in a file name as a frame-number pattern: a link without one reads it.
        dest.unlink(missing_ok=True)
        dest.symlink_to(local)
        return dest
    if local is not None:
        return local
    await stoppable(storage.download, uri, dest)
    return dest


async def check_asset_size(deps: Deps, uri: str, what: str) -> None:
    """Refuse an asset larger than the budget before any of it is fetched."""
    limit = deps.settings.limits.budget.asset_megabytes
    size = await asyncio.to_thread(deps.storages.for_uri(uri).size, uri)
    if size > limit * 1e6:
        raise BadAsset(f"{what} {uri} is {size / 1e6:.1f} MB; the limit is {limit:g} MB an asset")


async def fetch_asset(deps: Deps, uri: str, dest: Path, kind: str) -> Path:
    """Fetch an image or audio asset and prove ffmpeg can read it, naming the asset if not."""
    confine(uri, deps.settings.storage.asset_roots, f"{kind} asset")
    storage = deps.storages.for_uri(uri)
    if not await asyncio.to_thread(storage.exists, uri):
        raise BadAsset(f"{kind} asset {uri} does not exist")
    await check_asset_size(deps, uri, f"{kind} asset")
    path = await fetch(deps, uri, dest)
    if kind == "image":
        # Before ffmpeg sees it: a small file may declare billions of pixels.
        name = f"image asset {uri[:200]}"
        await asyncio.to_thread(check_image_pixels, path, name, deps.settings.limits.budget.image_megapixels)
    try:
        await decode_check(path, kind)
    except ProbeError as err:
        raise BadAsset(f"{kind} asset {uri} is not readable media: {err}") from None
    return path
