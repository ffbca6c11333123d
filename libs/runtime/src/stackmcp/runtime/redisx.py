"""Redis/Valkey connection helper."""

from __future__ import annotations

import asyncio
import logging

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from stackmcp.runtime.config import RedisConfig
from stackmcp.runtime.errors import Unavailable

__all__ = ["connect_redis"]

logger = logging.getLogger(__name__)


async def connect_redis(
    config: RedisConfig, *, stop: asyncio.Event | None = None, attempts: int = 0
) -> aioredis.Redis:
    """Open a pooled client and wait until the server answers ``PING``.

    Args:
        config: server URL.
        stop: give up waiting when set.
        attempts: maximum attempts (0 = until ``stop``).

    Returns:
        A client whose replies are decoded bytes (``decode_responses=False``).

    Raises:
        Unavailable: the server did not answer before ``stop`` or ``attempts`` ran out.
    """
    client: aioredis.Redis = aioredis.Redis.from_url(
        config.url, health_check_interval=15, socket_connect_timeout=2, socket_timeout=5
    )
    tried = 0
    while True:
        tried += 1
        try:
            await client.ping()
            return client
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            logger.warning("redis not reachable (%s); retrying", type(exc).__name__)
        if (stop is not None and stop.is_set()) or (attempts and tried >= attempts):
            await client.aclose()
            raise Unavailable("redis is not reachable")
        await asyncio.sleep(min(0.5 * tried, 5.0))
