"""The manifest beside every published video: which video owns the output, and from which job.

`<output>.render.json` is written before the video (claiming the key) and again
after it (with the result). It makes ownership and idempotence the service's own,
whatever path started the workflow: another video's output is never overwritten,
and a restart of a completed video id returns the published result.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.converter import AdvancedJSONEncoder, value_to_type

from contracts.records import ClipResult, VideoResult
from engine.storage import Storage

SUFFIX = ".render.json"


def manifest_uri(output_uri: str) -> str:
    return output_uri + SUFFIX


@dataclass(frozen=True)
class Manifest:
    video_id: str
    job_hash: str
    result: VideoResult | None = None
    """None while publishing: the key is claimed, the video not yet (or not wholly) there."""
    clips: tuple[ClipResult, ...] | list[ClipResult] = ()
    """Every clip's record as its render ended: the per-clip detail the bounded result leaves out."""

    def encode(self) -> bytes:
        body = {"video_id": self.video_id, "job_hash": self.job_hash, "result": self.result, "clips": self.clips}
        return json.dumps(body, cls=AdvancedJSONEncoder, ensure_ascii=False, allow_nan=False, indent=1).encode()

    @classmethod
    def decode(cls, data: bytes) -> Manifest:
        raw: Any = json.loads(data)
        if isinstance(raw.get("result"), dict) and isinstance(raw["result"].get("clips"), list):
            # Written by 1.x, whose result listed every clip: the list moves beside it.
            raw["clips"] = raw["result"]["clips"]
            raw["result"]["clips"] = len(raw["clips"])
        result = value_to_type(VideoResult, raw["result"]) if raw.get("result") else None
        clips = value_to_type(list[ClipResult], raw.get("clips") or [])
        return cls(video_id=str(raw["video_id"]), job_hash=str(raw.get("job_hash", "")), result=result, clips=clips)


def read_manifest(storage: Storage, output_uri: str, scratch: Path) -> Manifest | None:
    """The output's manifest, or None when there is none (an unreadable one is not ours: None too)."""
    uri = manifest_uri(output_uri)
    if not storage.exists(uri):
        return None
    local = scratch / "manifest.json"
    storage.download(uri, local)
    try:
        return Manifest.decode(local.read_bytes())
    except (ValueError, KeyError, TypeError):
        return None


def write_manifest(storage: Storage, output_uri: str, manifest: Manifest, scratch: Path) -> None:
    with tempfile.NamedTemporaryFile(dir=scratch, suffix=SUFFIX, delete=False) as handle:
        handle.write(manifest.encode())
    storage.upload(Path(handle.name), manifest_uri(output_uri))


def claim_manifest(storage: Storage, output_uri: str, manifest: Manifest) -> bool:
    """Claim the output for a video: True for the one claimant that got there first (an atomic create)."""
    return storage.create(manifest.encode(), manifest_uri(output_uri))


def refusal(
    manifest: Manifest | None, output_exists: bool, video_id: str, job_hash: str, output_uri: str
) -> str | None:
    """Why `video_id` may not publish to `output_uri`, or None when it may."""
    if manifest is None:
        if output_exists:
            return f"output_uri: {output_uri} already exists and no render published it; it is not overwritten"
        return None
    if manifest.video_id != video_id:
        return f"output_uri: {output_uri} belongs to video {manifest.video_id!r}; choose another output"
    if manifest.result is not None and job_hash and manifest.job_hash and manifest.job_hash != job_hash:
        return (
            f"output_uri: {output_uri} was already published by video {video_id!r} from a different job; "
            "use a new video_id to render it again"
        )
    return None
