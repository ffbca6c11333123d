"""Serving an ASGI app on Granian inside the service's own event loop, with a bounded drain.

Needs the ``http`` extra (``stackmcp-runtime[http]``, which brings Granian); services without
an HTTP port never import this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import Any

from granian.constants import Interfaces
from granian.server.embed import Server
from redis.asyncio import Redis
from redis.exceptions import RedisError

__all__ = ["free_port", "redis_reachable", "serve_until_stopped"]

logger = logging.getLogger(__name__)


_BACKLOG = 1024
"""Connections the kernel queues before they are accepted (Granian's default is 128)."""


async def serve_until_stopped(
    app: Any,
    *,
    name: str,
    host: str,
    port: int,
    stop: asyncio.Event,
    drain_timeout: float,
    max_connections: int = 1024,
) -> None:
    """Serve ``app`` on ``host:port`` (0 = any free port) until ``stop`` is set.

    Then stop taking connections and give requests in flight up to ``drain_timeout`` seconds.

    ``max_connections`` bounds the connections served at once, idle keep-alive connections and
    open SSE streams included (Granian's "backpressure"); beyond it new connections wait to be
    accepted. Granian's own default (the listen backlog, 128) let 128 idle keep-alive clients
    stop a gateway from answering anyone else.
    """
    port = port or free_port(host)
    server = Server(
        app,
        address=host,
        port=port,
        interface=Interfaces.ASGINL,
        backlog=max(_BACKLOG, max_connections // 4),
        backpressure=max_connections,
        log_enabled=False,
        log_access=False,
    )
    serving = asyncio.create_task(server.serve())
    logger.info("%s ready on http://%s:%d", name, host, port)
    await stop.wait()
    logger.info("%s draining", name)
    server.stop()  # type: ignore[no-untyped-call]
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(serving, drain_timeout)


def free_port(host: str) -> int:
    """A TCP port nobody listens on at ``host`` right now."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


async def redis_reachable(redis: Redis, timeout: float = 1.0) -> bool:
    """Whether Redis answers a PING within ``timeout`` seconds (for readiness probes)."""
    try:
        return bool(await asyncio.wait_for(redis.ping(), timeout))
    except (RedisError, OSError, TimeoutError):
        return False
