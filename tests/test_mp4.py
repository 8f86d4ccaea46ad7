"""The MP4 header reader against ffprobe, on files our activities make; damaged files are refused cleanly."""

from __future__ import annotations

import itertools
import json
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment

from activities.assemble import AssembleActivities
from activities.audio import AudioActivities
from activities.render import RenderActivities
from contracts.job import parse_job
from contracts.plan import plan_video, video_only
from contracts.records import AudioWork, ClipWork, ConcatWork
from engine.deps import Deps
from engine.media.mp4 import MAX_BOXES, Fragmented, Movie, Mp4Error, mov_is_whole, read_movie, video_samples
from engine.media.probe import ProbeError, counted
from engine.storage import file_path


def ffprobe(path: Path) -> dict[str, dict[str, Any]]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_packets", "-show_streams", "-of", "json", str(path)],
        check=True,
        capture_output=True,
    ).stdout
    return {s["codec_type"]: s for s in json.loads(out)["streams"]}


def assert_agrees(path: Path) -> Movie:
    """Frames, sizes and every track's duration as ffprobe reports them (it prints microseconds)."""
    movie, probed = read_movie(path), ffprobe(path)
    assert {t.handler for t in movie.tracks} == {"vide" if k == "video" else "soun" for k in probed}
    if movie.video is not None:
        assert movie.video.samples == int(probed["video"]["nb_read_packets"]), path.name
        assert (movie.video.width, movie.video.height) == (probed["video"]["width"], probed["video"]["height"])
        assert movie.video.seconds == pytest.approx(float(probed["video"]["duration"]), abs=1e-6), path.name
    if movie.audio is not None:
        assert movie.audio.seconds == pytest.approx(float(probed["audio"]["duration"]), abs=1e-6), path.name
    return movie


@pytest.fixture(scope="module")
async def made(deps: Deps) -> dict[str, Path]:
    """A video made by the real activities: clips with and without their PCM, the AAC track, the joined MP4."""
    clips = [
        {"kind": "card", "duration": 31 / 30, "lines": ["one"]},
        {"kind": "question", "duration": 2.5, "question": "Which?", "answers": ["a", "b", "c", "d"], "correct": 0},
        {"kind": "card", "duration": 4 / 30, "lines": ["three"]},
    ]
    job = parse_job({"video_id": "mp4-headers", "profile": {"width": 320, "height": 180}, "clips": clips})
    plan = plan_video(job)
    render = RenderActivities(deps).render
    files: dict[str, Path] = {}
    for clip in plan.clips:  # with their own PCM, as plans made before the sound was built once
        done = await ActivityEnvironment().run(render, ClipWork(job.video_id, clip, plan.profile, "en", 1.0))
        files[f"clip-{clip.index}-with-pcm.mov"] = file_path(done.uri)
    quiet = video_only(plan)
    uris = []
    for clip in quiet.clips:
        done = await ActivityEnvironment().run(
            render, ClipWork(job.video_id + "-v", clip, quiet.profile, "en", 1.0, video_only=True)
        )
        files[f"clip-{clip.index}.mov"] = file_path(done.uri)
        uris.append(done.uri)
    sound = await ActivityEnvironment().run(
        AudioActivities(deps).build, AudioWork(plan=plan, loudness="web", voice="en", speed=1.0)
    )
    files["audio.m4a"] = file_path(sound.uri)
    joined = await ActivityEnvironment().run(
        AssembleActivities(deps).concat,
        ConcatWork(job.video_id + "-v", uris, 30, plan.frames, ["libx264"] * len(uris), audio_uri=sound.uri),
    )
    files["video.mp4"] = file_path(joined.uri)
    assert joined.frames == plan.frames
    return files


async def test_headers_agree_with_ffprobe_on_every_file_we_make(made: dict[str, Path]) -> None:
    for path in made.values():
        assert_agrees(path)
        assert mov_is_whole(path)
    pcm = read_movie(made["clip-0-with-pcm.mov"]).audio
    assert pcm is not None and round(pcm.seconds * 48_000) == 49_600  # 31 frames at 30 fps


async def test_counted_gives_what_the_checks_need(made: dict[str, Path]) -> None:
    info = await counted(made["video.mp4"])
    probed = ffprobe(made["video.mp4"])
    assert info.video is not None and info.audio is not None
    frames = int(probed["video"]["nb_read_packets"])
    assert info.video.packets == frames > 31
    assert info.video.height == 180
    assert info.audio.duration_s == pytest.approx(frames / 30, abs=1e-3)  # the edit list counts milliseconds


