"""Bounded sessions and inbound rate limits, on a real Valkey and NATS.

2,000 ``initialize`` calls that never send DELETE must leave bounded memory and keys: per server
the cap holds, and everywhere the local copies stay under their bound. Rate limits are counted in
Valkey, so two gateway replicas share one budget.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import redis.asyncio as aioredis
from nats.aio.client import Client

from stackmcp.contracts.grants import Grant
from stackmcp.contracts.keys import RedisKeys
from stackmcp.gateway.ratelimit import LOCAL_SHARE, RedisRateLimiter
from stackmcp.gateway.sessions import SessionStore
from stackmcp.runtime.config import NatsConfig, RedisConfig
from stackmcp.runtime.natsx import connect
from stackmcp.runtime.redisx import connect_redis

pytestmark = pytest.mark.integration


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A client as the gateway opens it (its pool waits for a free connection in a burst)."""
    client = await connect_redis(RedisConfig(url=redis_url))
    yield client
    await client.aclose()


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    client = await connect(NatsConfig(url=nats_url), "limits-test")
    yield client
    await client.close()


async def count_keys(redis: aioredis.Redis, pattern: str) -> int:
    return sum([1 async for _ in redis.scan_iter(match=pattern, count=1000)])


async def wait_for(condition: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await condition():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_2000_abandoned_sessions_leave_bounded_keys_and_memory(
    redis: aioredis.Redis, nc: Client
) -> None:
    keys = RedisKeys(f"lim{secrets.token_hex(3)}")
    store = SessionStore(
        redis, keys, nc, f"{keys.prefix}.closed", ttl=3600, max_per_server=100, max_local=500
    )
    await store.start()
    for batch in range(20):
        await asyncio.gather(
            *(store.create(f"th{batch}", "srv_one", "2025-06-18", "streamable") for _ in range(100))
        )
    members = keys.server_sessions("srv_one")

    async def settled() -> bool:
        sessions = await count_keys(redis, f"{keys.prefix}:session:*")
        return sessions == 100 and int(await redis.zcard(members)) == 100

    await wait_for(settled)
    assert store.local_count <= 500
    print(f"\n2,000 abandoned sessions on one server: 100 session keys, {store.local_count} local")


async def test_sessions_spread_over_many_servers_keep_local_copies_bounded(
    redis: aioredis.Redis, nc: Client
) -> None:
    keys = RedisKeys(f"lim{secrets.token_hex(3)}")
    store = SessionStore(redis, keys, nc, f"{keys.prefix}.closed", ttl=2, max_local=300)
    for batch in range(20):
        await asyncio.gather(
            *(
                store.create("th", f"srv_{batch}_{i}", "2025-06-18", "streamable")
                for i in range(100)
            )
        )
    assert store.local_count <= 300

    async def expired() -> bool:
        return await count_keys(redis, f"{keys.prefix}:*") == 0

    await wait_for(expired)  # idle TTL: Valkey forgets every abandoned session and its index


def grant(server_id: str, account_id: str) -> Grant:
    return Grant(server_id=server_id, account_id=account_id)


async def test_two_replicas_share_one_budget(redis: aioredis.Redis) -> None:
    keys = RedisKeys(f"lim{secrets.token_hex(3)}")
    replicas = [
        RedisRateLimiter(redis, keys, per_server=0, per_account=10, window=60) for _ in range(2)
    ]
    one, two = grant("srv_a", "acc_x"), grant("srv_b", "acc_x")
    admitted = [await replicas[i % 2].admit(one if i % 3 else two) for i in range(10)]
    assert admitted == [None] * 10
    refused = await replicas[0].admit(one)
    assert refused is not None
    assert (refused.limit, refused.remaining) == (10, 0)
    assert refused.retry_after is not None
    assert 1 <= refused.retry_after <= 60
    assert await replicas[1].admit(grant("srv_c", "acc_other")) is None


async def test_the_server_limit_holds_for_one_server_only(redis: aioredis.Redis) -> None:
    keys = RedisKeys(f"lim{secrets.token_hex(3)}")
    limiter = RedisRateLimiter(redis, keys, per_server=2, per_account=0, window=60)
    busy = grant("srv_busy", "acc_y")
    assert [await limiter.admit(busy) for _ in range(2)] == [None, None]
    assert await limiter.admit(busy) is not None
    assert await limiter.admit(grant("srv_quiet", "acc_y")) is None


async def test_windows_roll_over(redis: aioredis.Redis) -> None:
    keys = RedisKeys(f"lim{secrets.token_hex(3)}")
    now = [1_000_000.0]
    limiter = RedisRateLimiter(
        redis, keys, per_server=1, per_account=0, window=10, clock=lambda: now[0]
    )
    assert await limiter.admit(grant("srv_r", "acc_r")) is None
    refused = await limiter.admit(grant("srv_r", "acc_r"))
    assert refused is not None
    assert refused.retry_after == 10
    now[0] += 10
    assert await limiter.admit(grant("srv_r", "acc_r")) is None


async def test_large_limits_count_locally_and_still_hold_exactly(redis: aioredis.Redis) -> None:
    """Far from a large limit each replica counts locally (no Redis round trip per call) and
    adds its counts every 0.1 s or once it holds 5 % of the limit; near it every call is counted
    in Redis, so two replicas bursting together pass the limit by at most 5 % (the other
    replica's share not added yet)."""
    keys = RedisKeys(f"lim{secrets.token_hex(3)}")
    limit = 400
    replicas = [
        RedisRateLimiter(redis, keys, per_server=limit, per_account=0, window=3600)
        for _ in range(2)
    ]
    stop = asyncio.Event()
    flushers = [asyncio.create_task(replica.run(stop)) for replica in replicas]
    busy = grant("srv_big", "acc_big")
    counter = keys.rate_window("server", "srv_big", int(time.time() // 3600))
    for _ in range(19):
        assert await replicas[0].admit(busy) is None
    assert await redis.get(counter) is None  # nothing sent yet: counted locally

    async def flushed() -> bool:
        return int(await redis.get(counter) or 0) == 19

    await wait_for(flushed)
    outcomes = [await replicas[i % 2].admit(busy) for i in range(500)]
    stop.set()
    await asyncio.gather(*flushers)
    admitted = 19 + sum(outcome is None for outcome in outcomes)
    assert limit <= admitted <= limit + limit // LOCAL_SHARE
    refused = next(outcome for outcome in outcomes if outcome is not None)
    assert (refused.limit, refused.remaining) == (limit, 0)
