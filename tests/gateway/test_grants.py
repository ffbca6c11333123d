"""Token → grant resolution and the API-token second factor, over real Redis and NATS."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import msgspec
import pytest
import redis.asyncio as aioredis
from nats.aio.client import Client
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from stackmcp.contracts import (
    Grant,
    McpServerDeleted,
    McpServerRotated,
    RedisKeys,
    Subjects,
    new_event_id,
    utcnow,
)
from stackmcp.contracts.tokens import API_TOKEN_PREFIX, SERVER_TOKEN_PREFIX, hash_token, new_token
from stackmcp.embedded import NatsServer
from stackmcp.embedded.ports import free_port
from stackmcp.gateway.grants import (
    API_TOKEN_NOT_ACCEPTED,
    API_TOKEN_REQUIRED,
    NO_SERVER,
    GrantResolver,
)
from stackmcp.runtime.config import NatsConfig
from stackmcp.runtime.errors import NotFound, Unauthenticated, Unavailable
from stackmcp.runtime.natsx import connect
from tests.support.grants import (
    mint_api_token,
    mint_grant,
    revoke_api_token,
    revoke_grant,
    update_grant,
)

pytestmark = pytest.mark.integration

ACCOUNT = "acc_test"


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> dt.datetime:
        return self.now


@dataclass
class Env:
    """One Redis client, a per-test subject prefix and a publisher connection."""

    redis: aioredis.Redis
    keys: RedisKeys
    subjects: Subjects
    nc: Client
    nats_url: str
    clients: list[Client]

    async def replica(self) -> GrantResolver:
        """A subscribed resolver on its own NATS connection (one gateway replica)."""
        nc = await connect(NatsConfig(url=self.nats_url), "test-gateway")
        self.clients.append(nc)
        resolver = GrantResolver(self.redis, self.keys)
        await resolver.subscribe(nc, self.subjects)
        await nc.flush()
        return resolver


@pytest.fixture
async def env(redis_url: str, nats_url: str) -> AsyncIterator[Env]:
    """Fresh Redis, a unique subject prefix (tests never hear each other's events)."""
    redis = aioredis.Redis.from_url(redis_url)
    nc = await connect(NatsConfig(url=nats_url), "test-provisioning")
    clients: list[Client] = [nc]
    yield Env(redis, RedisKeys(), Subjects(f"t{secrets.token_hex(4)}"), nc, nats_url, clients)
    for client in clients:
        await client.drain()
    await redis.aclose()


async def _eventually(check: Callable[[], Awaitable[bool]], within: float = 1.0) -> float:
    """Poll ``check`` every 20 ms until true; fail after ``within`` seconds. Returns the wait."""
    start = time.monotonic()
    while not await check():
        if time.monotonic() - start > within:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(0.02)
    return time.monotonic() - start


async def _refused(resolver: GrantResolver, token: str) -> bool:
    try:
        await resolver.resolve(token)
    except NotFound:
        return True
    return False


async def test_resolves_a_minted_grant_and_serves_it_from_cache(env: Env) -> None:
    """A cached grant needs no Redis read until an event (or the TTL) drops it."""
    token, grant = await mint_grant(
        env.redis, env.keys, account_id=ACCOUNT, methods=("read", "write"), tags=("incidents",)
    )
    resolver = await env.replica()
    assert await resolver.resolve(token) == grant

    # Behind the resolver's back: no event, so only the cache can still answer.
    await env.redis.delete(env.keys.grant(hash_token(token)))
    assert await resolver.resolve(token) == grant

    event = McpServerDeleted(
        id=new_event_id(),
        occurred_at=utcnow(),
        server_id=grant.server_id,
        account_id=ACCOUNT,
        token_hash=hash_token(token),
    )
    await env.nc.publish(env.subjects.mcp_server_event("deleted"), msgspec.json.encode(event))
    await _eventually(lambda: _refused(resolver, token))


async def test_cache_entries_are_refetched_after_the_ttl(env: Env) -> None:
    """A missed event is bounded by cache_ttl."""
    token, _ = await mint_grant(env.redis, env.keys, account_id=ACCOUNT)
    resolver = GrantResolver(env.redis, env.keys, cache_ttl=0.2)
    await resolver.resolve(token)
    await env.redis.delete(env.keys.grant(hash_token(token)))
    await resolver.resolve(token)
    await asyncio.sleep(0.25)
    with pytest.raises(NotFound):
        await resolver.resolve(token)


async def test_the_cache_evicts_its_oldest_entry(env: Env) -> None:
    """Beyond max_entries the first-cached grant is dropped (and then re-read from Redis)."""
    minted = [await mint_grant(env.redis, env.keys, account_id=ACCOUNT) for _ in range(3)]
    resolver = GrantResolver(env.redis, env.keys, max_entries=2)
    for token, _ in minted:
        await resolver.resolve(token)
    for token, _ in minted:
        await env.redis.delete(env.keys.grant(hash_token(token)))
    with pytest.raises(NotFound):
        await resolver.resolve(minted[0][0])
    assert await resolver.resolve(minted[2][0]) == minted[2][1]


def _dead_redis() -> aioredis.Redis:
    """A client for a port nobody listens on, failing at once (no retries)."""
    return aioredis.Redis(
        host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )


@pytest.mark.parametrize(
    "token",
    [
        "../x",
        "",
        new_token(API_TOKEN_PREFIX),
        "x" * 10240,
        SERVER_TOKEN_PREFIX + "a" * 10240,
        SERVER_TOKEN_PREFIX + "a/b" * 15,
        SERVER_TOKEN_PREFIX + "short",
        " " + new_token(SERVER_TOKEN_PREFIX),
    ],
    ids=["dots", "empty", "api-token", "10k", "10k-prefixed", "slashes", "short", "space"],
)
async def test_malformed_tokens_are_refused_before_redis(token: str) -> None:
    """Junk never reaches Redis: a resolver on an unreachable Redis still answers NotFound."""
    dead = _dead_redis()
    try:
        resolver = GrantResolver(dead, RedisKeys())
        with pytest.raises(NotFound) as caught:
            await resolver.resolve(token)
        assert str(caught.value) == NO_SERVER
    finally:
        await dead.aclose()


async def test_a_well_formed_token_does_reach_redis() -> None:
    """Control for the test above: an unreachable Redis is reported as Unavailable."""
    dead = _dead_redis()
    try:
        resolver = GrantResolver(dead, RedisKeys())
        with pytest.raises(Unavailable):
            await resolver.resolve(new_token(SERVER_TOKEN_PREFIX))
        with pytest.raises(Unavailable):
            await resolver.check_api_token(f"Bearer {new_token(API_TOKEN_PREFIX)}")
    finally:
        await dead.aclose()


class _GatedRedis(aioredis.Redis):
    """A Redis client whose MGET replies (how grants are read) wait, once ``answered`` says
    they arrived, until the test opens ``gate``."""

    gate: asyncio.Event
    answered: asyncio.Event

    async def mget(self, keys: Any, *args: Any) -> Any:
        reply = await super().mget(keys, *args)
        self.answered.set()
        await self.gate.wait()
        return reply


async def test_a_read_overtaken_by_an_event_is_not_cached(env: Env, redis_url: str) -> None:
    """A GET answered before a revocation but processed after its event must not be cached."""
    token, grant = await mint_grant(env.redis, env.keys, account_id=ACCOUNT)
    gated = cast(_GatedRedis, _GatedRedis.from_url(redis_url))
    gated.gate = asyncio.Event()
    gated.answered = asyncio.Event()
    try:
        resolver = GrantResolver(gated, env.keys)
        in_flight = asyncio.create_task(resolver.resolve(token))
        await gated.answered.wait()  # the read has its reply; the revocation overtakes it
        await env.redis.delete(env.keys.grant(hash_token(token)))
        resolver.forget(hash_token(token))
        gated.gate.set()
        assert await in_flight == grant  # read before the revocation: fine for that request
        with pytest.raises(NotFound):
            await resolver.resolve(token)  # but it was not cached
    finally:
        await gated.aclose()


async def test_every_refusal_looks_the_same(env: Env) -> None:
    """Unknown, malformed, unreadable and expired tokens raise the identical NotFound."""
    expired, _ = await mint_grant(
        env.redis, env.keys, account_id=ACCOUNT, expires_at=utcnow() - dt.timedelta(seconds=5)
    )
    unreadable = new_token(SERVER_TOKEN_PREFIX)
    await env.redis.set(env.keys.grant(hash_token(unreadable)), b"not json")
    naive = new_token(SERVER_TOKEN_PREFIX)
    await env.redis.set(
        env.keys.grant(hash_token(naive)),
        msgspec.json.encode(
            Grant(server_id="s", account_id=ACCOUNT, expires_at=dt.datetime(2999, 1, 1))
        ),
    )
    wrong_type = new_token(SERVER_TOKEN_PREFIX)
    await env.redis.set(env.keys.grant(hash_token(wrong_type)), b'{"type":"other","x":1}')
    resolver = GrantResolver(env.redis, env.keys)
    tokens = [new_token(SERVER_TOKEN_PREFIX), "../x", expired, unreadable, naive, wrong_type]
    errors = []
    for token in tokens:
        with pytest.raises(NotFound) as caught:
            await resolver.resolve(token)
        errors.append((type(caught.value), str(caught.value)))
    assert set(errors) == {(NotFound, NO_SERVER)}


async def test_a_grant_is_refused_from_expires_at_on_even_if_its_key_still_exists(
    env: Env,
) -> None:
    """The gateway's clock decides, cache or not; the Redis key expiry is only a safety net."""
    clock = Clock()
    expires_at = clock.now + dt.timedelta(seconds=2)
    token, grant = await mint_grant(env.redis, env.keys, account_id=ACCOUNT, expires_at=expires_at)
    key = env.keys.grant(hash_token(token))
    assert 0 < await env.redis.ttl(key) <= 3
    resolver = GrantResolver(env.redis, env.keys, clock=clock)
    assert await resolver.resolve(token) == grant

    clock.now = expires_at - dt.timedelta(microseconds=1)
    assert await resolver.resolve(token) == grant  # cached, still valid
    clock.now = expires_at
    with pytest.raises(NotFound, match=NO_SERVER):
        await resolver.resolve(token)  # a cache hit, refused on the clock alone
    assert await env.redis.exists(key)
    with pytest.raises(NotFound, match=NO_SERVER):
        await GrantResolver(env.redis, env.keys, clock=clock).resolve(token)  # fresh read too


async def test_revocation_reaches_every_replica_within_a_second(env: Env) -> None:
    """Two resolvers on separate connections both refuse a revoked grant promptly."""
    token, grant = await mint_grant(env.redis, env.keys, account_id=ACCOUNT)
    replicas = [await env.replica(), await env.replica()]
    for replica in replicas:
        assert await replica.resolve(token) == grant
    start = time.monotonic()
    await revoke_grant(env.redis, env.nc, env.subjects, env.keys, token, grant)

    async def all_refuse() -> bool:
        return all([await _refused(replica, token) for replica in replicas])

    await _eventually(all_refuse)
    assert time.monotonic() - start < 1.0


async def test_an_updated_grant_is_seen_on_the_next_call(env: Env) -> None:
    """After McpServerUpdated the next resolve reads the new methods from Redis."""
    token, grant = await mint_grant(env.redis, env.keys, account_id=ACCOUNT, methods=("read",))
    resolver = await env.replica()
    assert (await resolver.resolve(token)).methods == ("read",)
    changed = msgspec.structs.replace(grant, methods=("read", "write"))
    await update_grant(env.redis, env.nc, env.subjects, env.keys, token, changed)

    async def sees_new_methods() -> bool:
        return (await resolver.resolve(token)).methods == ("read", "write")

    await _eventually(sees_new_methods)


async def test_malformed_events_do_not_break_the_subscription(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    """Junk on the event subjects is logged without payload and skipped."""
    token, grant = await mint_grant(env.redis, env.keys, account_id=ACCOUNT)
    resolver = await env.replica()
    await resolver.resolve(token)
    secret = new_token(SERVER_TOKEN_PREFIX)
    with caplog.at_level(logging.WARNING, logger="stackmcp.gateway.grants"):
        for payload in (
            b"garbage " + secret.encode(),
            b'{"type":"stackmcp.mcp_server.v1.deleted","token_hash":"' + secret.encode() + b'"}',
            b'{"type":"stackmcp.unknown.v9.x"}',
            b"",
        ):
            await env.nc.publish(env.subjects.mcp_server_event("deleted"), payload)
        await env.nc.publish(env.subjects.api_token_event("revoked"), b"[1,2]")
        await revoke_grant(env.redis, env.nc, env.subjects, env.keys, token, grant)
        await _eventually(lambda: _refused(resolver, token))
    warnings = [r for r in caplog.records if "malformed lifecycle event" in r.getMessage()]
    assert len(warnings) == 5
    assert secret not in caplog.text
    assert "garbage" not in caplog.text


async def test_api_token_is_required_and_checked(env: Env) -> None:
    """Missing, non-bearer, malformed, unknown and revoked tokens are refused; valid passes."""
    token = await mint_api_token(env.redis, env.keys)
    assert await env.redis.sismember(env.keys.api_tokens, hash_token(token))
    resolver = await env.replica()
    unknown = new_token(API_TOKEN_PREFIX)
    refusals = {
        None: API_TOKEN_REQUIRED,
        "": API_TOKEN_REQUIRED,
        "Bearer": API_TOKEN_REQUIRED,
        f"Basic {token}": API_TOKEN_REQUIRED,
        f"Token {token}": API_TOKEN_REQUIRED,
        f"Bearer {unknown}": API_TOKEN_NOT_ACCEPTED,
        f"Bearer {new_token(SERVER_TOKEN_PREFIX)}": API_TOKEN_NOT_ACCEPTED,
        f"Bearer {token}x{'y' * 200}": API_TOKEN_NOT_ACCEPTED,
        "Bearer ../x": API_TOKEN_NOT_ACCEPTED,
    }
    for header, message in refusals.items():
        with pytest.raises(Unauthenticated) as caught:
            await resolver.check_api_token(header)
        assert str(caught.value) == message
        assert token not in str(caught.value)
        assert unknown not in str(caught.value)
    assert "API token" in API_TOKEN_REQUIRED
    assert "not accepted" in API_TOKEN_NOT_ACCEPTED

    for header in (f"Bearer {token}", f"bearer {token}", f"BEARER   {token} "):
        await resolver.check_api_token(header)

    # Cached: a record deleted without an event is still accepted until the event arrives.
    await env.redis.delete(env.keys.api_token(hash_token(token)))
    await resolver.check_api_token(f"Bearer {token}")
    await revoke_api_token(env.redis, env.nc, env.subjects, env.keys, token)

    async def refused() -> bool:
        try:
            await resolver.check_api_token(f"Bearer {token}")
        except Unauthenticated as exc:
            return str(exc) == API_TOKEN_NOT_ACCEPTED
        return False

    await _eventually(refused)
    assert not await env.redis.sismember(env.keys.api_tokens, hash_token(token))


async def test_nothing_secret_is_logged(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    """No token or full hash in any log record (an 8-character hash prefix at DEBUG only)."""
    token, grant = await mint_grant(env.redis, env.keys, account_id=ACCOUNT)
    api = await mint_api_token(env.redis, env.keys)
    resolver = await env.replica()
    with caplog.at_level(logging.DEBUG):
        await resolver.resolve(token)
        await resolver.check_api_token(f"Bearer {api}")
        with pytest.raises(NotFound):
            await resolver.resolve(new_token(SERVER_TOKEN_PREFIX))
        await revoke_api_token(env.redis, env.nc, env.subjects, env.keys, api)
        await revoke_grant(env.redis, env.nc, env.subjects, env.keys, token, grant)
        await _eventually(lambda: _refused(resolver, token))
    for secret in (token, hash_token(token), api, hash_token(api)):
        assert secret not in caplog.text
    loud = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    for secret in (hash_token(token)[:8], hash_token(api)[:8]):
        assert not any(secret in message for message in loud)


async def test_caches_are_cleared_when_nats_reconnects(redis_url: str, tmp_path: Path) -> None:
    """Events missed while disconnected cannot leave stale grants: reconnect clears the cache."""
    server = NatsServer(tmp_path, port=free_port(), jetstream=False)
    server.start()
    redis = aioredis.Redis.from_url(redis_url)
    keys = RedisKeys()
    resolver = GrantResolver(redis, keys)
    nc = await connect(
        NatsConfig(url=server.url), "test-gateway", on_reconnect=resolver.reconnected
    )
    try:
        await resolver.subscribe(nc, Subjects())
        token, _ = await mint_grant(redis, keys, account_id=ACCOUNT)
        api = await mint_api_token(redis, keys)
        await resolver.resolve(token)
        await resolver.check_api_token(f"Bearer {api}")
        await redis.delete(keys.grant(hash_token(token)), keys.api_token(hash_token(api)))
        await resolver.resolve(token)  # still cached

        await asyncio.to_thread(server.stop)
        await asyncio.to_thread(server.start)
        await _eventually(lambda: _refused(resolver, token), within=10.0)
        with pytest.raises(Unauthenticated):
            await resolver.check_api_token(f"Bearer {api}")
    finally:
        await nc.close()
        server.stop()
        await redis.aclose()


async def test_a_rotated_url_is_refused_on_every_replica_and_its_streams_are_told(
    env: Env,
) -> None:
    """McpServerRotated: both replicas drop the old URL's cached grant at once (the new URL
    resolves to the same grant), and listeners hear the old hash so its streams can end."""
    old, grant = await mint_grant(env.redis, env.keys, account_id=ACCOUNT)
    replicas = [await env.replica(), await env.replica()]
    heard: list[str] = []
    for replica in replicas:
        replica.on_server_updated(heard.append)
        assert await replica.resolve(old) == grant
    new = new_token(SERVER_TOKEN_PREFIX)
    await env.redis.set(env.keys.grant(hash_token(new)), msgspec.json.encode(grant))
    await env.redis.delete(env.keys.grant(hash_token(old)))
    event = McpServerRotated(
        id=new_event_id(),
        occurred_at=utcnow(),
        grant=grant,
        token_hash=hash_token(new),
        previous_token_hash=hash_token(old),
    )
    await env.nc.publish(env.subjects.mcp_server_event("rotated"), msgspec.json.encode(event))

    async def all_refuse() -> bool:
        return all([await _refused(replica, old) for replica in replicas])

    await _eventually(all_refuse)
    for replica in replicas:
        assert await replica.resolve(new) == grant
    assert heard == [hash_token(old)] * 2
