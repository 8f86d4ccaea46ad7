"""What the work store's sweep asks Temporal about a video before it removes what the video keeps."""

from __future__ import annotations

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from contracts import search
from engine.retention import StateOf, VideoState


def video_states(client: Client) -> StateOf:
    """How the sweep learns whether a video (its workflow id is its video id) runs, its channel, and when it stopped.

    Describe, not a visibility query: it reads the workflow's own state, so a video started a moment ago is
    already running there.
    """

    async def state_of(video_id: str) -> VideoState:
        try:
            described = await client.get_workflow_handle(video_id).describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return VideoState(running=False)  # its history expired, or it never ran here
            raise
        if described.status == WorkflowExecutionStatus.RUNNING:
            return VideoState(running=True, run_id=described.run_id or "")
        channel = described.typed_search_attributes.get(search.CHANNEL) or ""
        closed = described.close_time.timestamp() if described.close_time else None
        return VideoState(running=False, channel=channel, closed_at=closed, run_id=described.run_id or "")

    return state_of