def test_a_64_bit_media_data_box_reads_the_same(made: dict[str, Path], tmp_path: Path) -> None:
    """ffmpeg leaves an 8-byte `wide` box before `mdat` so that it can grow a 64-bit size in place."""
    data = made["clip-1.mov"].read_bytes()
    at = data.index(b"wide") - 4
    assert data[at + 12 : at + 16] == b"mdat"
    mdat = int.from_bytes(data[at + 8 : at + 12], "big")
    wide = data[:at] + (1).to_bytes(4, "big") + b"mdat" + (mdat + 8).to_bytes(8, "big") + data[at + 16 :]
    (tmp_path / "wide.mov").write_bytes(wide)
    assert read_movie(tmp_path / "wide.mov") == read_movie(made["clip-1.mov"])
    assert_agrees(tmp_path / "wide.mov")


def test_truncated_files_are_refused(made: dict[str, Path], tmp_path: Path) -> None:
    for name in ("clip-0.mov", "video.mp4"):  # moov last, and moov first
        data = made[name].read_bytes()
        cuts = {0, 4, 7, 8, 15, 16, len(data) // 2, len(data) - 1, *random.Random(name).sample(range(len(data)), 40)}
        for cut in sorted(cuts):
            cut_file = tmp_path / "cut.mov"
            cut_file.write_bytes(data[:cut])
            with pytest.raises(Mp4Error):
                read_movie(cut_file)
            assert not mov_is_whole(cut_file)
            assert video_samples(cut_file) is None


def test_damaged_headers_give_an_answer_or_a_clean_refusal(made: dict[str, Path], tmp_path: Path) -> None:
    """Random bytes overwritten inside the movie header: a Movie or Mp4Error, never another exception."""
    data = made["video.mp4"].read_bytes()
    moov = data.index(b"moov") - 4
    size = int.from_bytes(data[moov : moov + 4], "big")
    rng = random.Random(7)
    refused = 0
    for _ in range(300):
        damaged = bytearray(data)
        for at in rng.sample(range(moov + 8, moov + size), 4):
            damaged[at] = rng.randrange(256)
        path = tmp_path / "damaged.mp4"
        path.write_bytes(damaged)
        try:
            read_movie(path)
        except Mp4Error:
            refused += 1
    assert refused > 0


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("empty", b""),
        ("text", b"this is not a movie at all, only words\n" * 50),
        ("huge claim", (2**32 - 1).to_bytes(4, "big") + b"moov" + bytes(64)),
        ("64-bit claim", (1).to_bytes(4, "big") + b"mdat" + (2**63).to_bytes(8, "big") + bytes(64)),
        ("too many boxes", ((8).to_bytes(4, "big") + b"free") * (MAX_BOXES + 1)),
        ("short stsz", b""),
    ],
)
async def test_garbage_is_refused_by_name(name: str, content: bytes, tmp_path: Path) -> None:
    path = tmp_path / "garbage.mov"
    if name == "short stsz":
        content = _movie_with_short_stsz()
    path.write_bytes(content)
    with pytest.raises(Mp4Error):
        read_movie(path)
    with pytest.raises(ProbeError, match="not a whole movie"):
        await counted(path)


def _box(kind: bytes, payload: bytes) -> bytes:
    return (8 + len(payload)).to_bytes(4, "big") + kind + payload


def _movie_with_short_stsz() -> bytes:
    """A well-formed box tree whose sample size table is cut short: read past the box, it must be refused."""
    mvhd = _box(b"mvhd", bytes(12) + (1000).to_bytes(4, "big") + bytes(4) + bytes(80))
    mdhd = _box(b"mdhd", bytes(12) + (30).to_bytes(4, "big") + (3).to_bytes(4, "big") + bytes(4))
    hdlr = _box(b"hdlr", bytes(8) + b"vide" + bytes(12))
    stsd = _box(b"stsd", bytes(4) + (0).to_bytes(4, "big"))
    stbl = _box(b"stbl", stsd + _box(b"stsz", bytes(6)))
    trak = _box(b"trak", _box(b"mdia", mdhd + hdlr + _box(b"minf", stbl)))
    return _box(b"ftyp", b"qt  " + bytes(4)) + _box(b"moov", mvhd + trak) + _box(b"mdat", bytes(16))


async def test_a_fragmented_movie_is_left_to_ffprobe(tmp_path: Path) -> None:
    path = tmp_path / "fragmented.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=64x48:r=30", "-frames:v", "45",
                    "-c:v", "libx264", "-movflags", "+frag_keyframe+empty_moov", str(path)], check=True)  # fmt: skip
    with pytest.raises(Fragmented):
        read_movie(path)
    info = await counted(path)
    assert info.video is not None and info.video.packets == 45


def test_clips_of_one_segment_join_as_evenly_as_joined_ones(made: dict[str, Path]) -> None:
    """A one-segment clip is stored as its segment (no join): the video still has every frame, evenly spaced."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "packet=pts,duration", "-of", "json",
         str(made["video.mp4"])],
        check=True,
        capture_output=True,
    ).stdout  # fmt: skip
    packets = json.loads(out)["packets"]
    pts = sorted(int(p["pts"]) for p in packets)
    assert len({b - a for a, b in itertools.pairwise(pts)}) == 1
    assert len(pts) == read_movie(made["video.mp4"]).video.samples  # type: ignore[union-attr]
