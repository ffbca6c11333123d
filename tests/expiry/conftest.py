"""Fixtures of the expiry tests: a Redis client and key names under a prefix of their own."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from stackmcp.contracts import RedisKeys, Subjects
from tests.expiry.support import Provisioner, unique_prefix


@pytest.fixture
def prefix() -> str:
    """Subject and key prefix of this test alone."""
    return unique_prefix()


@pytest.fixture
def keys(prefix: str) -> RedisKeys:
    """Key names under the test's prefix."""
    return RedisKeys(prefix)


@pytest.fixture
def subjects(prefix: str) -> Subjects:
    """Subject names under the test's prefix."""
    return Subjects(prefix)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A client of the (flushed) session Valkey."""
    client = aioredis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def store(redis: aioredis.Redis, keys: RedisKeys, subjects: Subjects) -> Provisioner:
    """Writes servers to Redis only (no events)."""
    return Provisioner(redis, keys, None, subjects)
