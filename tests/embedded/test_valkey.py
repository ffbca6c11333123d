"""Tests for stackmcp.embedded.valkey against real valkey-server processes."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pytest
import redis.asyncio as aredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, ResponseError

from stackmcp.embedded import ValkeyServer


async def test_set_and_get_through_redis_asyncio(redis_url: str) -> None:
    """The embedded Valkey stores and returns a value for the redis.asyncio client."""
    assert redis_url.startswith("redis://127.0.0.1:")
    client = aredis.Redis.from_url(redis_url)
    try:
        await client.set("embedded:key", "value")
        assert await client.get("embedded:key") == b"value"
    finally:
        await client.aclose()


def test_password_is_required_and_kept_off_the_command_line(tmp_path: Path) -> None:
    """With a password, unauthenticated commands fail, the URL carries it, argv does not."""
    with ValkeyServer(tmp_path, password="s3cret/:@pw") as server:
        assert server.pid is not None
        cmdline = Path(f"/proc/{server.pid}/cmdline").read_bytes()
        assert b"s3cret" not in cmdline
        assert stat.S_IMODE(server.config_file.stat().st_mode) == 0o600
        asyncio.run(_assert_auth_required(server))


async def _assert_auth_required(server: ValkeyServer) -> None:
    anonymous = aredis.Redis(
        host="127.0.0.1", port=server.port, retry=Retry(NoBackoff(), retries=0)
    )
    authed = aredis.Redis.from_url(server.url)
    try:
        with pytest.raises((AuthenticationError, ResponseError)):
            await anonymous.ping()
        assert await authed.ping() is True
    finally:
        await anonymous.aclose()
        await authed.aclose()
