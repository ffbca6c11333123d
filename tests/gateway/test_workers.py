"""Routing tool calls around stalled and dead workers, with writes run at most once.

A healthy worker is the real executor behind real NATS endpoints against the sandbox
(:func:`tests.support.worker.running_worker`). A *stalled* worker is what a SIGSTOPped process
looks like from the gateway: its subject takes messages and nothing ever comes back — no beacon,
no answer. The gateway side is the real :class:`WorkerCaller` and :class:`WorkerPool`.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from nats.aio.msg import Msg

from stackmcp.contracts.keys import RedisKeys
from stackmcp.contracts.subjects import Subjects
from stackmcp.contracts.tools import ToolCallRequest, ToolCallResult, WorkerPresence
from stackmcp.gateway.workers import (
    NO_WORKER,
    NOT_RUN,
    READ_TIMED_OUT,
    WRITE_UNCERTAIN,
    WorkerCaller,
    WorkerPool,
)
from stackmcp.runtime.errors import DeadlineExceeded, Unavailable
from stackmcp.runtime.natsx import Endpoint, NoReply
from tests.support.sandbox import RunningSandbox
from tests.support.worker import ALL_METHODS, WorkerHarness, running_worker

pytestmark = pytest.mark.integration

READ = "list_all_better_stack_incidents"
WRITE = "create_a_better_stack_incident_comment"
SILENCE = 0.4
REQUESTS = msgspec.json.Decoder(ToolCallRequest)


@pytest.fixture
async def worker(
    nats_url: str, redis_url: str, sandbox_api: RunningSandbox
) -> AsyncIterator[WorkerHarness]:
    async with running_worker(
        nats_url, redis_url, base_url=sandbox_api.base_url, token=sandbox_api.token
    ) as harness:
        yield harness


class StalledWorker:
    """A worker id whose subject swallows calls (optionally claiming writes first)."""

    def __init__(self, harness: WorkerHarness, *, claims_writes: bool = False) -> None:
        self.id = f"stalled{secrets.token_hex(3)}"
        self.harness = harness
        self.claims_writes = claims_writes
        self.swallowed: list[Msg] = []

    async def start(self) -> None:
        subject = self.harness.subjects.worker_tool_call(self.id)
        await self.harness.nc.subscribe(subject, cb=self._swallow)
        await self.harness.nc.flush()

    async def _swallow(self, msg: Msg) -> None:
        self.swallowed.append(msg)
        if self.claims_writes:
            call = REQUESTS.decode(msg.data)
            await self.harness.redis.set(RedisKeys().call_claim(call.call_id), self.id, nx=True)


def announce(pool: WorkerPool, worker_id: str) -> None:
    pool.seen(WorkerPresence(worker_id=worker_id, interval=1.0))


async def routed_to(
    harness: WorkerHarness, worker_id: str, subjects: Subjects | None = None
) -> tuple[WorkerPool, WorkerCaller]:
    """A gateway's pool that knows only ``worker_id``, and a started caller using it."""
    pool = WorkerPool()
    announce(pool, worker_id)
    runner = WorkerCaller(
        harness.nc,
        subjects or harness.subjects,
        pool,
        harness.redis,
        RedisKeys(),
        silence=SILENCE,
    )
    await runner.start()
    return pool, runner


def call(harness: WorkerHarness, tool: str, arguments: dict[str, Any], timeout: float = 8) -> Any:
    return ToolCallRequest(
        server_id=harness.server_id,
        account_id=harness.account_id,
        tool=tool,
        arguments=arguments,
        methods=ALL_METHODS,
        call_id=secrets.token_hex(12),
        deadline=time.time() + timeout,
    )


async def comments_with(harness: WorkerHarness, marker: str) -> int:
    result = await harness.call("list_all_better_stack_incident_comments", {"incident_id": "7"})
    assert not result.is_error, result.text
    return sum(marker in c["content"] for c in result.structured_value()["result"])


async def test_calls_go_to_the_announced_worker_directly(worker: WorkerHarness) -> None:
    pool, runner = await routed_to(worker, worker.worker_id)
    result = await runner.run(call(worker, READ, {"limit": 1}), write=False)
    assert not result.is_error, result.text
    assert len(pool) == 1


async def test_a_read_on_a_stalled_worker_moves_on_within_the_silence(
    worker: WorkerHarness,
) -> None:
    stalled = StalledWorker(worker)
    await stalled.start()
    pool, runner = await routed_to(worker, stalled.id)
    started = time.monotonic()
    result = await runner.run(call(worker, READ, {"limit": 1}), write=False)
    elapsed = time.monotonic() - started
    assert not result.is_error, result.text
    assert len(stalled.swallowed) == 1
    assert SILENCE <= elapsed < SILENCE + 1.5
    assert pool.pick(set()) is None  # the stalled worker is routed around from now on


