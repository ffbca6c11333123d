"""The health listener the NATS-only services (worker, expiry) give Kubernetes probes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from stackmcp.embedded import free_port
from stackmcp.runtime.config import ConfigError, load_section
from stackmcp.runtime.health import HealthConfig, HealthServer


async def _ask(port: int, raw: bytes, *, eof: bool = False) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    if eof:
        writer.write_eof()
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


async def _get(port: int, path: str) -> tuple[int, bytes]:
    return await _ask(port, f"GET {path} HTTP/1.1\r\nHost: probe\r\n\r\n".encode())


@pytest.fixture
async def probe() -> AsyncIterator[tuple[HealthServer, list[bool]]]:
    ready = [False]
    server = HealthServer(HealthConfig(port=free_port()), lambda: ready[0])
    await server.start()
    yield server, ready
    await server.close()


async def test_liveness_answers_while_readiness_follows_the_check(
    probe: tuple[HealthServer, list[bool]],
) -> None:
    server, ready = probe
    assert server.port is not None
    assert await _get(server.port, "/healthz") == (200, b'{"status":"ok"}')
    status, body = await _get(server.port, "/readyz")
    assert (status, body) == (503, b'{"status":"Service Unavailable"}')
    ready[0] = True
    assert await _get(server.port, "/readyz?verbose=1") == (200, b'{"status":"ok"}')


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GET /status HTTP/1.1\r\n\r\n", 404),
        (b"POST /healthz HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405),
        (b"garbage\r\n\r\n", 400),
        (b"GET /healthz HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n", 400),
    ],
)
async def test_anything_but_a_probe_gets_a_precise_status(
    probe: tuple[HealthServer, list[bool]], raw: bytes, status: int
) -> None:
    server, _ = probe
    assert server.port is not None
    assert (await _ask(server.port, raw))[0] == status


async def test_a_request_cut_short_is_answered_400(
    probe: tuple[HealthServer, list[bool]],
) -> None:
    server, _ = probe
    assert server.port is not None
    assert (await _ask(server.port, b"GET /healthz HT", eof=True))[0] == 400


async def test_port_zero_starts_nothing() -> None:
    server = HealthServer(HealthConfig(), lambda: True)
    await server.start()
    assert server.port is None
    await server.close()


async def test_a_port_in_use_is_a_configuration_error_naming_the_settings() -> None:
    first = HealthServer(HealthConfig(port=free_port()), lambda: True)
    await first.start()
    try:
        second = HealthServer(HealthConfig(port=first.port or 0), lambda: True)
        with pytest.raises(ConfigError, match="STACKMCP_HEALTH_HOST/PORT"):
            await second.start()
    finally:
        await first.close()


def test_settings_come_from_the_health_section() -> None:
    env = {"STACKMCP_HEALTH_HOST": "0.0.0.0", "STACKMCP_HEALTH_PORT": "9090"}
    assert load_section(HealthConfig, "HEALTH", env) == HealthConfig(host="0.0.0.0", port=9090)
    with pytest.raises(ConfigError, match="STACKMCP_HEALTH_PORT"):
        load_section(HealthConfig, "HEALTH", {"STACKMCP_HEALTH_PORT": "70000"})
