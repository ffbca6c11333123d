"""Scheduled actions: a paused monitor resumed exactly once by two expiry replicas.

The real worker (in process, over NATS, against the sandbox) pauses with a resume time; two
action loops share the schedule. Exactly one resume reaches the sandbox, also when the replica
holding an action stalls before or after sending it (the other takes over once the lease
passed, and the worker's write claim drops the repeated attempt), and an action Better Stack
refuses is retried a bounded number of times and recorded as refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import msgspec
import pytest
import redis.asyncio as aioredis
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from stackmcp.betterstack_worker.execution.resume import ResumeScheduler
from stackmcp.contracts.actions import ActionOutcome, action_target
from stackmcp.contracts.audit import ToolCallCompleted
from stackmcp.contracts.keys import RedisKeys
from stackmcp.contracts.tools import ToolCallRequest, ToolCallResult
from stackmcp.expiry.actions import ActionRunner, ActionStore, Send
from stackmcp.expiry.config import ExpiryConfig
from stackmcp.expiry.metrics import ExpiryMetrics
from stackmcp.expiry.service import tool_sender
from stackmcp.runtime.errors import Unavailable
from tests.expiry.support import eventually
from tests.support.sandbox import RunningSandbox
from tests.support.worker import WorkerHarness, running_worker
from tests.worker.grant_calls import ok, writes_seen

pytestmark = pytest.mark.integration

MONITOR_TOOL = "update_a_better_stack_monitor_by_id"


@pytest.fixture
async def worker(
    nats_url: str, redis_url: str, sandbox_api: RunningSandbox, prefix: str
) -> AsyncIterator[WorkerHarness]:
    """The worker under the test's prefix (the replicas' keys and subjects)."""
    async with running_worker(
        nats_url, redis_url, base_url=sandbox_api.base_url, token=sandbox_api.token, prefix=prefix
    ) as harness:
        yield harness


class Loops:
    """Action loops running until the test ends."""

    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []

    def start(self, runner: ActionRunner) -> None:
        self.tasks.append(asyncio.create_task(runner.run(self.stop)))


@pytest.fixture
async def loops() -> AsyncIterator[Loops]:
    running = Loops()
    yield running
    running.stop.set()
    for task in running.tasks:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)


def _runner(
    redis: aioredis.Redis,
    keys: RedisKeys,
    send: Send,
    metrics: ExpiryMetrics | None = None,
    **settings: float,
) -> tuple[ActionRunner, list[ToolCallCompleted]]:
    audited: list[ToolCallCompleted] = []

    async def audit(record: ToolCallCompleted) -> None:
        audited.append(record)

    options: dict[str, float] = {"poll": 0.05, "timeout": 1.0, "lease": 2.0, "backoff": 0.2}
    options.update(settings)
    runner = ActionRunner(
        ActionStore(redis, keys),
        send,
        audit=audit,
        poll=options["poll"],
        timeout=options["timeout"],
        lease=options["lease"],
        backoff=options["backoff"],
        attempts=int(options.get("attempts", 5)),
        metrics=metrics,
    )
    return runner, audited


async def _outcome(redis: aioredis.Redis, keys: RedisKeys, action_id: str) -> ActionOutcome:
    async def done() -> bool:
        return bool(await redis.exists(keys.scheduled_outcome(action_id)))

    await eventually(done, 15)
    raw = await redis.get(keys.scheduled_outcome(action_id))
    assert raw is not None
    return msgspec.json.decode(raw, type=ActionOutcome)


async def _pause(worker: WorkerHarness, keys: RedisKeys, seconds: float) -> tuple[str, float]:
    """Pause monitor 3 until ``seconds`` from now; the action's id and due time."""
    resume_at = dt.datetime.fromtimestamp(time.time() + seconds, dt.UTC)
    arguments = {"monitor_id": "3", "paused": True, "resume_at": resume_at.isoformat()}
    result = ok(await worker.call(MONITOR_TOOL, arguments))
    assert result["result"]["status"] == "paused"
    target = keys.scheduled_target(worker.account_id, action_target(MONITOR_TOOL, "3"))
    action_id = await worker.redis.get(target)
    assert action_id is not None
    due = await worker.redis.zscore(keys.scheduled_actions, action_id)
    assert due == pytest.approx(resume_at.timestamp())
    assert dt.datetime.fromisoformat(result["resumes_at"]).timestamp() == pytest.approx(due, abs=1)
    return action_id.decode(), due


