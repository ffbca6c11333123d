"""Runs Better Stack tool calls. This first shape connects to NATS and drains on SIGTERM; the
catalogue and tool execution arrive with the worker issue.
"""

from __future__ import annotations

import asyncio

from stackmcp.runtime.idle import connect_and_wait

__all__ = ["run"]


async def run(stop: asyncio.Event) -> None:
    """Connect to the infrastructure, wait until ``stop`` is set, then drain."""
    await connect_and_wait("stackmcp-betterstack-worker", stop, redis=False)
