"""Encoder choice: NVENC only when a real probe encode succeeds, else libx264 with matched settings.

A GPU being present proves nothing: H100, H200 and A100 have no NVENC, and a
container without `video` in NVIDIA_DRIVER_CAPABILITIES cannot open it.
"""

from __future__ import annotations

import asyncio

from contracts.job import Profile
from engine.media.process import run_tool

NVENC = "h264_nvenc"
X264 = "libx264"
PROBE_ARGS = ("-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "color=s=256x256:d=0.1", "-frames:v", "1")

_probed: dict[str, bool] = {}
_probe_lock = asyncio.Lock()


async def encoder_works(name: str) -> bool:
    """One tiny frame through `name` to the null muxer, cached per process."""
    async with _probe_lock:
        if name not in _probed:
            code, _, _ = await run_tool("ffmpeg", *PROBE_ARGS, "-c:v", name, "-f", "null", "-")
            _probed[name] = code == 0
        return _probed[name]


async def choose_encoder(preference: str) -> str:
    if preference in (NVENC, X264):
        return preference
    return NVENC if await encoder_works(NVENC) else X264


def gop_frames(profile: Profile) -> int:
    """A closed GOP of two seconds: every clip and segment starts on a keyframe."""
    return 2 * profile.fps


def colour_tags(profile: Profile) -> list[str]:
    """BT.709 limited range for HD and above, BT.601 (SMPTE 170M) below: what the frames were converted with."""
    space = "bt709" if profile.height >= 720 else "smpte170m"
    return ["-colorspace", space, "-color_primaries", space, "-color_trc", space, "-color_range", "tv"]


def video_args(encoder: str, profile: Profile, threads: int = 0, gpu: int | None = None) -> list[str]:
    """Encoder options; both encoders share the GOP, pixel format, colour tags and rate cap so clips join by copy."""
    gop = str(gop_frames(profile))
    common = ["-pix_fmt", "yuv420p", "-r", str(profile.fps), "-g", gop, "-maxrate", "5M", "-bufsize", "6M"]
    common += colour_tags(profile)
    if encoder == NVENC:
        # The trivia farm's tuned T4 settings, quality from the profile, pinned to one GPU.
        tuned = ["-preset", "p4", "-profile:v", "high", "-rc", "vbr", "-b:v", "3M"]
        tuned += ["-forced-idr", "1", "-strict_gop", "1", "-bf", "0"]
        pinned = ["-gpu", str(gpu)] if gpu is not None else []
        return ["-c:v", NVENC, *tuned, "-cq", str(profile.quality), *pinned, *common]
    tuned = ["-preset", "veryfast", "-profile:v", "high", "-sc_threshold", "0", "-x264-params", "open-gop=0"]
    return ["-c:v", X264, *tuned, "-crf", str(profile.quality), "-keyint_min", gop, "-threads", str(threads), *common]