def _status(worker: WorkerHarness) -> Callable[[], Awaitable[str]]:
    async def status() -> str:
        answer = ok(await worker.call("get_single_better_stack_monitor_by_id", {"monitor_id": "3"}))
        return str(answer["result"]["status"])

    return status


async def test_two_replicas_resume_a_paused_monitor_exactly_once(
    worker: WorkerHarness,
    sandbox_api: RunningSandbox,
    redis: aioredis.Redis,
    keys: RedisKeys,
    loops: Loops,
) -> None:
    """Both loops see the due action; one runs it, right after its due time, and audits it;
    the metrics say one action ended ``done`` and none is left."""
    action_id, due = await _pause(worker, keys, 1.5)
    send = tool_sender(worker.nc, worker.subjects)
    reader = InMemoryMetricReader()
    metrics = ExpiryMetrics(MeterProvider(metric_readers=[reader]).get_meter("test"))
    first, first_audit = _runner(redis, keys, send, metrics)
    second, second_audit = _runner(redis, keys, send, metrics)
    loops.start(first)
    loops.start(second)

    outcome = await _outcome(redis, keys, action_id)
    assert outcome.outcome == "done"
    assert due <= outcome.at < due + 2.0
    assert await _status(worker)() != "paused"
    assert writes_seen(sandbox_api) == ["PATCH /api/v2/monitors/3"] * 2  # pause, resume
    assert await redis.zcard(keys.scheduled_actions) == 0
    assert not await redis.exists(keys.scheduled_action(action_id))
    audited = first_audit + second_audit
    assert [(a.tool, a.arguments, a.outcome, a.client_name) for a in audited] == [
        (MONITOR_TOOL, {"monitor_id": "3", "paused": False}, "ok", "stackmcp-expiry")
    ]
    assert audited[0].server_id == worker.server_id

    async def counted() -> bool:
        return metrics.actions == 0

    await eventually(counted, 5)
    data = reader.get_metrics_data()
    assert data is not None
    points = {
        metric.name: metric.data.data_points
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }
    ended = points["stackmcp.expiry.actions.ended"]
    assert [(p.attributes, p.value) for p in ended] == [({"stackmcp.outcome": "done"}, 1)]
    assert [p.value for p in points["stackmcp.expiry.actions.scheduled"]] == [0]


@pytest.mark.parametrize("stall", ["before_send", "after_send"])
async def test_a_stalled_replica_holding_the_action_is_taken_over_without_a_second_resume(
    worker: WorkerHarness,
    sandbox_api: RunningSandbox,
    redis: aioredis.Redis,
    keys: RedisKeys,
    loops: Loops,
    stall: str,
) -> None:
    """The replica holding the lease stalls (before sending, or after sending and before
    recording); the other runs the action once the lease passed. When the stalled one wakes it
    changes nothing, and the sandbox saw one resume."""
    action_id, due = await _pause(worker, keys, 0.5)
    send = tool_sender(worker.nc, worker.subjects)
    holding = asyncio.Event()
    wake = asyncio.Event()

    async def stalling(call: ToolCallRequest, timeout: float) -> ToolCallResult:
        if stall == "after_send":
            result = await send(call, timeout)
        holding.set()
        await wake.wait()
        if stall == "before_send":
            result = await send(call, timeout)
        return result

    async def is_due() -> bool:
        return time.time() >= due

    await eventually(is_due, 5)
    stalled, _ = _runner(redis, keys, stalling)
    stalled_run = asyncio.create_task(stalled.run_one(action_id))

    async def held() -> bool:
        return holding.is_set() or stalled_run.done()

    await eventually(held, 10)
    assert holding.is_set()
    assert await redis.zscore(keys.scheduled_actions, action_id) == due
    taker, _ = _runner(redis, keys, send)
    loops.start(taker)
    outcome = await _outcome(redis, keys, action_id)
    assert outcome.outcome == ("done" if stall == "before_send" else "sent")
    assert await _status(worker)() != "paused"

    wake.set()
    assert await asyncio.wait_for(stalled_run, 10) is True
    assert writes_seen(sandbox_api) == ["PATCH /api/v2/monitors/3"] * 2
    again = await redis.get(keys.scheduled_outcome(action_id))
    assert again is not None
    assert msgspec.json.decode(again, type=ActionOutcome) == outcome


