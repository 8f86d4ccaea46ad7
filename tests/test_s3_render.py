"""Whole renders on `s3://`: worker processes configured by environment, a real S3 API, faults on the wire.

Intermediates, assets and the finished video all live in buckets on the moto
server; the workers reach it through the fault-injecting proxy, so every
request they make may be failed, dropped or cut, and the render must not notice.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.core.authorization import enable_iam_authentication
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from contracts import names
from devtools.local import LocalCluster
from starter import RenderClient
from starter.client import root_cause
from tests.fault_proxy import FaultProxy, Rule
from tests.media import streams
from tests.report import report
from tests.test_resume_processes import render_attempts

MiB = 2**20


def admin(endpoint: str) -> Any:
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="admin", aws_secret_access_key="admin"
    )


def buckets(endpoint: str) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    named = {role: f"{role}-{suffix}" for role in ("work", "videos", "media")}
    for name in named.values():
        admin(endpoint).create_bucket(Bucket=name)
    return named


def s3_env(proxy: FaultProxy, named: dict[str, str], key_id: str, secret: str) -> dict[str, str]:
    return {
        "RENDER_WORK_URI": f"s3://{named['work']}/intermediates",
        "RENDER_OUTPUT_ROOTS": f"s3://{named['videos']}/out",
        "RENDER_ASSET_ROOTS": f"s3://{named['media']}/assets",
        "RENDER_S3_ENDPOINT_URL": proxy.url,
        "RENDER_S3_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": key_id,
        "AWS_SECRET_ACCESS_KEY": secret,
        "RENDER_ENCODER": "libx264",
        "RENDER_FFMPEG_THREADS": "1",
        "RENDER_TTS": "none",
        "RENDER_SLOTS": "2",
        "RENDER_HEARTBEAT_SECONDS": "15",
    }


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    running = LocalCluster(tmp_path)
    running.start_server()
    yield running
    running.stop()


@pytest.fixture
async def renders(cluster: LocalCluster) -> AsyncIterator[RenderClient]:
    yield RenderClient(await Client.connect(cluster.address))


def make_media(
    tmp_path: Path, endpoint: str, bucket: str, *, sound: str = "jingle.wav", seconds: float = 1
) -> tuple[str, str]:
    """An image and `seconds` of sound, uploaded as assets."""
    image, tone = tmp_path / "logo.png", tmp_path / sound
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=160x90", "-frames:v", "1", str(image)],
        check=True,
    )
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"sine=f=440:d={seconds}", str(tone)], check=True
    )
    for path in (image, tone):
        admin(endpoint).upload_file(str(path), bucket, f"assets/{path.name}")
    return f"s3://{bucket}/assets/logo.png", f"s3://{bucket}/assets/{sound}"


WIRE_FAULTS = [
    Rule("503", "HEAD", times=3, every=2),
    Rule("500", "PUT", r"/segments/", times=2, every=2),
    Rule("drop-after", "PUT", r"/segments/", times=1),  # stored, but the worker never hears so
    Rule("503", "PUT", r"partNumber=2", times=2),
    Rule("drop", "PUT", r"partNumber=1", times=1),
    Rule("cut-body", "GET", r"\.mov", times=1),
    Rule("drop", "GET", times=2, every=3),
    Rule("500", "POST", r"delete", times=1),
    Rule("503", "GET", r"list-type=2", times=1),
]


async def test_a_whole_render_on_s3_rides_out_faults_and_publishes_once(
    cluster: LocalCluster,
    renders: RenderClient,
    proxy: FaultProxy,
    s3_endpoint: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    named = buckets(s3_endpoint)
    image, sound = make_media(tmp_path, s3_endpoint, named["media"])
    cluster.env = s3_env(proxy, named, "render-key", "render-secret")
    cluster.start_worker("control")
    cluster.start_worker("gpu")
    proxy.add(*WIRE_FAULTS)
    video_id = f"s3-{uuid.uuid4().hex[:6]}"
    job = {
        "video_id": video_id,
        "profile": {"width": 640, "height": 360, "fps": 30, "quality": 1},
        "clips": [
            {"kind": "card", "duration": 0.5, "image": image, "audio": sound, "lines": ["on s3"]},
            # Dense noise at near-lossless quality hits the 5 Mbit/s cap: above the 8 MiB multipart threshold.
            {"kind": "recipe", "recipe": "life", "duration": 16, "params": {"ratio": 0.5}},
        ],
    }
    await renders.submit(job)
    async with asyncio.timeout(300):
        result = await renders.result(video_id)

    output = f"s3://{named['videos']}/out/{video_id}.mp4"
    assert result.output_uri == output and result.frames == 15 + 480
    local = tmp_path / "out.mp4"
    admin(s3_endpoint).download_file(named["videos"], f"out/{video_id}.mp4", str(local))
    assert local.stat().st_size == result.bytes > 8 * MiB
    info = streams(local)
    assert int(info["video"]["nb_read_frames"]) == 495 and info["audio"]["codec_name"] == "aac"

    s3 = admin(s3_endpoint)
    published = [o["Key"] for o in s3.list_objects_v2(Bucket=named["videos"])["Contents"]]
    # The video, its manifest and its poster.
    assert published == [f"out/{video_id}.mp4", f"out/{video_id}.mp4.poster.jpg", f"out/{video_id}.mp4.render.json"]
    assert result.poster_uri == f"s3://{named['videos']}/out/{video_id}.mp4.poster.jpg"
    # Intermediates removed; the clip cache (kept across videos) is not the video's.
    work = [o["Key"] for o in s3.list_objects_v2(Bucket=named["work"]).get("Contents", [])]
    assert [k for k in work if not k.startswith("intermediates/_cache/")] == [] and work
    for bucket in named.values():
        assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    output_parts = [r for r in proxy.log if f"/out/{video_id}.mp4?" in r.target and "partNumber=" in r.target]
    assert output_parts  # the finished video went up in parts
    fired = {f"{rule.fault} {rule.method} {rule.path}": rule.fired for rule in proxy.rules}
    assert sum(fired.values()) >= 10, fired  # the render really met the faults
    attempts = [a.attempt for a in await render_attempts(renders.client, video_id)]
    report(
        request,
        "s3 render",
        requests=len(proxy.log),
        faults=sum(fired.values()),
        by_rule=fired,
        output_bytes=result.bytes,
        output_parts=len(output_parts),
        render_attempts=attempts,
    )


async def test_wrong_credentials_fail_the_render_at_once_naming_the_bucket(
    cluster: LocalCluster, renders: RenderClient, proxy: FaultProxy, s3_endpoint: str
) -> None:
    named = buckets(s3_endpoint)
    iam = boto3.client(
        "iam", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="a"
    )
    user = f"render-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user)
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    iam.put_user_policy(UserName=user, PolicyName="render", PolicyDocument=json.dumps(policy))
    key_id = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    wrong_secret = "not-the-secret-c2VjcmV0c2VjcmV0"
    cluster.env = s3_env(proxy, named, key_id, wrong_secret)
    cluster.start_worker("control")
    cluster.start_worker("gpu")
    video_id = f"s3-denied-{uuid.uuid4().hex[:6]}"
    with enable_iam_authentication():
        await renders.submit({"video_id": video_id, "clips": [{"kind": "recipe", "recipe": "testsrc", "duration": 1}]})
        with pytest.raises(WorkflowFailureError) as caught:
            async with asyncio.timeout(120):
                await renders.result(video_id)
    error = root_cause(caught.value)
    assert isinstance(error, ApplicationError) and error.non_retryable and error.type == names.FORBIDDEN_PATH
    # The first request stores the validated plan in the work store: it names the bucket that refused.
    assert repr(named["work"]) in error.message and "credentials were refused" in error.message
    assert await render_attempts(renders.client, video_id) == []  # refused before any render, on the first attempt
    history = await renders.client.get_workflow_handle(video_id).fetch_history()
    logs = "".join(p.read_text(errors="replace") for p in cluster.data.glob("worker-*.log"))
    for text in (history.to_json(), logs):
        assert wrong_secret not in text
    assert repr(named["work"]) in logs  # the workers' own logs say which bucket refused them
