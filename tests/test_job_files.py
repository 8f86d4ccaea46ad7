"""Job files as the CLI reads them: regular files only, never more than a job may be, bad bytes named per job.

Real files, devices and FIFOs on this machine; `render submit` runs as a real process.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from contracts.job import MAX_JOB_BYTES
from starter.batch import BatchError, read_batch

BIN = Path(sys.executable).parent
GOOD = {"video_id": "good-1", "clips": [{"kind": "card", "duration": 1}]}


async def render(*args: str, **env: str) -> tuple[int, str, str]:
    """`render` run offline-first: every case here is refused before any connection is tried."""
    proc = await asyncio.create_subprocess_exec(
        str(BIN / "render"), *args, env={**os.environ, "TEMPORAL_ADDRESS": "127.0.0.1:9", **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


@pytest.mark.parametrize(
    ("make", "reason"),
    [(lambda tmp: Path("/dev/zero"), "not a regular file"),
     (lambda tmp: fifo(tmp / "pipe.json"), "not a regular file"),
     (lambda tmp: Path("/bin/ls"), "not UTF-8"),
     (lambda tmp: (tmp / "big.json").write_text(" " * MAX_JOB_BYTES + "{}") and tmp / "big.json", "larger than")],
    ids=["dev-zero", "fifo", "binary", "too-big"],
)  # fmt: skip
async def test_submit_reads_only_a_regular_file_of_job_size(tmp_path: Path, make: object, reason: str) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    code, _, err = await render("submit", str(path))
    assert code == 2 and err.startswith(f"render: cannot read job {path}: ") and reason in err, err
    assert len(err.strip().splitlines()) == 1


def test_a_batch_folder_refuses_devices_fifos_and_bad_bytes_one_by_one(tmp_path: Path) -> None:
    folder = tmp_path / "jobs"
    folder.mkdir()
    (folder / "a-zero.json").symlink_to("/dev/zero")
    fifo(folder / "b-pipe.json")
    (folder / "c-latin1.json").write_bytes(b'{"video_id": "caf\xe9"}')
    (folder / "d-good.json").write_text(json.dumps(GOOD))
    found = dict(read_batch(folder))
    assert "not a regular file" in str(found[str(folder / "a-zero.json")])
    assert "not a regular file" in str(found[str(folder / "b-pipe.json")])
    assert "not UTF-8" in str(found[str(folder / "c-latin1.json")])
    assert found[str(folder / "d-good.json")] == GOOD


def test_one_bad_line_never_stops_the_others(tmp_path: Path) -> None:
    batch = tmp_path / "jobs.jsonl"
    long_line = b'{"video_id": "' + b"x" * MAX_JOB_BYTES + b'"}'
    batch.write_bytes(b'{"video_id": "caf\xe9"}\n' + json.dumps(GOOD).encode() + b"\n" + long_line + b"\n"
                      + json.dumps({**GOOD, "video_id": "good-2"}).encode() + b"\n")  # fmt: skip
    found = list(read_batch(batch))
    assert [source for source, _ in found] == [f"{batch}:{n}" for n in (1, 2, 3, 4)]
    assert "not UTF-8" in str(found[0][1]) and "larger than" in str(found[2][1])
    assert found[1][1] == GOOD and found[3][1] == {**GOOD, "video_id": "good-2"}


@pytest.mark.parametrize("special", ["/dev/zero", "fifo"])
def test_a_batch_that_is_not_a_regular_file_is_refused(tmp_path: Path, special: str) -> None:
    path = fifo(tmp_path / "jobs.jsonl") if special == "fifo" else Path(special)
    with pytest.raises(BatchError, match="not a regular file"):
        list(read_batch(path))


async def test_a_bad_temporal_address_is_a_bad_setting(tmp_path: Path) -> None:
    code, _, err = await render("status", "anything", TEMPORAL_ADDRESS="not a host:::")
    assert code == 2 and err.startswith("render: TEMPORAL_ADDRESS: ") and len(err.strip().splitlines()) == 1, err


async def test_an_output_uri_that_cannot_be_a_video_is_refused_at_submit(tmp_path: Path) -> None:
    job = tmp_path / "job.json"
    job.write_text(json.dumps({**GOOD, "output_uri": f"file://{tmp_path}/out.jpg"}))
    code, _, err = await render("submit", str(job))
    assert code == 2 and "output_uri" in err and "must end in .mp4, .m4v or .mov" in err, err


async def test_output_that_cannot_be_written_is_one_line_and_its_own_status(tmp_path: Path) -> None:
    with open("/dev/full", "wb") as full:
        proc = await asyncio.create_subprocess_exec(
            str(BIN / "render"), "schema", env=dict(os.environ), stdout=full, stderr=asyncio.subprocess.PIPE
        )
        _, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 74 and err.decode().startswith("render: cannot write the output: "), err
