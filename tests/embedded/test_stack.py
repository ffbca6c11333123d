"""Tests for stackmcp.embedded.stack.EmbeddedInfra: start modes, persistence, clean stop."""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats
import redis.asyncio as aredis

from stackmcp.embedded import EmbeddedInfra
from tests.support import pid_alive


async def _write_state(infra: EmbeddedInfra) -> None:
    nc = await nats.connect(infra.nats_url)
    client = aredis.Redis.from_url(infra.redis_url)
    try:
        async with asyncio.timeout(5):
            js = nc.jetstream()
            await js.add_stream(name="DURABLE", subjects=["durable.>"])
            await js.publish("durable.one", b"kept")
            await client.set("durable:key", "kept")
    finally:
        await nc.close()
        await client.aclose()


async def _read_state(infra: EmbeddedInfra) -> tuple[bytes, bytes | None]:
    nc = await nats.connect(infra.nats_url)
    client = aredis.Redis.from_url(infra.redis_url)
    try:
        async with asyncio.timeout(5):
            msg = await nc.jetstream().get_msg("DURABLE", 1)
            value = await client.get("durable:key")
    finally:
        await nc.close()
        await client.aclose()
    assert msg.data is not None
    assert value is None or isinstance(value, bytes)
    return msg.data, value


def test_restart_on_the_same_data_dir_keeps_streams_and_keys(tmp_path: Path) -> None:
    """JetStream messages and Valkey keys survive a stop/start on the same data dir."""
    with EmbeddedInfra.start(tmp_path) as first:
        asyncio.run(_write_state(first))
    with EmbeddedInfra.start(tmp_path) as second:
        assert asyncio.run(_read_state(second)) == (b"kept", b"kept")
    assert {p.name for p in tmp_path.iterdir()} == {"nats", "valkey", "logs"}
    assert {p.name for p in (tmp_path / "logs").iterdir()} == {
        "nats-server.log",
        "valkey-server.log",
    }


def test_external_urls_start_nothing(tmp_path: Path) -> None:
    """Given external URLs, EmbeddedInfra passes them through and starts no process."""
    external_nats = "nats://127.0.0.1:4999"
    external_redis = "redis://127.0.0.1:6999/0"
    with EmbeddedInfra.start(tmp_path, nats_url=external_nats, redis_url=external_redis) as infra:
        assert infra.started == ()
        assert infra.nats_server is None
        assert infra.valkey_server is None
        assert (infra.nats_url, infra.redis_url) == (external_nats, external_redis)
    assert list(tmp_path.iterdir()) == []


def test_only_the_missing_server_is_started(tmp_path: Path, nats_url: str) -> None:
    """An external NATS URL with no Redis URL starts only Valkey."""
    with EmbeddedInfra.start(tmp_path, nats_url=nats_url, redis_url="") as infra:
        assert infra.started == ("valkey",)
        assert infra.nats_url == nats_url
        assert infra.redis_url.startswith("redis://127.0.0.1:")


def test_stop_leaves_no_process_behind(tmp_path: Path) -> None:
    """After stop() both server pids are gone, and stop() can be called again."""
    infra = EmbeddedInfra.start(tmp_path)
    assert infra.nats_server is not None
    assert infra.valkey_server is not None
    pids = [infra.nats_server.pid, infra.valkey_server.pid]
    assert all(pid is not None and pid_alive(pid) for pid in pids)
    infra.stop()
    infra.stop()
    assert not any(pid is not None and pid_alive(pid) for pid in pids)
