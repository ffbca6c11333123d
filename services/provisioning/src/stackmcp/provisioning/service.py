"""Owns accounts, MCP servers and API tokens. This first shape connects to NATS and Redis and
drains on SIGTERM; the admin API arrives with the provisioning issue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from stackmcp.runtime.config import NatsConfig, RedisConfig, load_section
from stackmcp.runtime.errors import Unavailable
from stackmcp.runtime.natsx import connect
from stackmcp.runtime.redisx import connect_redis

__all__ = ["run"]

logger = logging.getLogger(__name__)


async def run(stop: asyncio.Event) -> None:
    """Connect to the infrastructure, serve until ``stop`` is set, then drain."""
    nats_config = load_section(NatsConfig, "NATS")
    async with contextlib.AsyncExitStack() as stack:
        try:
            nc = await connect(nats_config, "stackmcp-provisioning", stop=stop)
        except Unavailable:
            return
        stack.push_async_callback(nc.drain)
        redis = await connect_redis(load_section(RedisConfig, "REDIS"), stop=stop)
        stack.push_async_callback(redis.aclose)
        logger.info("stackmcp-provisioning ready")
        await stop.wait()
        logger.info("stackmcp-provisioning draining")
    logger.info("stackmcp-provisioning stopped")
