"""Provisioning writes with ``STACKMCP_REDIS_WAIT_REPLICAS``: on a replica before they return."""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis

from stackmcp.contracts.accounts import AccountRecord
from stackmcp.contracts.keys import RedisKeys
from stackmcp.embedded import ValkeyServer
from stackmcp.provisioning.store import Store
from stackmcp.runtime.config import RedisConfig
from stackmcp.runtime.redisx import connect_redis
from tests.support.sentinel import wait_until

pytestmark = pytest.mark.integration


def _account(account_id: str) -> AccountRecord:
    return AccountRecord(
        id=account_id, name=account_id, sealed_token="sealed", created_at=datetime.now(UTC)
    )


@pytest.fixture
async def primary_and_replica(tmp_path: Path) -> AsyncIterator[tuple[ValkeyServer, ValkeyServer]]:
    """A primary and one replica in sync."""
    with (
        ValkeyServer(tmp_path / "primary") as primary,
        ValkeyServer(tmp_path / "replica", replica_of=(primary.host, primary.port)) as replica,
    ):
        with redis.Redis.from_url(replica.url) as probe:
            wait_until(
                lambda: probe.info("replication").get("master_link_status") == "up",
                30,
                "the replica to sync",
            )
        yield primary, replica


async def test_an_acknowledged_write_is_already_on_the_replica(
    primary_and_replica: tuple[ValkeyServer, ValkeyServer], caplog: pytest.LogCaptureFixture
) -> None:
    """With wait_replicas=1 the replica holds every write the store returned from; with the
    replica frozen, writes still succeed after about wait_timeout, with a warning."""
    primary, replica = primary_and_replica
    config = RedisConfig(url=primary.url, wait_replicas=1, wait_timeout=0.5)
    client = await connect_redis(config)
    on_replica = aioredis.Redis.from_url(replica.url)
    keys = RedisKeys()
    store = Store(client, keys, config)
    try:
        for i in range(50):
            await store.put_account(_account(f"acc_{i}"))
            assert await on_replica.exists(keys.account(f"acc_{i}")) == 1
        assert replica.pid is not None
        os.kill(replica.pid, signal.SIGSTOP)
        try:
            with caplog.at_level(logging.WARNING, logger="stackmcp.runtime.redisx"):
                started = time.monotonic()
                await store.put_account(_account("acc_lagging"))
                elapsed = time.monotonic() - started
            assert elapsed >= 0.5
            assert "acknowledged by 0 of 1 replicas" in caplog.text
            assert await store.get_account("acc_lagging") is not None
        finally:
            os.kill(replica.pid, signal.SIGCONT)
    finally:
        await on_replica.aclose()
        await client.aclose()
