"""Hypothesis strategies for hostile input: arbitrary JSON, and valid jobs with one part made hostile."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

FILTER_GRAPH_TEXT = [
    "'",
    '"',
    ":",
    "\\",
    "\\\\",
    "%{pts}",
    "%{eif:1/0:d}",
    "%{localtime}",
    ";",
    "[in]",
    "[out];[x]",
    ",",
    "=",
    "\n",
    "'; rm -rf / #",
    "\u202e",  # right-to-left override
    "\u200f",  # right-to-left mark
    "שלום עולם",
    "مرحبا",
    "🎬",
    "👩‍👩‍👧",
    "\ufeff",
    "\u2028",
]
"""Fragments aimed at ffmpeg's filter-graph and drawtext parsers, and at text layout."""

HOSTILE_CHARS = st.one_of(
    st.characters(),
    st.characters(exclude_categories=()),  # surrogates included
    st.sampled_from(["\ud800", "\udfff", "\x00", "\x7f", "\r", "\t"]),
)

_fragment = st.one_of(
    st.sampled_from(FILTER_GRAPH_TEXT),
    st.sampled_from(FILTER_GRAPH_TEXT),
    st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=8),
    st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=8),
    st.text(HOSTILE_CHARS, max_size=3),  # may hold a control character or half a surrogate pair
)
hostile_text = st.lists(_fragment, max_size=10).map("".join)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(),  # NaN and ±Infinity included: Python's json accepts them
    hostile_text,
    st.text(max_size=3).map(lambda s: s * 4000),  # long strings
)

json_values: st.SearchStrategy[Any] = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.one_of(st.text(max_size=12), st.sampled_from(["kind", "duration", "lines"])), inner, max_size=4
        ),
    ),
    max_leaves=12,
)

TEMPLATE: dict[str, Any] = {
    "video_id": "hostile",
    "channel": "c",
    "profile": {"width": 64, "height": 64, "fps": 24, "quality": 30},
    "tts_voice": "en",
    "tts_speed": 1.0,
    "max_parallel_clips": 2,
    "questions": [
        {
            "question": "Q?",
            "answer_a": "a",
            "answer_b": "b",
            "answer_c": "c",
            "answer_d": "d",
            "correct_answer": "a",
        }
    ],
    "clips": [
        {"kind": "card", "duration": 1, "background": "navy", "lines": ["hi"], "narration": "n"},
        {"kind": "question", "question": "Q", "answers": ["a", "b", "c", "d"], "correct": 1, "duration": 1},
        {"kind": "recipe", "recipe": "mandelbrot", "duration": 1, "params": {"maxiter": 64}},
    ],
}


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*path, index))
    return found


TEMPLATE_PATHS = _paths(TEMPLATE)[1:]
TEXT_FIELDS = {"lines", "narration", "question", "answers", "answer_a", "answer_b", "answer_c", "answer_d", "channel"}
TEXT_PATHS = [p for p in TEMPLATE_PATHS if TEXT_FIELDS & {step for step in p if isinstance(step, str)}]


_MISSING = object()


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        found = (isinstance(value, dict) and step in value) or (
            isinstance(value, list) and isinstance(step, int) and step < len(value)
        )
        if not found:
            return _MISSING
        value = value[step]
    return value


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], rest, new)}
    copy = list(value)
    copy[head] = _replace(copy[head], rest, new)
    return copy


def _like(value: Any) -> st.SearchStrategy[Any]:
    """Mostly a hostile value of the same JSON type (so it may pass), sometimes anything at all."""
    if isinstance(value, str):
        same: st.SearchStrategy[Any] = hostile_text
    elif isinstance(value, bool):
        same = st.booleans()
    elif isinstance(value, int | float):
        same = st.one_of(st.integers(-(10**6), 10**6), st.floats(), st.integers())
    else:
        same = json_values
    return st.one_of(same, same, same, json_values)


@st.composite
def mutated_jobs(draw: st.DrawFn) -> Any:
    """The valid template with one to three places replaced by hostile JSON, or an unknown key added."""
    job: Any = TEMPLATE
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(TEXT_PATHS if draw(st.booleans()) else TEMPLATE_PATHS))
        if _get(job, path) is _MISSING:
            continue  # an earlier change removed this place
        if draw(st.booleans()):
            job = _replace(job, path, draw(_like(_get(job, path))))
            continue
        parent = _get(job, path[:-1])
        if isinstance(parent, dict):
            key = draw(st.one_of(st.text(max_size=20), st.just("x" * 5000), st.just("a\nb")))
            job = _replace(job, path[:-1], {**parent, key: draw(json_values)})
    return job
