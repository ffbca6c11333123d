"""Runs Better Stack tool calls. This first shape connects to NATS and drains on SIGTERM; the
catalogue and tool execution arrive with the worker issue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from stackmcp.runtime.config import NatsConfig, load_section
from stackmcp.runtime.errors import Unavailable
from stackmcp.runtime.natsx import connect

__all__ = ["run"]

logger = logging.getLogger(__name__)


async def run(stop: asyncio.Event) -> None:
    """Connect to the infrastructure, serve until ``stop`` is set, then drain."""
    nats_config = load_section(NatsConfig, "NATS")
    async with contextlib.AsyncExitStack() as stack:
        try:
            nc = await connect(nats_config, "stackmcp-betterstack-worker", stop=stop)
        except Unavailable:
            return
        stack.push_async_callback(nc.drain)
        logger.info("stackmcp-betterstack-worker ready")
        await stop.wait()
        logger.info("stackmcp-betterstack-worker draining")
    logger.info("stackmcp-betterstack-worker stopped")
