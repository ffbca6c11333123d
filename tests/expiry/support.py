"""Helpers for the expiry tests: servers written the way provisioning writes them, a polling
wait, the events of a stream, and expiry replicas as real processes."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import msgspec
import nats.errors
import redis.asyncio as aioredis
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from stackmcp.contracts import (
    Grant,
    McpServerCreated,
    McpServerDeleted,
    McpServerExpired,
    McpServerUpdated,
    RedisKeys,
    Subjects,
    grant_key_ttl,
    new_event_id,
    utcnow,
)
from stackmcp.contracts.events import LifecycleEvent
from stackmcp.contracts.servers import SERVER_EXPIRES_FIELD, SERVER_RECORD_FIELD, McpServerRecord
from stackmcp.contracts.subjects import McpServerEventKind
from stackmcp.contracts.tokens import SERVER_TOKEN_PREFIX, hash_token, new_token
from stackmcp.runtime.events import publish_event
from tests.support.streams import LineReader, terminate

_EVENTS = msgspec.json.Decoder(LifecycleEvent)

TEST_AUDIT_MAX_BYTES = 16 * 1024 * 1024
"""Size of a test's audit stream (the 8 GiB default, reserved per stream, would exhaust the
test server's JetStream storage after a few tests)."""


def unique_prefix() -> str:
    """A subject and key prefix no other test uses."""
    return f"exp{secrets.token_hex(4)}"


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float, interval: float = 0.05
) -> float:
    """Poll ``check`` until it holds; return the monotonic time it first held, or fail."""
    deadline = time.monotonic() + timeout
    while True:
        if await check():
            return time.monotonic()
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


@dataclass
class Server:
    """One MCP server as provisioning stored it; ``token`` is the secret URL token."""

    token: str
    grant: Grant

    @property
    def id(self) -> str:
        """The server id."""
        return self.grant.server_id

    @property
    def token_hash(self) -> str:
        """Hash of the URL token, as stored."""
        return hash_token(self.token)


