"""Defects found by attacking the claim-check plan store (2.0.0): each test here fails on ea374c9.

Run one at a time, e.g. `python -m pytest tests/test_attack21.py -k aged -x`.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.assemble import AssembleActivities
from activities.plans import PlanLost, PlanStore
from activities.validate import ValidateActivities
from contracts import names, search
from contracts.job import parse_job
from contracts.plan import plan_video, video_only
from contracts.records import CheckJobInput, CheckJobResult
from devtools.devserver import temporal_binary
from engine.deps import Deps
from engine.retention import sweep_work_store
from engine.settings import Settings
from engine.storage import file_path
from starter.client import RenderClient
from tests.test_big_jobs import cards
from workflows.render_video import RenderVideo


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def work_files(settings: Settings, video_id: str) -> list[str]:
    root = file_path(settings.work_uri_for(f"{video_id}/"))
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def test_a_plan_stored_again_by_a_resubmit_is_not_swept_as_old(deps: Deps) -> None:
    """A failed video keeps its intermediates, plan included; a resubmit of the same job days later "stores it
    again" (PlanLost's promise), but `create` finds the old files and leaves their old time: the next sweep of
    the work store removes the plan of a video that is running now, and every clip render of it fails PlanLost.
    """
    video_id = unique("aged")
    job = parse_job(cards(video_id, 3, max_parallel_clips=4))
    plan = video_only(plan_video(job))
    store = PlanStore(deps)
    key = await store.save(job, plan)
    week_ago = time.time() - 8 * 86400
    for path in file_path(deps.settings.work_uri_for(f"{key}/")).iterdir():
        os.utime(path, (week_ago, week_ago))  # the failed run's plan, stored 8 days ago
    # The resubmit: validation stores the same plan under the same key, now.
    assert await store.save(job, plan) == key
    await sweep_work_store(deps, max_age_seconds=7 * 86400)
    PlanStore._cache.clear()  # another worker process (no cached pages)
    try:
        head = await store.head(key)
    except PlanLost as err:
        pytest.fail(f"the running video's plan was swept right after the resubmit stored it: {err}")
    assert head.clips == 3


async def test_a_restart_of_a_completed_video_leaves_nothing_in_the_work_store(
    client: Client, workers: None, settings: Settings
) -> None:
    """A restart of a published video returns the published result, but its validation stored the plan again
    under `<video_id>/plans/` and nothing removes it (the completed path of check_job never discards)."""
    video_id = unique("restart-done")
    job = cards(video_id, 2, max_parallel_clips=4)
    renders = RenderClient(client)
    await renders.submit(job)
    first = await asyncio.wait_for(renders.result(video_id), timeout=120)
    assert work_files(settings, video_id) == []  # the completed render removed its intermediates
    handle = await client.start_workflow(
        names.WORKFLOW_NAME,
        job,
        id=video_id,
        task_queue=names.CONTROL_QUEUE,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    )
    again = await asyncio.wait_for(handle.result(), timeout=60)
    assert again["output_uri"] == first.output_uri
    assert work_files(settings, video_id) == [], "the restart left its stored plan behind"


async def test_a_refused_video_id_writes_nothing_under_another_videos_work_directory(
    client: Client, workers: None, settings: Settings
) -> None:
    """A job whose video_id is not the workflow id is refused, but only after validation stored its plan under
    the *job's* video_id: into another video's work directory, and never removed."""
    victim = unique("victim")
    workflow_id = unique("impostor")
    handle = await client.start_workflow(
        names.WORKFLOW_NAME, cards(victim, 2, max_parallel_clips=4), id=workflow_id, task_queue=names.CONTROL_QUEUE
    )
    with pytest.raises(WorkflowFailureError):
        await asyncio.wait_for(handle.result(), timeout=60)
    assert work_files(settings, victim) == [], "a refused job wrote into another video's work directory"
    assert work_files(settings, workflow_id) == []


@pytest.mark.server
async def test_a_cancel_while_the_job_is_checked_leaves_nothing_in_the_work_store(deps: Deps) -> None:
    """The plan is stored by validation, before check_job; a cancel that arrives while check_job runs (thousands
    of assets checked over a slow link) ends the video without `_discard`: `<video_id>/plans/` stays behind.
    Here check_job is a stand-in that checks its assets slowly (heartbeating until canceled)."""
    checking = asyncio.Event()

    @activity.defn(name=names.CHECK_JOB)
    async def slow_check_job(inp: CheckJobInput) -> CheckJobResult:
        checking.set()
        while True:  # checking asset after asset on a slow link
            activity.heartbeat()
            await asyncio.sleep(0.5)

    video_id = unique("cancel-checking")
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(), search_attributes=search.ALL
    ) as env:
        validate = ValidateActivities(deps, deps.settings.limits.budget)
        assemble = AssembleActivities(deps)
        async with Worker(
            env.client,
            task_queue=names.CONTROL_QUEUE,
            workflows=[RenderVideo],
            activities=[validate.validate_job, validate.clip_tickets, slow_check_job, assemble.discard_intermediates],
        ):
            handle = await env.client.start_workflow(
                names.WORKFLOW_NAME,
                cards(video_id, 3, max_parallel_clips=4),
                id=video_id,
                task_queue=names.CONTROL_QUEUE,
            )
            await asyncio.wait_for(checking.wait(), timeout=60)
            await handle.cancel()
            with pytest.raises(WorkflowFailureError):
                await asyncio.wait_for(handle.result(), timeout=60)
    assert work_files(deps.settings, video_id) == [], "the canceled video left its stored plan behind"
