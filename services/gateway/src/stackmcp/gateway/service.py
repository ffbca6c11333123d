"""Terminates MCP for Claude and other clients. This first shape connects to NATS and Redis and
drains on SIGTERM; the MCP transports arrive with the gateway issue.
"""

from __future__ import annotations

import asyncio

from stackmcp.runtime.idle import connect_and_wait

__all__ = ["run"]


async def run(stop: asyncio.Event) -> None:
    """Connect to the infrastructure, wait until ``stop`` is set, then drain."""
    await connect_and_wait("stackmcp-gateway", stop, redis=True)
