"""The purge loop's publishing side: the outbox, over real NATS JetStream and Valkey."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import nats
import pytest
import redis.asyncio as aioredis
from nats.aio.client import Client
from nats.aio.msg import Msg

from stackmcp.contracts import McpServerExpired, RedisKeys, Subjects
from stackmcp.expiry.purger import Purger
from stackmcp.expiry.schedule import Schedule
from stackmcp.expiry.service import expiry_publisher
from stackmcp.runtime.config import AuditConfig
from stackmcp.runtime.errors import Unavailable
from stackmcp.runtime.events import ensure_audit_stream, ensure_events_stream, publish_event
from tests.expiry.support import (
    TEST_AUDIT_MAX_BYTES,
    Provisioner,
    eventually,
    expired_ids,
    stream_events,
)
from tests.provisioning.audit import read_admin_changes

pytestmark = pytest.mark.integration


@pytest.fixture
async def nc(nats_url: str, subjects: Subjects) -> AsyncIterator[Client]:
    """A NATS connection with the test's events stream in place."""
    client = await nats.connect(nats_url)
    await ensure_events_stream(client.jetstream(), subjects)
    await ensure_audit_stream(
        client.jetstream(), subjects, AuditConfig(max_bytes=TEST_AUDIT_MAX_BYTES)
    )
    try:
        yield client
    finally:
        await client.close()


async def test_an_unpublished_expiry_is_republished_once_after_the_grace(
    nc: Client, redis_url: str, keys: RedisKeys, subjects: Subjects, store: Provisioner
) -> None:
    """Publish fails → the event waits in the outbox; past the grace, one replica sends it."""
    js = nc.jetstream()
    subject = subjects.mcp_server_event("expired")
    received: list[Msg] = []

    async def collect(msg: Msg) -> None:
        received.append(msg)

    await nc.subscribe(subject, cb=collect)
    await nc.flush()

    async def publish(event: McpServerExpired) -> None:
        await publish_event(js, subject, event)

    attempts: list[McpServerExpired] = []

    async def nats_down(event: McpServerExpired) -> None:
        attempts.append(event)
        raise Unavailable("the event stream did not acknowledge; try again")

    server = await store.create(expires_in=-1)
    schedule = Schedule(store.redis, keys)
    await schedule.sync(server.id)
    assert not await Purger(schedule, nats_down, outbox_grace=30).sweep()
    assert [event.server_id for event in attempts] == [server.id]
    assert not await store.live(server)
    assert await store.redis.hexists(keys.expiry_outbox, server.id)

    # Within the grace nobody re-publishes (the purging replica may still be at it).
    await Purger(Schedule(store.redis, keys), publish, outbox_grace=30).sweep()
    assert await stream_events(js, subjects, subject) == []

    # Past the grace, three replicas sweep at once: one publishes, the entry goes.
    def later() -> float:
        return time.time() + 31

    clients = [aioredis.Redis.from_url(redis_url) for _ in range(3)]
    try:
        replicas = [
            Purger(Schedule(client, keys, clock=later), publish, outbox_grace=30)
            for client in clients
        ]
        await asyncio.gather(*(replica.sweep() for replica in replicas))
        await asyncio.gather(*(replica.sweep() for replica in replicas))
    finally:
        for client in clients:
            await client.aclose()

    events = await stream_events(js, subjects, subject)
    assert expired_ids(events) == [server.id]
    assert events[0] == attempts[0]  # the same event, id included
    assert not await store.redis.exists(keys.expiry_outbox)

    async def one_received() -> bool:
        return len(received) >= 1

    await eventually(one_received, 5)
    await nc.flush()
    assert len(received) == 1


async def test_the_expiry_is_audited_once_even_when_republished(
    nc: Client, nats_url: str, keys: RedisKeys, subjects: Subjects, store: Provisioner
) -> None:
    """Event and audit record published, then the acknowledgement lost: the outbox entry is
    re-published past the grace, and the stream still holds one event and one AdminChange
    (operator ``expiry``, its id derived from the event's)."""
    js = nc.jetstream()
    publish = expiry_publisher(js, subjects)

    async def ack_lost(event: McpServerExpired) -> None:
        await publish(event)
        raise Unavailable("the event stream did not acknowledge; try again")

    server = await store.create(expires_in=-1)
    schedule = Schedule(store.redis, keys)
    await schedule.sync(server.id)
    await Purger(schedule, ack_lost, outbox_grace=30).sweep()
    assert await store.redis.hexists(keys.expiry_outbox, server.id)

    def later() -> float:
        return time.time() + 31

    await Purger(Schedule(store.redis, keys, clock=later), publish, outbox_grace=30).sweep()
    assert not await store.redis.exists(keys.expiry_outbox)

    events = await stream_events(js, subjects, subjects.mcp_server_event("expired"))
    assert expired_ids(events) == [server.id]
    changes = await read_admin_changes(nats_url, subjects)
    assert len(changes) == 1
    subject, change, msg_id = changes[0]
    assert msg_id == change.id
    assert subject == subjects.audit_admin(server.grant.account_id, server.id)
    assert (change.operator, change.action) == ("expiry", "mcp_server.expired")
    assert (change.account_id, change.server_id, change.name) == (
        server.grant.account_id,
        server.id,
        server.grant.name,
    )
    assert change.id == f"audit-{events[0].id}"