async def test_a_refused_resume_is_retried_a_few_times_then_recorded_as_refused(
    worker: WorkerHarness,
    sandbox_api: RunningSandbox,
    redis: aioredis.Redis,
    keys: RedisKeys,
    loops: Loops,
) -> None:
    """Better Stack answers 404 (the monitor is gone): 3 attempts with backoff, then refused."""
    scheduler = ResumeScheduler(redis, keys)
    request = ToolCallRequest(
        server_id=worker.server_id,
        account_id=worker.account_id,
        tool=MONITOR_TOOL,
        call_id="pause-of-a-gone-monitor",
    )
    action = await scheduler.after_pause_change(
        request, {"monitor_id": "999999", "paused": True}, time.time()
    )
    assert action is not None
    send = tool_sender(worker.nc, worker.subjects)
    for _ in range(2):
        runner, _ = _runner(redis, keys, send, attempts=3, backoff=0.1)
        loops.start(runner)

    outcome = await _outcome(redis, keys, action.id)
    assert (outcome.outcome, outcome.attempts) == ("refused", 3)
    assert writes_seen(sandbox_api) == ["PATCH /api/v2/monitors/999999"] * 3
    assert await redis.zcard(keys.scheduled_actions) == 0


async def test_a_manual_resume_before_the_due_time_cancels_the_scheduled_one(
    worker: WorkerHarness,
    sandbox_api: RunningSandbox,
    redis: aioredis.Redis,
    keys: RedisKeys,
    loops: Loops,
) -> None:
    """Resumed by hand, then paused again without a resume time: the monitor stays paused."""
    action_id, due = await _pause(worker, keys, 1.0)
    ok(await worker.call(MONITOR_TOOL, {"monitor_id": "3", "paused": False}))
    ok(await worker.call(MONITOR_TOOL, {"monitor_id": "3", "paused": True}))
    runner, audited = _runner(redis, keys, tool_sender(worker.nc, worker.subjects))
    loops.start(runner)

    async def past_due() -> bool:
        return time.time() > due + 0.5 and runner.scheduled == 0

    await eventually(past_due, 10)
    assert await _status(worker)() == "paused"
    assert audited == []
    assert not await redis.exists(keys.scheduled_outcome(action_id))
    assert len(writes_seen(sandbox_api)) == 3


def test_the_lease_must_outlast_the_call_timeout() -> None:
    """A lease shorter than the wait for the worker would let a second replica take over a
    call still under way: refused at start."""
    with pytest.raises(msgspec.ValidationError, match="action_lease must exceed"):
        msgspec.convert({"action_lease": 10, "action_timeout": 30}, ExpiryConfig)
    assert msgspec.convert({"action_lease": 31, "action_timeout": 30}, ExpiryConfig)


async def test_unanswered_calls_are_retried_without_using_up_the_attempts(
    worker: WorkerHarness, redis: aioredis.Redis, keys: RedisKeys, loops: Loops
) -> None:
    """No worker answers (all down): each call is abandoned and the next one gets a new call
    id; the refusal budget stays whole, so the resume still runs once a worker is back."""
    scheduler = ResumeScheduler(redis, keys)
    request = ToolCallRequest(
        server_id=worker.server_id, account_id=worker.account_id, tool=MONITOR_TOOL
    )
    action = await scheduler.after_pause_change(
        request, {"monitor_id": "3", "paused": True}, time.time()
    )
    assert action is not None
    sent: list[str] = []
    send = tool_sender(worker.nc, worker.subjects)

    async def workers_down(call: ToolCallRequest, timeout: float) -> ToolCallResult:
        sent.append(call.call_id)
        if len(sent) <= 3:
            raise Unavailable("no service is answering")
        return await send(call, timeout)

    runner, _ = _runner(redis, keys, workers_down, attempts=1, backoff=0.05)
    loops.start(runner)
    outcome = await _outcome(redis, keys, action.id)
    assert (outcome.outcome, outcome.attempts) == ("done", 0)
    assert sent == [f"scheduled-{action.id}-{n}" for n in range(4)]
    for call_id in sent[:3]:
        assert await redis.get(keys.call_claim(call_id)) == b"abandoned"
