"""ffmpeg command building: user text reaches ffmpeg only as drawn images, never in the graph."""

from __future__ import annotations

from pathlib import Path

from contracts.job import Profile, parse_job
from contracts.plan import plan_video
from engine.media.encoder import NVENC, X264, video_args
from engine.media.graphs import (
    ClipCommands,
    ClipInputs,
    Fonts,
    Segments,
    build_clip_commands,
    concat_list,
    join_clip_command,
)
from engine.settings import DEJAVU

HOSTILE = "It's 100% \"x\": %{pts} \\n ; [out] ' ; rm -rf / 🎬"
FONTS = Fonts(DEJAVU / "DejaVuSans.ttf", DEJAVU / "DejaVuSans-Bold.ttf")


def commands_for(clip: dict[str, object], tmp: Path, start: int = 0) -> ClipCommands:
    plan = plan_video(parse_job({"video_id": "v", "profile": {"width": 640, "height": 360}, "clips": [clip]}))
    planned = plan.clips[0]
    return build_clip_commands(
        planned.spec,
        plan.profile,
        planned.frames,
        inputs=ClipInputs(),
        fonts=FONTS,
        video_args=video_args(X264, plan.profile),
        text_dir=tmp,
        segments=Segments(tmp / "seg", frames=60, start=start),
        audio_out=tmp / "audio.wav",
    )


def command_for(clip: dict[str, object], tmp: Path, start: int = 0) -> tuple[list[str], dict[Path, str], list[str]]:
    cmd = commands_for(clip, tmp, start)
    return cmd.video, cmd.text_files, cmd.audio


def test_user_text_reaches_ffmpeg_only_as_drawn_images(tmp_path: Path) -> None:
    cmd = commands_for({"kind": "card", "duration": 1, "lines": [HOSTILE]}, tmp_path)
    args = " ".join(cmd.video)
    assert "%{pts}" not in args and "rm -rf" not in args and "drawtext" not in args
    assert list(cmd.images) == [tmp_path / "text.png"] and not cmd.text_files
    assert f"-i {tmp_path / 'text.png'}" in args
    assert cmd.images[tmp_path / "text.png"].getbbox() is not None


def test_question_counts_down_with_one_drawn_number_per_second(tmp_path: Path) -> None:
    clip = {"kind": "question", "question": HOSTILE, "answers": ["a", "b", "c", "%{n}"], "correct": 0, "duration": 2.5}
    cmd = commands_for(clip, tmp_path)
    assert sorted(p.name for p in cmd.images) == ["count-0000.png", "count-0001.png", "count-0002.png", "text.png"]
    listing = cmd.text_files[tmp_path / "countdown.ffconcat"]
    # 3 shows for the first half second, then 2 and 1 a second each (ceil of the time left).
    assert listing.splitlines()[1:] == [
        "file 'count-0000.png'", "duration 0.500000", "file 'count-0001.png'", "duration 1.000000",
        "file 'count-0002.png'",
    ]  # fmt: skip
    assert all(text in "".join(cmd.text_files.values()) for text in ("ffconcat", "count-")) and HOSTILE not in listing
    sizes = {cmd.images[tmp_path / f"count-000{i}.png"].size for i in range(3)}
    assert len(sizes) == 1  # one band, so every number is centred the same way


def test_frames_are_converted_and_tagged_with_the_matrix_of_their_size(tmp_path: Path) -> None:
    video, _, _ = command_for({"kind": "card", "duration": 1, "lines": ["x"]}, tmp_path)
    graph = video[video.index("-filter_complex") + 1]
    assert "out_color_matrix=bt601" in graph and "out_range=tv" in graph
    assert video[video.index("-colorspace") + 1] == "smpte170m"
    hd = video_args(X264, Profile(width=1280, height=720))
    assert hd[hd.index("-colorspace") + 1] == hd[hd.index("-color_trc") + 1] == "bt709"


def test_clip_is_exact_frames_in_keyframe_segments_with_exact_audio(tmp_path: Path) -> None:
    video, _, audio = command_for({"kind": "card", "duration": 5, "lines": ["x"]}, tmp_path)
    graph = video[video.index("-filter_complex") + 1]
    assert "trim=end_frame=150:start_frame=0" in graph
    assert video[video.index("-g") + 1] == "60" and "open-gop=0" in video
    assert video[video.index("-segment_time") + 1] == "2.000000"
    last_format = max(i for i, arg in enumerate(video) if arg == "-f")
    assert video[last_format + 1] == "segment"
    assert video[-1].endswith("seg/%05d.mov")
    assert video[video.index("-progress") + 1] == "pipe:1"
    audio_graph = audio[audio.index("-filter_complex") + 1]
    assert "atrim=end_sample=240000" in audio_graph  # 150 frames x 1600 samples
    assert audio[audio.index("-acodec") + 1] == "pcm_s16le"


def test_resume_starts_at_a_segment_boundary_in_clip_time(tmp_path: Path) -> None:
    video, _, _ = command_for({"kind": "question", "question": "Q", "answers": ["a", "b", "c", "d"], "correct": 0,
                               "duration": 5}, tmp_path, start=2)  # fmt: skip
    graph = video[video.index("-filter_complex") + 1]
    # Trimmed after the countdown and bar are drawn, so they show clip time, not segment time.
    assert graph.index("trim=end_frame=150:start_frame=120") > graph.index("overlay")
    assert video[video.index("-segment_start_number") + 1] == "2"


def test_join_copies_video_and_takes_the_exact_audio(tmp_path: Path) -> None:
    args = join_clip_command(tmp_path / "list", tmp_path / "a.wav", tmp_path / "clip.mov")
    assert args[args.index("-c:v") + 1] == "copy"
    assert args[args.index("-map") : args.index("-map") + 4] == ["-map", "0:v:0", "-map", "1:a:0"]


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


def test_still_clips_draw_and_convert_one_picture_then_repeat_it(tmp_path: Path) -> None:
    card, _, _ = command_for({"kind": "card", "duration": 1, "lines": ["x"]}, tmp_path)
    graph = card[card.index("-filter_complex") + 1]
    # One frame is drawn and converted, then looped: per-frame work is only the encode.
    assert graph.index("trim=end_frame=1") < graph.index("out_color_matrix") < graph.index("loop=loop=-1")
    recipe, _, _ = command_for({"kind": "recipe", "recipe": "mandelbrot", "duration": 1}, tmp_path / "r")
    assert "loop=" not in recipe[recipe.index("-filter_complex") + 1]  # a moving picture is converted every frame
