"""``connect_redis`` against real Valkey servers: bursts, restarts, retry budget, replica waits."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError

from stackmcp.embedded import ValkeyServer
from stackmcp.runtime.config import ConfigError, RedisConfig, load_section
from stackmcp.runtime.errors import Unavailable
from stackmcp.runtime.redisx import connect_redis, replicated
from tests.support.sentinel import wait_until

pytestmark = pytest.mark.integration


def test_settings_load_from_the_environment() -> None:
    """Sentinels are a comma list of host:port; the WAIT timeout must fit the socket timeout."""
    config = load_section(
        RedisConfig,
        "REDIS",
        {
            "STACKMCP_REDIS_SENTINELS": "valkey-0.valkey:26379, valkey-1.valkey:26379",
            "STACKMCP_REDIS_MAX_CONNECTIONS": "64",
            "STACKMCP_REDIS_WAIT_REPLICAS": "1",
        },
    )
    assert config.sentinels == ("valkey-0.valkey:26379", "valkey-1.valkey:26379")
    assert (config.max_connections, config.wait_replicas) == (64, 1)
    with pytest.raises(ConfigError, match="STACKMCP_REDIS_SENTINELS"):
        load_section(RedisConfig, "REDIS", {"STACKMCP_REDIS_SENTINELS": "no-port"})
    with pytest.raises(ConfigError, match="STACKMCP_REDIS_WAIT_TIMEOUT"):
        load_section(RedisConfig, "REDIS", {"STACKMCP_REDIS_WAIT_TIMEOUT": "5"})


async def test_a_burst_larger_than_the_pool_waits_for_connections(redis_url: str) -> None:
    """300 concurrent commands through 20 connections all succeed; a plain pool refuses some."""
    plain = aioredis.Redis.from_url(redis_url, max_connections=20)
    try:
        refused = await asyncio.gather(
            *(plain.set(f"burst:{i}", i) for i in range(300)), return_exceptions=True
        )
        assert any(isinstance(r, MaxConnectionsError) for r in refused)
    finally:
        await plain.aclose()
    client = await connect_redis(RedisConfig(url=redis_url, max_connections=20, pool_timeout=30))
    try:
        await asyncio.gather(*(client.set(f"burst:{i}", i) for i in range(300)))
        values = await asyncio.gather(*(client.get(f"burst:{i}") for i in range(300)))
        assert values == [str(i).encode() for i in range(300)]
        assert len(client.connection_pool._available_connections) == 20
    finally:
        await client.aclose()


async def test_no_error_reaches_callers_after_a_restart(tmp_path: Path) -> None:
    """Every pooled connection is stale after a restart; the next commands still all succeed."""
    server = ValkeyServer(tmp_path).start()
    port = server.port
    client = await connect_redis(RedisConfig(url=server.url, max_connections=50))
    restarted = ValkeyServer(tmp_path, port=port)
    try:
        await asyncio.gather(*(client.set(f"restart:{i}", i) for i in range(50)))
        assert len(client.connection_pool._available_connections) == 50
        await asyncio.to_thread(server.stop)
        await asyncio.to_thread(restarted.start)
        values = await asyncio.gather(*(client.get(f"restart:{i}") for i in range(50)))
        assert values == [str(i).encode() for i in range(50)]
        async with client.pipeline(transaction=True) as pipe:
            pipe.incr("restart:counter")
            pipe.get("restart:0")
            assert await pipe.execute() == [1, b"0"]
    finally:
        await client.aclose()
        restarted.stop()
        server.stop()


async def test_commands_wait_out_a_short_outage(tmp_path: Path) -> None:
    """A command sent while the server is down succeeds once it is back within the budget."""
    server = ValkeyServer(tmp_path).start()
    port = server.port
    client = await connect_redis(RedisConfig(url=server.url, retry_budget=30))
    restarted = ValkeyServer(tmp_path, port=port)
    try:
        await client.set("outage", "kept")
        await asyncio.to_thread(server.stop)
        pending = asyncio.ensure_future(client.get("outage"))
        await asyncio.to_thread(restarted.start)
        assert await pending == b"kept"
    finally:
        await client.aclose()
        restarted.stop()
        server.stop()


async def test_an_outage_longer_than_the_budget_reaches_the_caller(tmp_path: Path) -> None:
    """With the server gone, a command gives up after about ``retry_budget`` seconds."""
    server = ValkeyServer(tmp_path).start()
    client = await connect_redis(
        RedisConfig(url=server.url, retry_budget=1.0, retries=100, connect_timeout=0.5)
    )
    try:
        await asyncio.to_thread(server.stop)
        started = time.monotonic()
        with pytest.raises(RedisConnectionError):
            await client.get("gone")
        elapsed = time.monotonic() - started
        assert 1.0 <= elapsed < 10.0, elapsed
    finally:
        await client.aclose()
        server.stop()


async def test_wait_for_replicas_confirms_and_reports_a_shortfall(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``replicated`` confirms writes a replica acknowledged, and warns when none can."""
    primary = ValkeyServer(tmp_path / "primary").start()
    replica = ValkeyServer(tmp_path / "replica", replica_of=(primary.host, primary.port)).start()
    config = RedisConfig(url=primary.url, wait_replicas=1, wait_timeout=0.3)
    client = await connect_redis(config)
    try:
        await asyncio.to_thread(
            wait_until,
            lambda: _link_up(replica),
            30,
            "the replica to sync",
        )
        async with replicated(client, config) as outcome:
            await client.set("durable", "yes")
        assert outcome.confirmed
        assert outcome.acknowledged == 1
        assert replica.pid is not None
        os.kill(replica.pid, signal.SIGSTOP)
        try:
            with caplog.at_level(logging.WARNING, logger="stackmcp.runtime.redisx"):
                async with replicated(client, config) as outcome:
                    await client.set("durable", "maybe")
            assert not outcome.confirmed
            assert outcome.acknowledged == 0
            assert "acknowledged by 0 of 1 replicas" in caplog.text
        finally:
            os.kill(replica.pid, signal.SIGCONT)
        assert await client.get("durable") == b"maybe"
        nothing = RedisConfig(url=primary.url)
        async with replicated(client, nothing) as outcome:
            await client.set("durable", "fast")
        assert outcome.confirmed
    finally:
        await client.aclose()
        replica.stop()
        primary.stop()


def _link_up(replica: ValkeyServer) -> bool:
    with redis.Redis.from_url(replica.url) as sync:
        return sync.info("replication").get("master_link_status") == "up"


async def test_connect_gives_up_when_stopped() -> None:
    """Waiting for an absent server ends promptly when ``stop`` is set, mid-retry."""
    stop = asyncio.Event()
    config = RedisConfig(url="redis://127.0.0.1:1/0", retry_budget=60, retries=1000)
    waiting = asyncio.ensure_future(connect_redis(config, stop=stop))
    stop.set()
    with pytest.raises(Unavailable):
        await asyncio.wait_for(waiting, 10)
