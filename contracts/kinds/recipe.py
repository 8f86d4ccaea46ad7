"""The `recipe` clip: one of ffmpeg's procedural sources (`contracts.recipes`) with its parameters.

A recipe's model is a union of one model per recipe, tagged by `recipe`, so each recipe's parameters are
checked and described on their own. A recipe with a `cost` (a deep-zoom mandelbrot) is budgeted at its own
rate per frame; the others at the plain rate. It changes every frame (`engine.kinds.recipe`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, Field, create_model

from contracts.fields import URI, Duration, Number, _Model
from contracts.kinds import JobDefaults, KindContract, register
from contracts.recipes import RECIPES
from contracts.rules import ClipSpec, Profile


def _params_model(name: str) -> type[BaseModel]:
    fields: dict[str, Any] = {
        key: (Number(bound.low, bound.high), float(bound.default))
        for key, bound in sorted(RECIPES[name].params.items())
    }
    return create_model(f"{name.capitalize()}Params", __base__=_Model, **fields)


def _recipe_clip(name: str) -> type[BaseModel]:
    params = _params_model(name)
    fields: dict[str, Any] = {
        "kind": (Literal["recipe"], ...),
        "recipe": (Literal[name], ...),
        "duration": (Duration, ...),
        "params": (Annotated[params, BeforeValidator(lambda value: value or {})], Field(default_factory=params)),
        "audio": (URI | None, None),
    }
    return create_model(
        f"{name.capitalize()}Clip", __base__=_Model, __doc__=f"The {name!r} procedural recipe.", **fields
    )


RECIPE_CLIPS = {name: _recipe_clip(name) for name in sorted(RECIPES)}
RecipeClip: Any = Annotated[Union[tuple(RECIPE_CLIPS.values())], Field(discriminator="recipe")]  # noqa: UP007


def specs(clip: Any, job: JobDefaults) -> list[ClipSpec]:
    values = clip.model_dump()
    return [
        ClipSpec(
            kind="recipe",
            duration=values["duration"],
            recipe=values["recipe"],
            params=tuple(sorted(values["params"].items())),
            audio=values["audio"],
        )
    ]


def label(spec: ClipSpec) -> str:
    return f"recipe {spec.recipe} · {spec.duration:g} s"


def frame_seconds(spec: ClipSpec, profile: Profile) -> float:
    """The recipe's own cost per pixel times its cost parameter (`Recipe.cost`); 0 for a recipe without one."""
    recipe = RECIPES.get(spec.recipe or "")
    if recipe is None or recipe.cost is None:
        return 0.0
    name, per_unit = recipe.cost
    units = dict(spec.params).get(name, recipe.params[name].default)
    return profile.width * profile.height * units * per_unit


CONTRACT = register(
    KindContract(
        kind="recipe",
        model=RecipeClip,
        specs=specs,
        label=label,
        assets={"audio": "audio"},
        frame_seconds=frame_seconds,
        order=2,
        variant_tag="recipe",
        variants=RECIPE_CLIPS,
    )
)
