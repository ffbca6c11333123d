"""Expiry replicas as real processes (and one in-process run) over real NATS JetStream and
Valkey: purge at ``expires_at``, one ``expired`` event whatever the replica count, catching up
after downtime, clean drain."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator

import nats
import pytest
import redis.asyncio as aioredis
from nats.aio.client import Client
from nats.aio.msg import Msg

from stackmcp.contracts import RedisKeys, Subjects
from stackmcp.expiry.service import run
from stackmcp.runtime.events import ensure_events_stream
from tests.expiry.support import (
    Provisioner,
    Replica,
    Server,
    eventually,
    expired_ids,
    replica_env,
    stream_events,
)
from tests.provisioning.audit import read_admin_changes

pytestmark = pytest.mark.integration


@pytest.fixture
async def nc(nats_url: str, subjects: Subjects) -> AsyncIterator[Client]:
    """A NATS connection with the test's events stream in place."""
    client = await nats.connect(nats_url)
    await ensure_events_stream(client.jetstream(), subjects)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def provisioner(
    redis: aioredis.Redis, keys: RedisKeys, nc: Client, subjects: Subjects
) -> Provisioner:
    """Writes servers to Redis and publishes their events."""
    return Provisioner(redis, keys, nc.jetstream(), subjects)


@pytest.fixture
def replicas() -> Iterator[list[Replica]]:
    """Started replicas, killed at the end whatever happened."""
    started: list[Replica] = []
    yield started
    for replica in started:
        replica.kill()


async def _start(replicas: list[Replica], env: dict[str, str], count: int = 1) -> list[Replica]:
    new = [Replica(env) for _ in range(count)]
    replicas += new
    await asyncio.gather(*(asyncio.to_thread(replica.wait_ready) for replica in new))
    return new


async def _gone(provisioner: Provisioner, *servers: Server) -> None:
    async def check() -> bool:
        return not any([await provisioner.live(server) for server in servers])

    await eventually(check, 10)


async def _caught_up(nc: Client, subjects: Subjects) -> None:
    """Wait until the shared consumer has acknowledged every event in the stream."""
    js = nc.jetstream()

    async def check() -> bool:
        info = await js.consumer_info(subjects.events_stream, subjects.expiry_consumer)
        return bool(info.num_pending == 0 and info.num_ack_pending == 0)

    await eventually(check, 10)


def _assert_clean_exit(replica: Replica, *servers: Server) -> str:
    assert replica.stop() == 0
    log = replica.output()
    assert "stackmcp-expiry stopping" in log
    assert "stackmcp-expiry stopped" in log
    assert "smcp_" not in log
    for server in servers:
        assert server.token_hash not in log
        assert server.token_hash[:12] not in log
    return log