class Provisioner:
    """Writes servers to Redis and publishes their lifecycle events, as provisioning does.

    Args:
        redis: client of the test's Valkey.
        keys: key names under the test's prefix.
        js: JetStream context; ``None`` writes Redis only (no events).
        subjects: subject names under the test's prefix.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        keys: RedisKeys,
        js: JetStreamContext | None,
        subjects: Subjects,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.js = js
        self.subjects = subjects

    async def create(
        self, *, expires_in: float | None, account_id: str = "acc_test", publish: bool = True
    ) -> Server:
        """Mint a server expiring ``expires_in`` seconds from now (``None``: never)."""
        now = utcnow()
        expires_at = None if expires_in is None else now + dt.timedelta(seconds=expires_in)
        grant = Grant(
            server_id=f"srv_{secrets.token_hex(6)}",
            account_id=account_id,
            name="expiry test",
            expires_at=expires_at,
            created_at=now,
        )
        server = Server(token=new_token(SERVER_TOKEN_PREFIX), grant=grant)
        await self._store(server, now)
        await self.redis.sadd(self.keys.accounts, account_id)
        await self.redis.sadd(self.keys.mcp_servers_of_account(account_id), server.id)
        if publish:
            await self._publish(
                "created",
                McpServerCreated(
                    id=new_event_id(), occurred_at=now, grant=grant, token_hash=server.token_hash
                ),
            )
        return server

    async def update(self, server: Server, *, expires_in: float | None) -> Server:
        """Change the expiry of ``server`` (a PATCH) and publish ``McpServerUpdated``."""
        now = utcnow()
        expires_at = None if expires_in is None else now + dt.timedelta(seconds=expires_in)
        updated = Server(
            token=server.token, grant=msgspec.structs.replace(server.grant, expires_at=expires_at)
        )
        await self._store(updated, now)
        await self._publish(
            "updated",
            McpServerUpdated(
                id=new_event_id(),
                occurred_at=now,
                grant=updated.grant,
                token_hash=updated.token_hash,
            ),
        )
        return updated

    async def delete(self, server: Server) -> None:
        """Revoke ``server`` and publish ``McpServerDeleted``."""
        await self.redis.delete(self.keys.mcp_server(server.id), self.keys.grant(server.token_hash))
        await self.redis.srem(self.keys.mcp_servers_of_account(server.grant.account_id), server.id)
        await self._publish(
            "deleted",
            McpServerDeleted(
                id=new_event_id(),
                occurred_at=utcnow(),
                server_id=server.id,
                account_id=server.grant.account_id,
                token_hash=server.token_hash,
            ),
        )

    async def live(self, server: Server) -> bool:
        """Whether ``server`` still works: its grant key is there, or its record is not ended
        (a purged server keeps only its ``expired`` record, for the history)."""
        if await self.redis.exists(self.keys.grant(server.token_hash)):
            return True
        record = await self.record(server)
        return record is not None and record.status == "active"

    async def record(self, server: Server) -> McpServerRecord | None:
        """The stored record of ``server``, or ``None`` when its hash is gone."""
        raw = await self.redis.hget(self.keys.mcp_server(server.id), SERVER_RECORD_FIELD)
        return None if raw is None else msgspec.json.decode(raw, type=McpServerRecord)

    async def scheduled_at(self, server: Server) -> float | None:
        """The schedule score of ``server``, or ``None`` when it is not scheduled."""
        score = await self.redis.zscore(self.keys.expiry_schedule, server.id)
        return None if score is None else float(score)

    async def _store(self, server: Server, now: dt.datetime) -> None:
        record = McpServerRecord(grant=server.grant, token_hash=server.token_hash, updated_at=now)
        server_key = self.keys.mcp_server(server.id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(server_key, SERVER_RECORD_FIELD, msgspec.json.encode(record))
            if server.grant.expires_at is None:
                pipe.hdel(server_key, SERVER_EXPIRES_FIELD)
            else:
                pipe.hset(
                    server_key, SERVER_EXPIRES_FIELD, str(server.grant.expires_at.timestamp())
                )
            pipe.set(
                self.keys.grant(server.token_hash),
                msgspec.json.encode(server.grant),
                ex=grant_key_ttl(server.grant, now),
            )
            await pipe.execute()

    async def _publish(
        self,
        kind: McpServerEventKind,
        event: McpServerCreated | McpServerUpdated | McpServerDeleted,
    ) -> None:
        if self.js is not None:
            await publish_event(self.js, self.subjects.mcp_server_event(kind), event)


async def stream_events(
    js: JetStreamContext, subjects: Subjects, subject: str
) -> list[LifecycleEvent]:
    """Every event stored on ``subject``, read with a fresh ephemeral consumer."""
    sub = await js.pull_subscribe(
        subject,
        stream=subjects.events_stream,
        config=ConsumerConfig(
            deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE, inactive_threshold=5.0
        ),
    )
    events: list[LifecycleEvent] = []
    try:
        while True:
            try:
                batch = await sub.fetch(100, timeout=0.5)
            except (TimeoutError, nats.errors.TimeoutError):
                return events
            events += [_EVENTS.decode(msg.data) for msg in batch]
    finally:
        await sub.unsubscribe()


def expired_ids(events: list[LifecycleEvent]) -> list[str]:
    """Server ids of the ``expired`` events among ``events``."""
    return [e.server_id for e in events if isinstance(e, McpServerExpired)]


class Replica:
    """One ``python -m stackmcp.expiry`` process with JSON logs on stderr."""

    def __init__(self, env: Mapping[str, str]) -> None:
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("STACKMCP_", "OTEL_"))}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "stackmcp.expiry"],
            env={**clean, "STACKMCP_LOG_FORMAT": "json", **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stderr is not None
        self.log = LineReader(self.proc.stderr)

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Block until the replica logged that it is ready."""
        self.log.wait_for("stackmcp-expiry ready", timeout)

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, wait for the exit; returns the exit status."""
        self.proc.terminate()
        return self.proc.wait(timeout)

    def output(self) -> str:
        """Everything logged, once the process has ended."""
        return self.log.drain()

    def kill(self) -> None:
        """Make sure the process is gone (test clean-up)."""
        terminate(self.proc)


def replica_env(nats_url: str, redis_url: str, prefix: str) -> dict[str, str]:
    """Environment of an expiry replica under ``prefix``."""
    return {
        "STACKMCP_NATS_URL": nats_url,
        "STACKMCP_REDIS_URL": redis_url,
        "STACKMCP_NATS_SUBJECT_PREFIX": prefix,
        "STACKMCP_REDIS_KEY_PREFIX": prefix,
        # Every test has an audit stream of its own: JetStream reserves max_bytes for each.
        "STACKMCP_AUDIT_MAX_BYTES": str(TEST_AUDIT_MAX_BYTES),
    }