async def test_a_write_on_a_stalled_worker_runs_once_even_when_it_resumes(
    worker: WorkerHarness, sandbox_api: RunningSandbox
) -> None:
    """The stalled worker never claimed the write: the gateway abandons that call id, sends the
    write again under a new id, and the stalled worker's copy is dropped when it resumes."""
    stalled = StalledWorker(worker)
    await stalled.start()
    _, runner = await routed_to(worker, stalled.id)
    marker = f"once-{secrets.token_hex(4)}"
    result = await runner.run(
        call(worker, WRITE, {"incident_id": "7", "content": marker}), write=True
    )
    assert not result.is_error, result.text
    assert await comments_with(worker, marker) == 1
    (late,) = stalled.swallowed  # the stalled worker resumes and serves what it held
    with pytest.raises(NoReply):
        await worker.executor.call(REQUESTS.decode(late.data))
    assert await comments_with(worker, marker) == 1


async def test_a_write_claimed_by_a_worker_that_then_dies_fails_fast_and_honestly(
    worker: WorkerHarness,
) -> None:
    stalled = StalledWorker(worker, claims_writes=True)
    await stalled.start()
    _, runner = await routed_to(worker, stalled.id)
    marker = f"maybe-{secrets.token_hex(4)}"
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded) as raised:
        await runner.run(call(worker, WRITE, {"incident_id": "7", "content": marker}), write=True)
    assert raised.value.message == WRITE_UNCERTAIN
    assert time.monotonic() - started < SILENCE + 1.5
    assert await comments_with(worker, marker) == 0  # and no other worker ran it


async def test_a_write_nobody_could_start_before_its_deadline_never_runs(
    worker: WorkerHarness,
) -> None:
    """The worker stalled until the deadline: the client is told the write did not happen,
    and a copy served after the deadline is dropped before anything reaches Better Stack."""
    stalled = StalledWorker(worker)
    await stalled.start()
    _, runner = await routed_to(worker, stalled.id)
    marker = f"late-{secrets.token_hex(4)}"
    request = call(worker, WRITE, {"incident_id": "7", "content": marker}, timeout=0.3)
    with pytest.raises(DeadlineExceeded) as raised:
        await runner.run(request, write=True)
    assert raised.value.message == NOT_RUN
    with pytest.raises(NoReply):
        await worker.executor.call(REQUESTS.decode(stalled.swallowed[0].data))
    assert await comments_with(worker, marker) == 0


async def test_a_slow_worker_that_keeps_beaconing_is_waited_for(worker: WorkerHarness) -> None:
    prefix_subjects = worker.subjects
    finished = ToolCallResult(structured=msgspec.Raw(b'{"result":"slow"}'))

    async def slow(_: ToolCallRequest) -> msgspec.Struct:
        await asyncio.sleep(SILENCE * 3)
        return finished

    slow_id = f"slow{secrets.token_hex(3)}"
    endpoint = Endpoint(
        worker.nc,
        prefix_subjects.tool_call + ".slow",
        "slow",
        ToolCallRequest,
        slow,
        direct=prefix_subjects.worker_tool_call(slow_id),
        beacon=lambda call: call.beacon,
    )
    await endpoint.start()
    pool, runner = await routed_to(worker, slow_id)
    result = await runner.run(call(worker, READ, {}), write=False)
    assert result.structured_value() == {"result": "slow"}
    assert len(pool) == 1  # not mistaken for a stalled worker
    await endpoint.drain()


async def test_a_read_past_its_deadline_is_a_timeout_at_the_deadline(
    worker: WorkerHarness,
) -> None:
    async def never(_: ToolCallRequest) -> msgspec.Struct:
        await asyncio.sleep(30)
        raise AssertionError("unreachable")

    slow_id = f"never{secrets.token_hex(3)}"
    endpoint = Endpoint(
        worker.nc,
        worker.subjects.tool_call + ".never",
        "never",
        ToolCallRequest,
        never,
        direct=worker.subjects.worker_tool_call(slow_id),
        beacon=lambda call: call.beacon,
    )
    await endpoint.start()
    _, runner = await routed_to(worker, slow_id)
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded) as raised:
        await runner.run(call(worker, READ, {}, timeout=1.0), write=False)
    assert raised.value.message == READ_TIMED_OUT
    assert 0.9 <= time.monotonic() - started < 2.0
    await endpoint.drain(timeout=0.1)


async def test_no_worker_at_all_is_unavailable_at_once(worker: WorkerHarness) -> None:
    # announced, then exited: nobody serves its subject (nor the queue group of this prefix)
    pool, runner = await routed_to(worker, "gone-worker", Subjects(f"none{secrets.token_hex(3)}"))
    started = time.monotonic()
    with pytest.raises(Unavailable) as raised:
        await runner.run(call(worker, READ, {}), write=False)
    assert raised.value.message == NO_WORKER
    assert time.monotonic() - started < SILENCE
    assert len(pool) == 0


async def test_a_call_past_its_deadline_is_dropped_by_the_worker(
    worker: WorkerHarness, sandbox_api: RunningSandbox
) -> None:
    before = len(sandbox_api.admin("GET", "requests").json()["requests"])
    request = msgspec.structs.replace(call(worker, READ, {}), deadline=time.time() - 1)
    with pytest.raises(NoReply):
        await worker.executor.call(request)
    assert len(sandbox_api.admin("GET", "requests").json()["requests"]) == before
