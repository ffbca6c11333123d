"""Connect, wait for the stop signal, drain: the body of a service that serves nothing yet."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from stackmcp.runtime.config import NatsConfig, RedisConfig, load_section
from stackmcp.runtime.errors import Unavailable
from stackmcp.runtime.natsx import connect, drain
from stackmcp.runtime.redisx import connect_redis

__all__ = ["connect_and_wait"]

logger = logging.getLogger(__name__)


async def connect_and_wait(name: str, stop: asyncio.Event, *, redis: bool) -> None:
    """Connect to NATS (and Redis when ``redis``), log ready, wait for ``stop``, then drain.

    Being stopped while a server is still unreachable is a clean exit, not an error.
    """
    async with contextlib.AsyncExitStack() as stack:
        try:
            nc = await connect(load_section(NatsConfig, "NATS"), name, stop=stop)
            stack.push_async_callback(drain, nc)
            if redis:
                client = await connect_redis(load_section(RedisConfig, "REDIS"), stop=stop)
                stack.push_async_callback(client.aclose)
        except Unavailable:
            logger.info("%s stopped before its servers were reachable", name)
            return
        logger.info("%s ready", name)
        await stop.wait()
        logger.info("%s draining", name)
    logger.info("%s stopped", name)
