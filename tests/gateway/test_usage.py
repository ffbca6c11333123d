"""Per-server usage counters: what the gateway adds to Redis, on a real Valkey."""

from __future__ import annotations

import datetime as dt
import time

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from stackmcp.contracts.audit import Outcome, ToolCallCompleted
from stackmcp.contracts.keys import RedisKeys
from stackmcp.contracts.usage import (
    LAST_USED_FIELD,
    USAGE_TTL,
    calls_field,
    hour_of,
    summarize_usage,
)
from stackmcp.gateway.usage import UsageCounter
from tests.gateway.test_audit import HIDDEN, call, serve, session, shutdown, until

pytestmark = pytest.mark.integration

NOW = dt.datetime(2026, 12, 2, 10, 30, tzinfo=dt.UTC)


def _unreachable() -> aioredis.Redis:
    return aioredis.Redis(port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))


def _record(server_id: str, outcome: Outcome = "ok", when: dt.datetime = NOW) -> ToolCallCompleted:
    return ToolCallCompleted(
        id=f"r{time.perf_counter_ns()}",
        time=when,
        duration_ms=1.0,
        account_id="acc",
        server_id=server_id,
        outcome=outcome,
    )


async def test_gateway_calls_reach_the_usage_hash(nats_url: str, redis_url: str) -> None:
    served = await serve(nats_url, redis_url)
    h = served.harness
    try:
        sid = await session(h)
        for _ in range(3):
            await call(h, sid)
        await call(h, sid, HIDDEN)
        key = h.keys.server_usage(h.grant.server_id)

        async def counted() -> bool:
            usage = summarize_usage(await h.redis.hgetall(key), time.time())
            return (usage.calls_24h, usage.errors_24h) == (4, 1)

        await until(counted)
        usage = summarize_usage(await h.redis.hgetall(key), time.time())
        assert usage.last_used_at is not None
        assert abs((dt.datetime.now(dt.UTC) - usage.last_used_at).total_seconds()) < 60
        assert 0 < await h.redis.ttl(key) <= USAGE_TTL
    finally:
        await shutdown(served)


async def test_counts_survive_a_failed_flush_and_last_used_keeps_the_max(redis_url: str) -> None:
    keys = RedisKeys("usage")
    good = aioredis.Redis.from_url(redis_url)
    away = _unreachable()
    counter = UsageCounter(away, keys)
    try:
        earlier = NOW - dt.timedelta(hours=2)
        counter.count(_record("srv_a"))
        counter.count(_record("srv_a", "tool_error", earlier))
        counter.count(_record("srv_b", "refused"))
        assert await counter.flush() is False  # Redis away: nothing lost
        counter.count(_record("srv_a"))
        later = NOW.timestamp() + 3600
        await good.hset(keys.server_usage("srv_a"), LAST_USED_FIELD, later)
        counter._redis = good  # Redis back
        assert await counter.flush() is True
        a = await good.hgetall(keys.server_usage("srv_a"))
        usage = summarize_usage(a, NOW.timestamp())
        assert (usage.calls_24h, usage.errors_24h) == (3, 1)
        assert int(a[calls_field(hour_of(NOW.timestamp())).encode()]) == 2
        assert float(a[LAST_USED_FIELD.encode()]) == later  # the larger last use stays
        b = summarize_usage(await good.hgetall(keys.server_usage("srv_b")), NOW.timestamp())
        assert (b.calls_24h, b.errors_24h) == (1, 1)
        assert await counter.flush() is True  # nothing left to add
        again = summarize_usage(await good.hgetall(keys.server_usage("srv_a")), NOW.timestamp())
        assert again.calls_24h == 3
    finally:
        await good.aclose()
        await away.aclose()


async def test_unflushed_servers_are_bounded(redis_url: str) -> None:
    away = _unreachable()
    counter = UsageCounter(away, RedisKeys("usage"), max_servers=2)
    try:
        for server in ("s1", "s2", "s3"):
            counter.count(_record(server))
        assert counter.lost == 1
        assert await counter.flush() is False
    finally:
        await away.aclose()
