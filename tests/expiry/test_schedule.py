"""The schedule and the purge script against a real Valkey (no NATS)."""

from __future__ import annotations

import asyncio
import time

import msgspec
import pytest
import redis.asyncio as aioredis

from stackmcp.contracts import McpServerExpired, RedisKeys
from stackmcp.contracts.servers import SERVER_EXPIRES_FIELD, SERVER_RECORD_FIELD, EndedGrant
from stackmcp.expiry.schedule import (
    PURGE_SCRIPT,
    OutboxEntry,
    Schedule,
    outbox_claim_key,
    parse_expires,
)
from tests.expiry.support import Provisioner

pytestmark = pytest.mark.integration


async def test_sync_follows_the_server_hash(
    redis: aioredis.Redis, keys: RedisKeys, store: Provisioner
) -> None:
    """Scheduled at ``expires_at``; unscheduled once the expiry or the server is gone."""
    schedule = Schedule(redis, keys)
    expiring = await store.create(expires_in=60)
    forever = await store.create(expires_in=None)
    assert expiring.grant.expires_at is not None
    assert await schedule.sync(expiring.id) == pytest.approx(expiring.grant.expires_at.timestamp())
    assert await store.scheduled_at(expiring) == pytest.approx(
        expiring.grant.expires_at.timestamp()
    )
    assert await schedule.sync(forever.id) is None
    assert await store.scheduled_at(forever) is None

    later = await store.update(expiring, expires_in=120)
    assert later.grant.expires_at is not None
    await schedule.sync(expiring.id)
    assert await store.scheduled_at(expiring) == pytest.approx(later.grant.expires_at.timestamp())

    await store.update(later, expires_in=None)
    await schedule.sync(expiring.id)
    assert await store.scheduled_at(expiring) is None

    deleted = await store.create(expires_in=60)
    await schedule.sync(deleted.id)
    await store.delete(deleted)
    assert await schedule.sync(deleted.id) is None
    assert await store.scheduled_at(deleted) is None


@pytest.mark.parametrize("value", [b"soon", b"1e9", b"0x10", b"inf", b"nan", b"", b" 12"])
async def test_malformed_expires_at_is_never_scheduled(
    redis: aioredis.Redis, keys: RedisKeys, store: Provisioner, value: bytes
) -> None:
    """Script and Python agree: only plain decimals are an expiry."""
    server = await store.create(expires_in=60)
    await redis.hset(keys.mcp_server(server.id), SERVER_EXPIRES_FIELD, value)
    assert parse_expires(value) is None
    assert await Schedule(redis, keys).sync(server.id) is None
    assert await store.scheduled_at(server) is None


async def test_reconcile_schedules_every_server_of_every_account(
    redis: aioredis.Redis, keys: RedisKeys, store: Provisioner
) -> None:
    """Servers never announced by an event are scheduled by the reconcile."""
    expiring = [
        await store.create(expires_in=60 + i, account_id=f"acc_{i % 3}", publish=False)
        for i in range(130)
    ]
    forever = [await store.create(expires_in=None, account_id="acc_0") for _ in range(5)]
    assert await Schedule(redis, keys).reconcile(chunk=50) == 135
    assert await redis.zcard(keys.expiry_schedule) == 130
    for server in expiring[:3]:
        assert server.grant.expires_at is not None
        assert await store.scheduled_at(server) == pytest.approx(
            server.grant.expires_at.timestamp()
        )
    assert await store.scheduled_at(forever[0]) is None


