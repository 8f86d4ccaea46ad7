"""The `recipe` clip's picture: the recipe's ffmpeg source with its parameters; it changes every frame."""

from __future__ import annotations

from contracts.job import ClipSpec, Profile
from contracts.recipes import RECIPES
from engine.kinds import ClipInputs, KindRenderer, register
from engine.media import ffgraph as ffmpeg
from engine.media.ffgraph import Stream
from engine.media.sources import plain_background


def video(spec: ClipSpec, profile: Profile, frames: int, inputs: ClipInputs) -> Stream:
    if not spec.recipe:
        return plain_background(spec, profile, inputs.image)
    size = f"{profile.width}x{profile.height}"
    recipe = RECIPES[spec.recipe]
    params = "".join(f":{k}={int(v) if recipe.params[k].integer else repr(float(v))}" for k, v in spec.params)
    stream = ffmpeg.input(f"{recipe.source}=s={size}:r={profile.fps}{params}", f="lavfi")
    return stream.filter("format", "rgb24")


RENDERER = register(KindRenderer(kind="recipe", video=video))
