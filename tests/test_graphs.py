"""ffmpeg command building: user text reaches ffmpeg only as file contents, never in the graph."""

from __future__ import annotations

from pathlib import Path

from activities.media.encoder import NVENC, X264, video_args
from activities.media.graphs import ClipInputs, Fonts, build_clip_command, concat_list
from activities.settings import DEJAVU
from contracts.job import parse_job
from contracts.plan import plan_video

HOSTILE = "It's 100% \"x\": %{pts} \\n ; [out] ' ; rm -rf / 🎬"
FONTS = Fonts(DEJAVU / "DejaVuSans.ttf", DEJAVU / "DejaVuSans-Bold.ttf")


def command_for(clip: dict[str, object], tmp: Path) -> tuple[list[str], dict[Path, str]]:
    plan = plan_video(parse_job({"video_id": "v", "profile": {"width": 640, "height": 360}, "clips": [clip]}))
    planned = plan.clips[0]
    cmd = build_clip_command(
        planned.spec,
        plan.profile,
        planned.frames,
        inputs=ClipInputs(),
        fonts=FONTS,
        video_args=video_args(X264, plan.profile),
        text_dir=tmp,
        output=tmp / "out.mov",
    )
    return cmd.args, cmd.text_files


def test_user_text_goes_through_textfiles_with_expansion_off(tmp_path: Path) -> None:
    args, files = command_for({"kind": "card", "duration": 1, "lines": [HOSTILE]}, tmp_path)
    graph = args[args.index("-filter_complex") + 1]
    assert "%{pts}" not in graph and "rm -rf" not in graph
    assert " ".join(files.values()) == HOSTILE  # wrapped at spaces, otherwise byte for byte
    assert graph.count("expansion=none") == len(files) > 0
    assert "expansion=normal" not in graph


def test_question_countdown_is_the_only_expanded_text(tmp_path: Path) -> None:
    clip = {"kind": "question", "question": HOSTILE, "answers": ["a", "b", "c", "%{n}"], "correct": 0, "duration": 3}
    args, files = command_for(clip, tmp_path)
    graph = args[args.index("-filter_complex") + 1]
    assert graph.count("expansion=normal") == 1
    expanded = [text for text in files.values() if text.startswith("%{eif")]
    assert expanded == ["%{eif:ceil(3-t):d}"]
    assert "D. %{n}" in files.values()


def test_clip_is_exact_frames_with_pcm_audio_and_closed_gop(tmp_path: Path) -> None:
    args, _ = command_for({"kind": "card", "duration": 1.5, "lines": ["x"]}, tmp_path)
    graph = args[args.index("-filter_complex") + 1]
    assert "trim=end_frame=45" in graph
    assert "atrim=end_sample=72000" in graph
    assert args[args.index("-acodec") + 1] == "pcm_s16le"
    assert args[args.index("-g") + 1] == "60" and "open-gop=0" in args
    assert args[-1].endswith("out.mov") and args[args.index("-progress") + 1] == "pipe:1"


def test_nvenc_uses_the_seed_settings() -> None:
    plan = plan_video(parse_job({"video_id": "v", "clips": [{"kind": "card", "duration": 1}]}))
    args = video_args(NVENC, plan.profile)
    joined = " ".join(args)
    for part in (
        "-preset p4",
        "-profile:v high",
        "-rc vbr",
        "-cq 23",
        "-b:v 3M",
        "-maxrate 5M",
        "-bufsize 6M",
        "-pix_fmt yuv420p",
        "-r 30",
        "-g 60",
    ):
        assert part in joined


def test_concat_list_escapes_quotes() -> None:
    listing = concat_list([Path("/w/it's.mov"), Path("/w/b.mov")])
    assert "file '/w/it'\\''s.mov'" in listing
    assert listing.startswith("ffconcat version 1.0\n")
