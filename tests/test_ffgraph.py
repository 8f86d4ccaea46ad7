"""engine.media.ffgraph writes the same ffmpeg command, byte for byte, as ffmpeg-python 0.2.0 wrote before it.

tests/golden/ffgraph.json holds each case's argument list. The builder cases were recorded with ffmpeg-python
(`python -m tests.test_ffgraph record` while it was installed) and never change. The engine cases were recorded
the same way, and since then by `python -m tests.test_ffgraph record-engine` whenever a graph changes on purpose
(moving pictures written as BMPs and overlaid at their box, for one), so a change to a command shows in review.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from contracts.job import Profile, parse_job
from contracts.plan import PlannedClip, plan_video
from engine.media import ffgraph
from engine.media.backdrop import LoopVideo
from engine.media.bed import BedPlay, layered_programme_command
from engine.media.effects import Effect
from engine.media.encoder import X264, video_args
from engine.media.graphs import (
    ClipInputs,
    Fonts,
    Segments,
    build_clip_commands,
    clip_audio_command,
    programme_audio_command,
)
from engine.media.sources import VideoAsset, asset_audio_command
from engine.media.themed import theme_fonts
from engine.media.themed_graph import Look
from engine.settings import DEJAVU

pytestmark = pytest.mark.unit

GOLDEN = Path(__file__).parent / "golden" / "ffgraph.json"
ROOT = Path("/golden")
FONTS = Fonts(DEJAVU / "DejaVuSans.ttf", DEJAVU / "DejaVuSans-Bold.ttf")
SAMPLE = Path(__file__).parent.parent / "examples" / "trivia-sample.json"
HOSTILE = "a\\b 'c' d=e:f [g] h,i; %{pts}"


# Graphs built straight with the builder: `ff` is the builder module (ffmpeg-python when recording).
def escaping(ff: Any) -> list[str]:
    stream = ff.input(f"color=c={HOSTILE}", f="lavfi").filter("drawtext", HOSTILE, text=HOSTILE, x="w-tw:1")
    return list(stream.output(str(ROOT / "out=1.mov"), metadata=f"title={HOSTILE}").compile())


def shapes(ff: Any) -> list[str]:
    """Selectors, a split whose outputs feed an overlay, crop and drawbox, concat, a flag option."""
    source = ff.input(str(ROOT / "in.mp4"), ss="1.5", copyts=None)
    parts = source.video.split()
    picture = ff.overlay(parts[0].crop(0, 10, 20, 30), parts[1].drawbox(1, 2, 3, 4, "red", t="fill"), x=5)
    joined = ff.concat(picture, source.audio, v=1, a=1)
    return list(ff.output(joined, str(ROOT / "out.mkv"), f="matroska", acodec="pcm_s16le").compile())


def sharing(ff: Any) -> list[str]:
    """One input opened twice with the same options is one input; asplit counts the branches used."""
    a = ff.input(str(ROOT / "a.wav")).audio
    b = ff.input(str(ROOT / "a.wav")).audio.filter("volume", 0.5)
    branches = ff.input(str(ROOT / "b.wav")).audio.filter_multi_output("asplit", 5)
    mixed = ff.filter([a, b, branches[0], branches[2]], "amix", inputs=4, normalize=0)
    return list(ff.output(mixed, str(ROOT / "o.wav"), f="wav").compile())


def outputs(ff: Any) -> list[str]:
    """Two outputs of one graph, a plain input mapped as is, global arguments and -y."""
    source = ff.input(str(ROOT / "in.wav"))
    first = ff.output(source, str(ROOT / "copy.wav"), acodec="copy")
    second = ff.output(source.audio.filter("atrim", end=1), str(ROOT / "cut.wav"))
    both = ff.merge_outputs(first, second).global_args("-progress", "pipe:1").overwrite_output()
    return list(both.get_args()) + list(both.compile(overwrite_output=True))


BUILDER_CASES: dict[str, Callable[[Any], list[str]]] = {
    "escaping": escaping,
    "shapes": shapes,
    "sharing": sharing,
    "outputs": outputs,
}


# Graphs the engine builds.
def planned(clip: dict[str, Any] | None = None, theme: Any = None, width: int = 640) -> list[PlannedClip]:
    """The sample quiz themed with `theme`, or one plain `clip`."""
    profile = {"width": width, "height": width * 9 // 16, "fps": 30}
    job: dict[str, Any] = {"video_id": "v", "profile": profile, "clips": [clip]}
    if theme is not None:
        job = {**json.loads(SAMPLE.read_text()), "profile": profile, "theme": theme}
    return list(plan_video(parse_job(job)).clips)


def clip_args(clip: PlannedClip, profile: Profile, inputs: ClipInputs, look: Look | None = None) -> list[str]:
    fonts = FONTS if clip.theme is None else theme_fonts(clip.theme, FONTS)
    commands = build_clip_commands(
        clip.spec, profile, clip.frames, inputs=inputs, fonts=fonts, video_args=video_args(X264, profile),
        text_dir=ROOT / "text", segments=Segments(ROOT / "seg", frames=60, start=1), audio_out=ROOT / "audio.wav",
        look=look,
    )  # fmt: skip
    return [*commands.video, "|", *commands.audio]


def plain(clip: dict[str, Any], inputs: ClipInputs | None = None) -> Callable[[], list[str]]:
    def build() -> list[str]:
        one = planned(clip)[0]
        return clip_args(one, Profile(640, 360, 30), inputs or ClipInputs())

    return build


def themed(theme: Any, index: int, video: LoopVideo | None = None, first: int = 0) -> Callable[[], list[str]]:
    def build() -> list[str]:
        clip = planned(theme=theme)[index]
        assert clip.theme is not None
        look = Look(clip.theme, clip.number, clip.total, video=video)
        return clip_args(clip, Profile(640, 360, 30), ClipInputs(first_frame=first), look)

    return build


ASSET = VideoAsset(ROOT / "asset.mp4", "mov,mp4,m4a", 12.0, has_audio=True)
LOOP = LoopVideo(VideoAsset(ROOT / "loop.mkv", "matroska,webm", 2.0), tuple(i / 25 for i in range(50)), Fraction(25))
TURNED = LoopVideo(VideoAsset(ROOT / "turn.avi", "avi", 2.0, square_pixels=False), LOOP.times, Fraction(25), 0, 90)
EFFECTS = (Effect(ROOT / "tick.wav", -3.0, (0, 48000, 96000)), Effect(ROOT / "sting.wav", 1.5, (100,)))
MIXED = ClipInputs(
    audio=ROOT / "bed.wav", narration=ROOT / "voice.wav", music_gain_db=-4.25, audio_start=3.5, effects=EFFECTS
)


def asset_audio() -> list[str]:
    clip = planned({"kind": "video", "source": "file:///a.mp4", "in": 2.5, "out": 9.0, "audio": "duck"})[0]
    return asset_audio_command(clip.spec, ASSET, ROOT / "asset.wav", narrated=True) or []


def programme() -> list[str]:
    profile = Profile(640, 360, 30)
    clips = [(90, MIXED), (60, ClipInputs(narration=ROOT / "voice.wav")), (30, ClipInputs(audio=ROOT / "bed.wav"))]
    args, script = programme_audio_command(profile, clips, ROOT / "p.wav", ROOT / "p.txt", ROOT / "fx.wav")
    return [*args, "|", script]


def layered() -> list[str]:
    beds = [BedPlay(ROOT / "b1.wav", ((0, 100), (300, 400))), BedPlay(ROOT / "b2.wav", ((100, 300),))]
    return layered_programme_command(ROOT / "clips.txt", ROOT / "fx.txt", beds, 400, ROOT / "out.wav")


ENGINE_CASES: dict[str, Callable[[], list[str]]] = {
    "card": plain({"kind": "card", "duration": 2, "lines": [HOSTILE, "two"], "background": "navy"}),
    "card-image": plain({"kind": "card", "duration": 1, "lines": ["x"]}, ClipInputs(image=ROOT / "bg.png")),
    "question": plain(
        {"kind": "question", "question": HOSTILE, "answers": ["a", "b", "c", "d"], "correct": 1, "duration": 2.5},
        MIXED,
    ),
    "image": plain(
        {"kind": "image", "source": "file:///a.png", "duration": 3, "zoom": [1.0, 1.5], "pan": "left"},
        ClipInputs(image=ROOT / "a.png"),
    ),
    "video": plain(
        {"kind": "video", "source": "file:///a.mp4", "in": 2.5, "out": 9.0, "fit": "pad", "background": "red"},
        ClipInputs(video=ASSET, first_frame=60),
    ),
    "video-crop": plain(
        {"kind": "video", "source": "file:///a.mp4", "out": 2.0, "fit": "crop", "audio": "drop"},
        ClipInputs(video=VideoAsset(ROOT / "a.avi", "avi", 3.0, square_pixels=False)),
    ),
    "recipe": plain({"kind": "recipe", "recipe": "mandelbrot", "duration": 3, "params": {"maxiter": 2000}}),
    "color": plain({"kind": "color", "color": "#1e8449", "duration": 1.5}, ClipInputs(audio=ROOT / "bed.wav")),
    "themed-card": themed({"extends": "midnight", "motion": "pop", "transition": "fade"}, 0),
    "themed-question": themed({"extends": "midnight", "motion": "slide", "transition": "slide"}, 2),
    "themed-reveal": themed({"extends": "neon", "motion": "fade", "transition": "cut"}, 3, first=45),
    "backdrop": themed("midnight", 2, LOOP),
    "backdrop-resumed": themed({"extends": "midnight", "transition": "fade"}, 2, LOOP, first=75),
    "backdrop-turned": themed("neon", 3, TURNED, first=40),
    "effects": lambda: clip_audio_command(Profile(640, 360, 30), 90, MIXED, ROOT / "a.wav"),
    "asset-audio": asset_audio,
    "programme": programme,
    "bed": layered,
}


def record() -> None:
    """Writes the golden file with the builder the engine imports now (run while it is ffmpeg-python)."""
    import ffmpeg  # type: ignore[import-not-found, unused-ignore]

    found = {name: case(ffmpeg) for name, case in BUILDER_CASES.items()}
    found |= {name: case() for name, case in ENGINE_CASES.items()}
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps(found, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def golden() -> dict[str, list[str]]:
    found: dict[str, list[str]] = json.loads(GOLDEN.read_text(encoding="utf-8"))
    return found


@pytest.mark.parametrize("name", list(BUILDER_CASES))
def test_the_builder_writes_what_ffmpeg_python_wrote(name: str) -> None:
    assert BUILDER_CASES[name](ffgraph) == golden()[name]


@pytest.mark.parametrize("name", list(ENGINE_CASES))
def test_every_engine_graph_is_the_command_it_was(name: str) -> None:
    assert ENGINE_CASES[name]() == golden()[name]


def test_the_golden_file_covers_every_case() -> None:
    assert set(golden()) == set(BUILDER_CASES) | set(ENGINE_CASES)


def test_filters_differing_only_in_name_are_two_filters() -> None:
    """ffmpeg-python took these for one node (its identity left the name out) and refused the graph."""
    source = ffgraph.input("in.mp4").video
    args = ffgraph.overlay(source.filter("hflip"), source.filter("vflip")).output("o.mp4").get_args()
    graph = "[0:v]hflip[s0];[0:v]vflip[s1];[s0][s1]overlay=eof_action=repeat[s2]"
    assert args == ["-i", "in.mp4", "-filter_complex", graph, "-map", "[s2]", "o.mp4"]


def test_a_stream_used_twice_without_a_split_is_refused() -> None:
    stream = ffgraph.input("a.wav").audio.filter("volume", 2)
    with pytest.raises(ffgraph.GraphError, match="split"):
        ffgraph.filter([stream, stream.filter("apad")], "amix", inputs=2).output("o.wav").compile()


def record_engine() -> None:
    """Writes the engine cases' commands as the engine builds them now, keeping the builder cases as recorded."""
    found = golden() | {name: case() for name, case in ENGINE_CASES.items()}
    GOLDEN.write_text(json.dumps(found, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__" and sys.argv[1:] == ["record"]:
    record()
if __name__ == "__main__" and sys.argv[1:] == ["record-engine"]:
    record_engine()
