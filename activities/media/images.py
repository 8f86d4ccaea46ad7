"""Image assets: capped in pixels from the header alone, then scaled once to the frame size.

A 250 KB PNG can declare 16000x16000 pixels; decoded, that is 1 GB (4 GB as RGBA), and a
card loops its image, so ffmpeg would decode it again for every frame. The header is read
with Pillow (`Image.open` reads only the header), the cap is enforced before ffmpeg sees
the file, and the render then loops a frame-sized PNG made once in scratch.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from activities.errors import BadAsset
from activities.media.process import run_tool
from contracts.job import Profile

STILL_FORMATS = {"PNG", "JPEG", "MPO", "WEBP", "BMP", "TIFF"}
"""What an image asset may be: formats both Pillow (the header check) and ffmpeg's image demuxers read."""
_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")


def pixel_cap(megapixels: float) -> int:
    return int(megapixels * 1_000_000)


def check_image_pixels(path: Path, name: str, megapixels: float) -> tuple[int, int]:
    """The image's (width, height) from its header; BadAsset naming `name` beyond the cap.

    Pillow's own guard is set to the same cap: past twice the cap, `Image.open` refuses
    before building the image object, and the pixel count comes from its message.
    """
    cap = pixel_cap(megapixels)
    Image.MAX_IMAGE_PIXELS = cap
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                kind = image.format
    except Image.DecompressionBombError as err:
        found = _BOMB_PIXELS.search(str(err))
        pixels = f"{int(found.group(1))} pixels" if found else "its pixels"
        raise BadAsset(f"{name}: {pixels} exceed the {megapixels:g} MP cap") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        kind = None
    if kind not in STILL_FORMATS:
        # Refused here, not left to ffmpeg: it reads formats whose headers nothing above has checked.
        raise BadAsset(f"{name} is not readable media: not a still image (PNG, JPEG, WebP, BMP or TIFF)")
    if width * height > cap:
        raise BadAsset(f"{name}: {width}x{height} pixels exceed the {megapixels:g} MP cap")
    return width, height


async def frame_sized(path: Path, profile: Profile, background: str, dest: Path) -> Path:
    """The image scaled and padded to the frame, as a PNG at `dest`: decoded once, not once per frame."""
    size = f"{profile.width}:{profile.height}"
    graph = (
        f"scale={size}:force_original_aspect_ratio=decrease,"
        f"pad={size}:(ow-iw)/2:(oh-ih)/2:color=0x{background.lstrip('#')},setsar=1"
    )
    code, _, err = await run_tool(
        "ffmpeg", "-v", "error", "-nostdin", "-y", "-i", str(path), "-frames:v", "1", "-vf", graph, str(dest)
    )
    if code != 0:
        raise BadAsset(f"image could not be scaled: {err.decode(errors='replace').strip()[-300:]}")
    return dest
