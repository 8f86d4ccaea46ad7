"""An attempt writes only when the server confirms it is still current: a "no" and no answer both stop it.

The server is a stand-in here (what a worker sees when it wakes from a freeze: a lost attempt, a connection
that hangs or refuses); the frozen worker itself is tests/test_frozen_control.py.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from temporalio.api.workflowservice.v1 import RecordActivityTaskHeartbeatRequest
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import ActivityEnvironment

from activities import keeper
from activities.keeper import Superseded, Unconfirmed, confirm_attempt


@dataclass
class Service:
    """Answers each heartbeat with the next of `answers`: None (yes), an RPCError, or "hang"."""

    answers: list[RPCError | str | None]
    asked: list[RecordActivityTaskHeartbeatRequest] = field(default_factory=list)

    async def record_activity_task_heartbeat(self, request: RecordActivityTaskHeartbeatRequest, **_: Any) -> None:
        self.asked.append(request)
        answer = self.answers.pop(0)
        if answer == "hang":
            await asyncio.sleep(3600)
        if isinstance(answer, RPCError):
            raise answer


@dataclass
class FakeClient:
    workflow_service: Service
    namespace: str = "default"
    identity: str = "1@test"


def refused(status: RPCStatusCode) -> RPCError:
    return RPCError("said no", status, b"")


async def confirm(service: Service) -> None:
    env = ActivityEnvironment(client=FakeClient(service))  # type: ignore[arg-type]
    await env.run(confirm_attempt, {"stage": "publishing"})


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keeper, "CONFIRM_TIMEOUT", timedelta(seconds=0.2))
    monkeypatch.setattr(keeper, "CONFIRM_PAUSE", 0.01)


async def test_a_confirmed_attempt_goes_on_and_keeps_its_checkpoint() -> None:
    service = Service([None])
    await confirm(service)
    assert len(service.asked) == 1 and len(service.asked[0].details.payloads) == 1


async def test_an_attempt_the_server_no_longer_knows_is_superseded_at_once() -> None:
    service = Service([refused(RPCStatusCode.NOT_FOUND)])
    with pytest.raises(Superseded, match="superseded"):
        await confirm(service)
    assert len(service.asked) == 1


async def test_one_lost_answer_is_asked_again() -> None:
    service = Service([refused(RPCStatusCode.UNAVAILABLE), "hang", None])
    await confirm(service)
    assert len(service.asked) == 3


@pytest.mark.parametrize(
    "answer", ["hang", refused(RPCStatusCode.UNAVAILABLE), refused(RPCStatusCode.DEADLINE_EXCEEDED)]
)
async def test_no_answer_stops_the_attempt_before_it_writes(answer: RPCError | str) -> None:
    service = Service([answer] * keeper.CONFIRM_TRIES)
    with pytest.raises(Unconfirmed, match=f"did not confirm it is still current in {keeper.CONFIRM_TRIES} tries"):
        await confirm(service)
    assert len(service.asked) == keeper.CONFIRM_TRIES