async def test_two_replicas_purge_at_expiry_and_publish_one_event(
    nc: Client,
    provisioner: Provisioner,
    replicas: list[Replica],
    subjects: Subjects,
    nats_url: str,
    redis_url: str,
    prefix: str,
) -> None:
    """Purged right after ``expires_at``, exactly once; extensions, servers without expiry and
    deleted servers are respected."""
    both = await _start(replicas, replica_env(nats_url, redis_url, prefix), count=2)
    subject = subjects.mcp_server_event("expired")
    received: list[Msg] = []

    async def collect(msg: Msg) -> None:
        received.append(msg)

    await nc.subscribe(subject, cb=collect)
    await nc.flush()

    extended = await provisioner.create(expires_in=2)
    server = await provisioner.create(expires_in=2)
    forever = await provisioner.create(expires_in=None)
    deleted = await provisioner.create(expires_in=30)
    extended = await provisioner.update(extended, expires_in=30)  # a PATCH before it is due
    await provisioner.delete(deleted)
    assert server.grant.expires_at is not None
    assert extended.grant.expires_at is not None
    expires_at = server.grant.expires_at.timestamp()

    async def purged() -> bool:
        return not await provisioner.live(server)

    await eventually(purged, timeout=expires_at - time.time() + 10, interval=0.02)
    purged_at = time.time()
    assert purged_at >= expires_at
    assert purged_at - expires_at < 2.0

    await _caught_up(nc, subjects)
    assert await provisioner.live(extended)
    assert await provisioner.scheduled_at(extended) == pytest.approx(
        extended.grant.expires_at.timestamp()
    )
    assert await provisioner.live(forever)
    assert await provisioner.scheduled_at(forever) is None
    assert await provisioner.scheduled_at(deleted) is None
    assert await provisioner.scheduled_at(server) is None

    assert expired_ids(await stream_events(nc.jetstream(), subjects, subject)) == [server.id]

    async def delivered() -> bool:
        return len(received) >= 1

    await eventually(delivered, 5)
    await nc.flush()
    assert len(received) == 1
    assert not await provisioner.redis.exists(provisioner.keys.expiry_outbox)

    changes = await read_admin_changes(nats_url, subjects)
    assert [(c.operator, c.action, c.server_id) for _, c, _ in changes] == [
        ("expiry", "mcp_server.expired", server.id)
    ]
    record = await provisioner.record(server)
    assert record is not None
    assert (record.status, record.ended_by) == ("expired", "expiry")

    logs = [_assert_clean_exit(replica, server, extended, forever, deleted) for replica in both]
    assert sum(log.count(f"purged expired MCP server {server.id}") for log in logs) == 1


async def test_servers_expiring_while_expiry_is_down_are_purged_once_it_starts(
    nc: Client,
    provisioner: Provisioner,
    replicas: list[Replica],
    subjects: Subjects,
    nats_url: str,
    redis_url: str,
    prefix: str,
) -> None:
    """Events published while no replica runs wait in the durable consumer; servers that only
    exist in Redis are found by the start-up reconcile."""
    env = replica_env(nats_url, redis_url, prefix)
    (first,) = await _start(replicas, env)
    _assert_clean_exit(first)

    announced = await provisioner.create(expires_in=1)
    silent = await provisioner.create(expires_in=1, publish=False)
    forever = await provisioner.create(expires_in=None)
    assert announced.grant.expires_at is not None

    async def both_due() -> bool:
        return time.time() > announced.grant.expires_at.timestamp() + 0.3  # type: ignore[union-attr]

    await eventually(both_due, 5)
    assert await provisioner.redis.exists(provisioner.keys.mcp_server(announced.id))

    (second,) = await _start(replicas, env)
    await _gone(provisioner, announced, silent)
    await _caught_up(nc, subjects)
    assert await provisioner.live(forever)
    events = await stream_events(nc.jetstream(), subjects, subjects.mcp_server_event("expired"))
    assert sorted(expired_ids(events)) == sorted([announced.id, silent.id])
    _assert_clean_exit(second, announced, silent, forever)


async def test_malformed_events_are_dropped_without_their_payload(
    nc: Client,
    provisioner: Provisioner,
    subjects: Subjects,
    nats_url: str,
    redis_url: str,
    prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A malformed event is terminated (not redelivered) and the next events still count."""
    for name, value in replica_env(nats_url, redis_url, prefix).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("STACKMCP_EXPIRY_FETCH_TIMEOUT", "0.5")
    caplog.set_level(logging.INFO, logger="stackmcp.expiry")
    js = nc.jetstream()
    secret = b'{"type":"stackmcp.mcp_server.v1.created","token":"smcp_srv_notarealtokenbutlong"}'
    await js.publish(subjects.mcp_server_event("created"), secret)
    stop = asyncio.Event()
    service = asyncio.create_task(run(stop))
    try:
        server = await provisioner.create(expires_in=60)

        async def scheduled() -> bool:
            return await provisioner.scheduled_at(server) is not None

        await eventually(scheduled, 10)
        await _caught_up(nc, subjects)
    finally:
        stop.set()
        await asyncio.wait_for(service, 10)
    assert "dropping a malformed event" in caplog.text
    assert "smcp_" not in caplog.text
    assert "stackmcp-expiry stopped" in caplog.text
