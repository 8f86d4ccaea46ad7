"""The audio assets of one soundtrack: each fetched (and confined to the asset roots) once, however often used.

A job's music, a theme's tick, sting and music bed all come through here; each is
measured once for the level it is used at (a bed by its loudness, a short effect by its
true peak), so a tick heard thirty times costs one fetch and one measurement.
"""

from __future__ import annotations

from pathlib import Path

from contracts.plan import PlannedClip, VideoPlan, samples_for
from contracts.themes import Sounds
from engine.deps import Deps, fetch_asset
from engine.errors import BadAsset
from engine.kinds import renderer_for
from engine.media.effects import Effect, bed_command, effect_gain_db, tick_samples
from engine.media.graphs import MUSIC_BED_LUFS
from engine.media.loudness import LoudnessError, bed_gain_db, measure, measure_file
from engine.media.process import FfmpegError, run_ffmpeg
from engine.storage import confine

EFFECT_MEASURE_SECONDS = 60.0
"""A tick or a sting is a short sound: its peak is read from its first minute, so a long file costs no more
to measure (the programme's limiter still holds the true peak of whatever plays)."""


class SoundAssets:
    def __init__(self, deps: Deps, tmp: Path) -> None:
        self.deps = deps
        self.tmp = tmp
        self._paths: dict[str, Path] = {}
        self._gains: dict[tuple[str, str], float] = {}

    async def path(self, uri: str, field: str) -> Path:
        """The asset on local disk; a bad one is refused naming `field` (a clip's label or the theme's field)."""
        if uri not in self._paths:
            if field.startswith("theme."):
                confine(uri, self.deps.settings.storage.asset_roots, field)  # named by the theme's field, not a clip
            try:
                self._paths[uri] = await fetch_asset(self.deps, uri, self.tmp / f"asset-{len(self._paths)}", "audio")
            except BadAsset as err:
                raise BadAsset(f"{field}: {err}") from None
        return self._paths[uri]

    async def music(self, uri: str, field: str) -> tuple[Path, float]:
        """Music and the gain that levels it to the bed."""
        path = await self.path(uri, field)
        if (uri, "bed") not in self._gains:
            self._gains[uri, "bed"] = await bed_gain_db(path, MUSIC_BED_LUFS)
        return path, self._gains[uri, "bed"]

    async def effect(self, uri: str, field: str, at: tuple[int, ...]) -> Effect:
        """A short sound levelled by its true peak, to play at `at`."""
        path = await self.path(uri, field)
        if (uri, "effect") not in self._gains:
            try:
                peak = (await measure(measure_file(path, EFFECT_MEASURE_SECONDS))).true_peak_dbtp
            except (FfmpegError, LoudnessError):
                peak = float("-inf")  # unmeasurable: mixed as it is, or refused by the mix with ffmpeg's reason
            self._gains[uri, "effect"] = effect_gain_db(peak)
        return Effect(path, self._gains[uri, "effect"], at)


async def clip_effects(assets: SoundAssets, clip: PlannedClip, fps: int) -> tuple[Effect, ...]:
    """A themed question's ticks, one per countdown number, or a themed reveal's sting at its first frame."""
    sounds = clip.theme.sounds if clip.theme is not None else Sounds()
    renderer = renderer_for(clip.spec.kind)
    uri = getattr(sounds, renderer.sound) if renderer.sound else None
    if not uri:
        return ()
    at = tick_samples(clip.spec.duration, fps) if renderer.countdown else (0,)
    return (await assets.effect(uri, f"theme.sounds.{renderer.sound}", at),)


async def theme_bed(assets: SoundAssets, plan: VideoPlan, music: str) -> Path:
    """The theme's music, levelled to the bed and looped, as long as the whole programme."""
    path, gain = await assets.music(music, "theme.sounds.music")
    out = assets.tmp / "theme-bed.wav"
    try:
        await run_ffmpeg(bed_command(path, gain, samples_for(plan.frames, plan.profile.fps), out))
    except FfmpegError as err:
        raise FfmpegError(err.returncode, err.stderr_tail, "theme.sounds.music") from err
    return out
