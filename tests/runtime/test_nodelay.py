"""Every TCP socket on the call path sends small messages at once (``TCP_NODELAY``): the HTTP
connections Granian accepts, and the NATS and Redis connections a service opens. Nagle's
algorithm holding a small reply back until the previous one is acknowledged is a known
latency trap of MCP servers (tens of milliseconds per request)."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable, MutableMapping
from typing import Any

import httpx
import pytest
import uvloop

from stackmcp.runtime.config import NatsConfig, RedisConfig
from stackmcp.runtime.natsx import connect
from stackmcp.runtime.redisx import connect_redis
from stackmcp.runtime.serving import free_port, serve_until_stopped

pytestmark = pytest.mark.integration


def _tcp_sockets() -> list[tuple[tuple[str, int], tuple[str, int], int]]:
    """(local, peer, TCP_NODELAY) of every connected IPv4 TCP socket of this process."""
    found = []
    for name in os.listdir("/proc/self/fd"):
        try:
            sock = socket.socket(fileno=os.dup(int(name)))
        except OSError:
            continue
        with sock:
            if sock.family != socket.AF_INET or sock.type != socket.SOCK_STREAM:
                continue
            try:
                peer = sock.getpeername()
            except OSError:
                continue  # a listening socket
            nodelay = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            found.append((sock.getsockname(), peer, nodelay))
    return found


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])


async def _report(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
    """An ASGI app answering with the peer port of each socket whose ``TCP_NODELAY`` is off."""
    if scope["type"] != "http":
        return
    off = [peer[1] for _, peer, nodelay in _tcp_sockets() if not nodelay]
    body = ",".join(str(p) for p in off).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


@pytest.mark.parametrize(
    "loop_factory", [uvloop.new_event_loop, asyncio.new_event_loop], ids=["uvloop", "asyncio"]
)
def test_accepted_http_connections_and_nats_and_redis_clients_set_nodelay(
    nats_url: str, redis_url: str, loop_factory: Callable[[], asyncio.AbstractEventLoop]
) -> None:
    """On the services' loop (uvloop) and the standard library's."""
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(_check(nats_url, redis_url))


async def _check(nats_url: str, redis_url: str) -> None:
    nc = await connect(NatsConfig(url=nats_url), "nodelay-test")
    redis = await connect_redis(RedisConfig(url=redis_url))
    stop = asyncio.Event()
    port = free_port("127.0.0.1")
    server = asyncio.create_task(
        serve_until_stopped(
            _report, name="nodelay", host="127.0.0.1", port=port, stop=stop, drain_timeout=1
        )
    )
    try:
        await redis.ping()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            while True:
                try:
                    answer = await client.get("/")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.02)
            sockets = _tcp_sockets()
            peers = {peer[1] for _, peer, _ in sockets}
            assert {_port(nats_url), _port(redis_url), port} <= peers
            assert answer.status_code == 200
            # Granian's side of the connection (its peer is the client's port) had it on.
            assert answer.text == "", f"sockets without TCP_NODELAY: peers {answer.text}"
            assert all(n for _, _, n in sockets), sockets
    finally:
        stop.set()
        await server
        await nc.close()
        await redis.aclose()
