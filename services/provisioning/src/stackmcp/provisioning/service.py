"""Owns accounts, MCP servers and API tokens. This first shape connects to NATS and Redis and
drains on SIGTERM; the admin API arrives with the provisioning issue.
"""

from __future__ import annotations

import asyncio

from stackmcp.runtime.idle import connect_and_wait

__all__ = ["run"]


async def run(stop: asyncio.Event) -> None:
    """Connect to the infrastructure, wait until ``stop`` is set, then drain."""
    await connect_and_wait("stackmcp-provisioning", stop, redis=True)
