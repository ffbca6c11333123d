"""Pauses that end by themselves: ``resume_at`` / ``for_minutes`` on the pause tools.

The worker checks the resume time before anything is sent upstream, and after the pause records
the resume (the same tool with ``paused: false``) for the expiry service to run; a later change
of ``paused`` replaces or cancels it.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import msgspec
import pytest

from stackmcp.contracts.actions import ScheduledAction, action_target
from stackmcp.contracts.keys import RedisKeys
from tests.support.sandbox import RunningSandbox
from tests.support.worker import WorkerHarness
from tests.worker.grant_calls import call, ok, writes_seen

pytestmark = pytest.mark.integration

MONITOR = "update_a_better_stack_monitor_by_id"
HEARTBEAT = "update_a_better_stack_heartbeat_by_id"
KEYS = RedisKeys()


def _at(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat(timespec="seconds")


async def _pending(worker: WorkerHarness, tool: str, resource_id: str) -> ScheduledAction | None:
    target = KEYS.scheduled_target(worker.account_id, action_target(tool, resource_id))
    action_id = await worker.redis.get(target)
    if action_id is None:
        return None
    raw = await worker.redis.get(KEYS.scheduled_action(action_id.decode()))
    assert raw is not None
    action = msgspec.json.decode(raw, type=ScheduledAction)
    score = await worker.redis.zscore(KEYS.scheduled_actions, action.id)
    assert score == pytest.approx(action.due_at)
    return action


async def test_for_minutes_pauses_and_schedules_the_resume(
    worker: WorkerHarness, sandbox_api: RunningSandbox
) -> None:
    """The monitor is paused, the result says when it resumes, and the resume is recorded."""
    before = time.time()
    result = ok(await call(worker, MONITOR, {"monitor_id": "3", "paused": True, "for_minutes": 5}))
    assert result["result"]["status"] == "paused"
    resumes = dt.datetime.fromisoformat(result["resumes_at"]).timestamp()
    assert before + 299 <= resumes <= time.time() + 301
    action = await _pending(worker, MONITOR, "3")
    assert action is not None
    assert (action.tool, action.arguments) == (MONITOR, {"monitor_id": "3", "paused": False})
    assert (action.server_id, action.account_id) == (worker.server_id, worker.account_id)
    assert action.due_at == pytest.approx(resumes, abs=1)
    assert writes_seen(sandbox_api) == ["PATCH /api/v2/monitors/3"]

    # A manual resume before the due time cancels the scheduled one.
    ok(await call(worker, MONITOR, {"monitor_id": "3", "paused": False}))
    assert await _pending(worker, MONITOR, "3") is None
    assert await worker.redis.zscore(KEYS.scheduled_actions, action.id) is None


async def test_resume_at_on_a_heartbeat_and_a_new_pause_replaces_the_old_resume(
    worker: WorkerHarness,
) -> None:
    """``resume_at`` schedules at that time; pausing again replaces, never adds."""
    first_at = time.time() + 3600
    args: dict[str, Any] = {"heartbeat_id": "1", "paused": True, "resume_at": _at(first_at)}
    result = ok(await call(worker, HEARTBEAT, args))
    assert dt.datetime.fromisoformat(result["resumes_at"]).timestamp() == pytest.approx(
        first_at, abs=1
    )
    first = await _pending(worker, HEARTBEAT, "1")
    assert first is not None
    ok(await call(worker, HEARTBEAT, {"heartbeat_id": "1", "paused": True, "for_minutes": 120}))
    second = await _pending(worker, HEARTBEAT, "1")
    assert second is not None
    assert second.id != first.id
    assert await worker.redis.exists(KEYS.scheduled_action(first.id)) == 0
    assert second.due_at == pytest.approx(time.time() + 7200, abs=5)
    # A pause without a resume time cancels the scheduled one (the pause is meant to last).
    ok(await call(worker, HEARTBEAT, {"heartbeat_id": "1", "paused": True}))
    assert await _pending(worker, HEARTBEAT, "1") is None
    ok(await call(worker, HEARTBEAT, {"heartbeat_id": "1", "paused": False}))


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"paused": True, "for_minutes": 5, "resume_at": "2099-01-01T00:00:00Z"}, "for_minutes"),
        ({"paused": True, "resume_at": "2001-01-01T00:00:00Z"}, "resume_at"),
        ({"paused": True, "resume_at": "far-future"}, "resume_at"),
        ({"paused": True, "for_minutes": 0}, "for_minutes"),
        ({"paused": True, "for_minutes": 43201}, "for_minutes"),
        ({"paused": False, "for_minutes": 5}, "for_minutes"),
        ({"for_minutes": 5}, "for_minutes"),
    ],
)
async def test_invalid_resume_times_are_refused_before_anything_is_sent(
    worker: WorkerHarness, sandbox_api: RunningSandbox, arguments: dict[str, Any], field: str
) -> None:
    """Both, past, malformed, out of range, or without ``paused: true``: refused, nothing sent."""
    result = await call(worker, MONITOR, {"monitor_id": "3", **arguments})
    assert result.is_error
    assert result.error is not None
    assert field in (result.error.fields or {}), result.text
    assert writes_seen(sandbox_api) == []
    assert await _pending(worker, MONITOR, "3") is None


async def test_resume_at_more_than_thirty_days_ahead_is_refused(
    worker: WorkerHarness, sandbox_api: RunningSandbox
) -> None:
    """At most 30 days (the same as for_minutes' 43,200)."""
    arguments = {"monitor_id": "3", "paused": True, "resume_at": _at(time.time() + 31 * 86400)}
    result = await call(worker, MONITOR, arguments)
    assert result.is_error
    assert "30 days" in result.text
    assert writes_seen(sandbox_api) == []


async def test_the_pause_tools_offer_the_resume_arguments(worker: WorkerHarness) -> None:
    """Both pause tools list the two arguments with their bounds; other tools do not."""
    catalog = await worker.catalog()
    tools = {tool.name: tool for tool in catalog.tools}
    for name in (MONITOR, HEARTBEAT):
        properties = tools[name].input_schema["properties"]
        assert properties["for_minutes"]["minimum"] == 1
        assert properties["for_minutes"]["maximum"] == 43200
        assert properties["resume_at"]["format"] == "date-time"
    group = tools["update_a_better_stack_monitor_group_by_id"].input_schema["properties"]
    assert "for_minutes" not in group


async def test_the_plan_of_a_pause_says_when_it_ends_and_schedules_nothing(
    worker: WorkerHarness, sandbox_api: RunningSandbox
) -> None:
    """What a person confirming the pause reads; nothing is paused nor scheduled by the plan."""
    at = _at(time.time() + 3600)
    for extra, ending in [
        ({"for_minutes": 30}, "Resumes by itself 30 minutes after the pause."),
        ({"resume_at": at}, f"Resumes by itself at {at}."),
    ]:
        arguments = {"monitor_id": "3", "paused": True, **extra}
        result = await call(worker, MONITOR, arguments, plan_only=True)
        assert result.plan is not None
        assert result.plan.effect.endswith(f"changes paused. {ending}"), result.plan.effect
        assert result.plan.body == {"paused": True}
    assert writes_seen(sandbox_api) == []
    assert await _pending(worker, MONITOR, "3") is None