async def test_purge_ends_the_server_and_parks_its_event(
    redis: aioredis.Redis, keys: RedisKeys, store: Provisioner
) -> None:
    """The grant key and schedule entry go; the record stays as ``expired`` by ``expiry`` for
    the history (no ``expires_at``, a TTL, still in the account's set) with an EndedGrant under
    the token hash; the event waits in the outbox."""
    schedule = Schedule(redis, keys, history_days=2)
    server = await store.create(expires_in=-1)
    await schedule.sync(server.id)
    raw_expires = await redis.hget(keys.mcp_server(server.id), SERVER_EXPIRES_FIELD)
    assert isinstance(raw_expires, bytes)

    assert await schedule.due(time.time(), 10) == [server.id]
    event = await schedule.purge(server.id)

    assert isinstance(event, McpServerExpired)
    assert event.id == f"expired-{server.id}-{raw_expires.decode()}"
    assert (event.server_id, event.account_id) == (server.id, server.grant.account_id)
    assert event.token_hash == server.token_hash
    assert event.expired_at == server.grant.expires_at
    assert event.name == server.grant.name
    assert not await store.live(server)
    assert await store.scheduled_at(server) is None
    record = await store.record(server)
    assert record is not None
    assert (record.status, record.ended_by) == ("expired", "expiry")
    assert record.ended_at is not None
    assert record.grant == server.grant
    server_key = keys.mcp_server(server.id)
    assert not await redis.hexists(server_key, SERVER_EXPIRES_FIELD)
    assert 2 * 86_400 - 5 < await redis.ttl(server_key) <= 2 * 86_400
    assert await redis.sismember(keys.mcp_servers_of_account(server.grant.account_id), server.id)
    raw_ended = await redis.get(keys.ended_grant(server.token_hash))
    assert raw_ended is not None
    ended = msgspec.json.decode(raw_ended, type=EndedGrant)
    assert (ended.server_id, ended.status, ended.ended_by) == (server.id, "expired", "expiry")
    assert ended.ended_at == record.ended_at
    assert 0 < await redis.ttl(keys.ended_grant(server.token_hash)) <= 2 * 86_400
    assert await schedule.sync(server.id) is None  # never scheduled again
    parked = await redis.hget(keys.expiry_outbox, server.id)
    assert parked is not None
    assert msgspec.json.decode(parked, type=OutboxEntry).event == event

    await schedule.published(server.id)
    assert not await redis.exists(keys.expiry_outbox)
    assert await schedule.purge(server.id) is None


async def test_purge_of_a_server_not_due_only_fixes_its_score(
    redis: aioredis.Redis, keys: RedisKeys, store: Provisioner
) -> None:
    """A stale score (an extension not yet applied) is corrected, nothing is deleted."""
    schedule = Schedule(redis, keys)
    server = await store.create(expires_in=60)
    assert server.grant.expires_at is not None
    await redis.zadd(keys.expiry_schedule, {server.id: time.time() - 5})

    assert await schedule.due(time.time(), 10) == [server.id]
    assert await schedule.purge(server.id) is None
    assert await store.live(server)
    assert await store.scheduled_at(server) == pytest.approx(server.grant.expires_at.timestamp())
    assert await schedule.due(time.time(), 10) == []


async def test_concurrent_purges_purge_each_server_exactly_once(
    redis_url: str, keys: RedisKeys, store: Provisioner
) -> None:
    """Two replicas purging the same due servers at once: one event per server in total."""
    servers = [await store.create(expires_in=-1) for _ in range(20)]
    clients = [aioredis.Redis.from_url(redis_url) for _ in range(2)]
    try:
        first, second = (Schedule(client, keys) for client in clients)
        await first.reconcile()
        results = await asyncio.gather(
            *(replica.purge(s.id) for s in servers for replica in (first, second))
        )
    finally:
        for client in clients:
            await client.aclose()
    events = [event for event in results if event is not None]
    assert sorted(event.server_id for event in events) == sorted(s.id for s in servers)
    for server in servers:
        assert not await store.live(server)
    assert await store.redis.hlen(keys.expiry_outbox) == 20
    assert await store.redis.zcard(keys.expiry_schedule) == 0


