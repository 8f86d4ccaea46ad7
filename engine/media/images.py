"""Image assets: capped in pixels from the header alone, then scaled once to the frame size.

A 250 KB PNG can declare 16000x16000 pixels; decoded, that is 1 GB (4 GB as RGBA), and a
card loops its image, so ffmpeg would decode it again for every frame. The header is read
with Pillow (`Image.open` reads only the header), the cap is enforced before anything decodes
the file, and Pillow makes the frame-sized PNG the render loops: ffmpeg never reads the asset.
"""

from __future__ import annotations

import asyncio
import re
import warnings
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from contracts.job import Profile
from engine.errors import BadAsset

STILL_FORMATS = {"PNG", "JPEG", "MPO", "WEBP", "BMP", "TIFF"}
"""What an image asset may be: formats both Pillow (the header check) and ffmpeg's image demuxers read."""
_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")


def pixel_cap(megapixels: float) -> int:
    return int(megapixels * 1_000_000)


def check_image_pixels(path: Path, name: str, megapixels: float) -> tuple[int, int]:
    """The image's (width, height) from its header; BadAsset naming `name` beyond the cap.

    Only the header is read. Pillow's own guard (its module-wide `MAX_IMAGE_PIXELS`, left as it is:
    other code in the process opens images too) refuses a far larger header before building the image
    object, and the pixel count then comes from its message.
    """
    cap = pixel_cap(megapixels)
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


def upright(image: Image.Image) -> Image.Image:
    """The opened image decoded as it is meant to be seen: its first frame, turned upright as its EXIF
    orientation says (a phone's portrait photo is stored on its side, and ffmpeg shows an image clip
    upright), 16-bit grey scaled to 8 bits rather than clipped. Every still the engine draws with Pillow
    (image clips' frames, theme backgrounds, logos, question pictures) goes through here."""
    image.load()  # the first image only, at the size its header declared (and the cap allowed)
    source = ImageOps.exif_transpose(image)
    if source.mode.startswith("I;16") or source.mode == "I":
        source = source.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    return source


def _fit(path: Path, size: tuple[int, int], background: str, dest: Path) -> None:
    with Image.open(path) as image:
        alpha = "A" in image.getbands() or "transparency" in image.info
        picture = upright(image).convert("RGBA" if alpha else "RGB")
    fitted = ImageOps.contain(picture, size, Image.Resampling.BICUBIC)
    canvas = Image.new(picture.mode, size, "#" + background.lstrip("#"))
    canvas.paste(fitted, ((size[0] - fitted.width) // 2, (size[1] - fitted.height) // 2))
    canvas.save(dest, "PNG", compress_level=1)


async def frame_sized(path: Path, profile: Profile, background: str, dest: Path) -> Path:
    """The image scaled and padded to the frame, as a PNG at `dest`: decoded once, not once per frame.

    Pillow decodes and writes it, so ffmpeg only ever reads a PNG of the frame's size: a file
    that hides a second, larger image after the first one's end (which ffmpeg's demuxer would
    decode) is never handed to ffmpeg.
    """
    try:
        await asyncio.to_thread(_fit, path, (profile.width, profile.height), background, dest)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise BadAsset(f"image could not be scaled: {str(err)[-300:]}") from None
    return dest


def write_picture(path: Path, image: Image.Image) -> None:
    """A drawn picture written for ffmpeg to read once, speed over size: a `.bmp` (a motion frame, one of dozens)
    uncompressed, ten times faster to write than the fastest PNG; anything else as a PNG compressed fast."""
    if path.suffix == ".bmp":
        image.save(path, "BMP")
    else:
        image.save(path, "PNG", compress_level=1)
