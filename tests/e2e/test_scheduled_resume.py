"""A paused monitor resumed exactly once, with two expiry replicas, through the SDK client.

The production shape of :mod:`tests.support.distributed` (two gateways, two workers, two expiry
replicas, a 3-node JetStream cluster, Valkey) with a short action poll. An MCP client pauses
sandbox monitor 3 with ``resume_at`` a few seconds ahead; the sandbox then sees exactly one
resume (``PATCH /api/v2/monitors/3`` twice in all: the pause and the resume), also when the
replica running the resume is stopped (SIGSTOP) while it waits for the worker's answer.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import msgspec
import pytest
import redis.asyncio as aioredis
from mcp import Client

from stackmcp.contracts.actions import ActionOutcome, action_target
from stackmcp.contracts.keys import RedisKeys
from tests.support.distributed import Distributed, distributed_shape
from tests.support.sandbox import RunningSandbox

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

TOOL = "update_a_better_stack_monitor_by_id"
MONITOR = "/api/v2/monitors/3"


@pytest.fixture(scope="module")
def distributed(
    running_sandbox: RunningSandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Distributed]:
    with distributed_shape(
        tmp_path_factory.mktemp("resume"),
        running_sandbox,
        STACKMCP_EXPIRY_ACTION_POLL="0.1",
        STACKMCP_EXPIRY_ACTION_TIMEOUT="4",
        STACKMCP_EXPIRY_ACTION_LEASE="6",
    ) as system:
        yield system


@pytest.fixture
async def redis(distributed: Distributed) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(distributed.valkey.url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture(autouse=True)
async def fresh(distributed: Distributed) -> AsyncIterator[None]:
    """The sandbox reset (monitor 3 up, request log empty); everything running afterwards."""
    sandbox = distributed.sandbox
    assert sandbox.admin("PATCH", "knobs", {"latency_ms": 0}).status_code == 200
    assert sandbox.admin("POST", "reset").status_code in (200, 204)
    yield
    sandbox.admin("PATCH", "knobs", {"latency_ms": 0})
    await distributed.make_whole()


def _keys(distributed: Distributed) -> RedisKeys:
    return RedisKeys(distributed.env["STACKMCP_REDIS_KEY_PREFIX"])


def _monitor_writes(distributed: Distributed) -> int:
    log: list[dict[str, Any]] = distributed.sandbox.admin("GET", "requests").json()["requests"]
    return sum(1 for r in log if r["method"] == "PATCH" and r["path"] == MONITOR)


async def _paused(distributed: Distributed) -> bool:
    sandbox = distributed.sandbox
    async with httpx.AsyncClient(timeout=5) as http:
        answer = await http.get(
            f"{sandbox.base_url}{MONITOR}", headers={"Authorization": f"Bearer {sandbox.token}"}
        )
    return bool(answer.json()["data"]["attributes"]["status"] == "paused")


async def _wait(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:g} s"
        await asyncio.sleep(0.05)


async def _calls_of(distributed: Distributed, server_id: str, count: int) -> list[dict[str, Any]]:
    """The tool-call records of ``server_id`` from ``GET /log``, once there are ``count``."""
    deadline = time.monotonic() + 20
    async with distributed.admin_async() as admin:
        while True:
            answer = await admin.get("/log", params={"kind": "call", "server_id": server_id})
            items: list[dict[str, Any]] = answer.json()["items"] if answer.is_success else []
            if len(items) >= count or time.monotonic() > deadline:
                return items
            await asyncio.sleep(0.1)


async def _pause(
    distributed: Distributed, redis: aioredis.Redis, seconds: float
) -> tuple[str, str]:
    """Pause monitor 3 through gateway 0 until ``seconds`` from now; the action and server ids."""
    server = distributed.create_server(
        name="pause-for-a-while", config={"methods": ["read", "update"], "tags": ["monitors"]}
    )
    resume_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
    arguments = {"monitor_id": 3, "paused": True, "resume_at": resume_at.isoformat()}
    async with Client(distributed.mcp_url(server, 0)) as client:
        result = await client.call_tool(TOOL, arguments)
    assert not result.is_error, result.content
    structured = result.structured_content
    assert structured is not None
    assert structured["result"]["status"] == "paused"
    resumes = dt.datetime.fromisoformat(structured["resumes_at"])
    assert abs((resumes - resume_at).total_seconds()) <= 1
    assert await _paused(distributed)
    keys = _keys(distributed)
    target = keys.scheduled_target(distributed.account_id, action_target(TOOL, "3"))
    action_id = await redis.get(target)
    assert action_id is not None
    return str(action_id.decode()), str(server["id"])


async def _outcome(redis: aioredis.Redis, keys: RedisKeys, action_id: str) -> ActionOutcome:
    async def recorded() -> bool:
        return bool(await redis.exists(keys.scheduled_outcome(action_id)))

    await _wait(recorded, 30, "the scheduled resume's outcome")
    raw = await redis.get(keys.scheduled_outcome(action_id))
    assert raw is not None
    return msgspec.json.decode(raw, type=ActionOutcome)


async def test_a_paused_monitor_is_resumed_once_by_two_expiry_replicas(
    distributed: Distributed, redis: aioredis.Redis
) -> None:
    action_id, server_id = await _pause(distributed, redis, 3)
    keys = _keys(distributed)
    outcome = await _outcome(redis, keys, action_id)
    assert (outcome.outcome, outcome.attempts) == ("done", 0)
    assert not await _paused(distributed)
    assert await redis.zcard(keys.scheduled_actions) == 0
    assert _monitor_writes(distributed) == 2  # the pause and one resume
    calls = await _calls_of(distributed, server_id, 2)
    resumes = [c for c in calls if c.get("client_name") == "stackmcp-expiry"]
    assert [(c["tool"], c["arguments"], c["outcome"]) for c in resumes] == [
        (TOOL, {"monitor_id": "3", "paused": False}, "ok")
    ]
    assert len(calls) == 2


async def test_the_resume_survives_a_stopped_replica_without_a_second_resume(
    distributed: Distributed, redis: aioredis.Redis
) -> None:
    """The replica holding the resume is SIGSTOPped while the sandbox takes 2.5 s to answer;
    the other takes over after the lease: the worker's write claim drops its repeat."""
    action_id, _ = await _pause(distributed, redis, 2)
    keys = _keys(distributed)
    assert distributed.sandbox.admin("PATCH", "knobs", {"latency_ms": 2500}).status_code == 200
    holder: list[bytes] = []

    async def claimed() -> bool:
        value = await redis.get(keys.scheduled_claim(action_id))
        if value is not None:
            holder.append(value)
        return value is not None

    await _wait(claimed, 15, "a replica holding the resume")
    pid = int(holder[0].split(b"-", 1)[0])
    stopped = next(replica for replica in distributed.expiry if replica.pid == pid)
    stopped.pause()
    other = next(replica for replica in distributed.expiry if replica is not stopped)

    outcome = await _outcome(redis, keys, action_id)
    assert outcome.outcome in ("done", "sent")
    assert other.running
    assert not await _paused(distributed)
    stopped.resume()
    await stopped.await_ready()
    assert await redis.get(keys.scheduled_outcome(action_id)) == msgspec.json.encode(outcome)
    assert _monitor_writes(distributed) == 2