async def test_purge_script_leaves_a_server_whose_record_changed(
    redis: aioredis.Redis, keys: RedisKeys, store: Provisioner
) -> None:
    """The script compares the record it was given with the stored one: changed → untouched."""
    server = await store.create(expires_in=-1)
    server_key = keys.mcp_server(server.id)
    stale_record = await redis.hget(server_key, SERVER_RECORD_FIELD)
    stale_expires = await redis.hget(server_key, SERVER_EXPIRES_FIELD)
    assert isinstance(stale_record, bytes)
    assert isinstance(stale_expires, bytes)
    await store.update(server, expires_in=3600)  # a PATCH lands between read and purge
    script = redis.register_script(PURGE_SCRIPT)
    purge_keys = [
        server_key,
        keys.grant(server.token_hash),
        keys.ended_grant(server.token_hash),
        keys.expiry_schedule,
        keys.expiry_outbox,
    ]
    args: list[bytes | str] = [
        SERVER_RECORD_FIELD,
        stale_record,
        SERVER_EXPIRES_FIELD,
        stale_expires,
        server.id,
    ]
    assert await script(keys=purge_keys, args=[*args, b"{}", b"{}", b"{}", "60"]) == 0
    assert await redis.exists(server_key, keys.grant(server.token_hash)) == 2
    assert not await redis.exists(keys.expiry_outbox, keys.ended_grant(server.token_hash))
    assert await redis.ttl(server_key) == -1


async def test_a_revoked_server_is_never_purged_again(
    redis: aioredis.Redis, keys: RedisKeys, store: Provisioner
) -> None:
    """A server revoked by provisioning (record ``revoked``) is only unscheduled, even if an
    ``expires_at`` was left behind: its history says revoked, not expired."""
    schedule = Schedule(redis, keys)
    server = await store.create(expires_in=-1)
    await schedule.sync(server.id)
    record = await store.record(server)
    assert record is not None
    revoked = msgspec.structs.replace(record, status="revoked", ended_by="alice")
    await redis.hset(keys.mcp_server(server.id), SERVER_RECORD_FIELD, msgspec.json.encode(revoked))
    assert await schedule.purge(server.id) is None
    assert await store.record(server) == revoked
    assert await store.scheduled_at(server) is None
    assert not await redis.hexists(keys.mcp_server(server.id), SERVER_EXPIRES_FIELD)
    assert await schedule.sync(server.id) is None
    assert not await redis.exists(keys.expiry_outbox)


async def test_unreadable_record_is_retried_later_not_purged(
    redis: aioredis.Redis, keys: RedisKeys, store: Provisioner
) -> None:
    """A record that does not decode is left alone and looked at again a minute later."""
    schedule = Schedule(redis, keys)
    server = await store.create(expires_in=-1)
    await schedule.sync(server.id)
    await redis.hset(keys.mcp_server(server.id), SERVER_RECORD_FIELD, b"{not json")
    now = time.time()
    assert await schedule.purge(server.id, now) is None
    assert await redis.exists(keys.mcp_server(server.id))
    assert await store.scheduled_at(server) == pytest.approx(now + 60)


async def test_stale_outbox_entries_are_claimed_by_one_replica(
    redis_url: str, keys: RedisKeys, store: Provisioner
) -> None:
    """Past the grace period one caller claims an entry; fresh entries are left alone."""
    schedule = Schedule(store.redis, keys)
    stale = await store.create(expires_in=-120)
    fresh = await store.create(expires_in=-1)
    now = time.time()
    stale_event = await schedule.purge(stale.id, now - 60)
    assert stale_event is not None
    assert await schedule.purge(fresh.id, now) is not None

    clients = [aioredis.Redis.from_url(redis_url) for _ in range(3)]
    try:
        claims = await asyncio.gather(
            *(Schedule(client, keys).claim_stale(now, 30.0, 10) for client in clients)
        )
    finally:
        for client in clients:
            await client.aclose()
    assert sorted(len(claimed) for claimed in claims) == [0, 0, 1]
    assert [event for claimed in claims for event in claimed] == [stale_event]
    assert 0 < await store.redis.ttl(outbox_claim_key(keys, stale.id)) <= 30
    assert await store.redis.hlen(keys.expiry_outbox) == 2  # kept until published
