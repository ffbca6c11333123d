"""The expiry schedule and the purge, in Redis alone (no NATS here).

The server hash written by provisioning (:meth:`RedisKeys.mcp_server`) is the source of truth;
the schedule (:attr:`RedisKeys.expiry_schedule`, a sorted set of server ids scored by
``expires_at``) is only an index over it. Every change to the index goes through
:data:`SYNC_SCRIPT`, which reads the hash and writes the index in one atomic step, so replicas
handling events in any order always converge on what the hash says.

A due server is purged by :data:`PURGE_SCRIPT`: only if its record is still the one that was read,
it deletes the grant key (the URL is dead), rewrites the record as ``expired`` by ``expiry``
without ``expires_at`` (so it is never scheduled again), keeps the hash and an
:class:`~stackmcp.contracts.servers.EndedGrant` for the history retention, and in the same step
parks the ``expired`` event in the outbox (:attr:`RedisKeys.expiry_outbox`). Exactly one replica
gets ``1`` back and publishes; the event leaves the outbox only once JetStream acknowledged it
(and its audit record). An entry stuck in the outbox (its replica died or lost NATS) is claimed
by one replica at a time (:func:`outbox_claim_key`, ``SET NX EX``) once it is older than the
grace period, and published again with the same event id.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import msgspec
from redis.asyncio import Redis

from stackmcp.contracts._base import utcnow
from stackmcp.contracts.audit import OPERATOR_EXPIRY
from stackmcp.contracts.events import McpServerExpired
from stackmcp.contracts.keys import RedisKeys
from stackmcp.contracts.servers import (
    SERVER_EXPIRES_FIELD,
    SERVER_RECORD_FIELD,
    EndedGrant,
    McpServerRecord,
)
from stackmcp.runtime.config import AuditConfig

__all__ = [
    "PURGE_SCRIPT",
    "SYNC_SCRIPT",
    "OutboxEntry",
    "Schedule",
    "expired_event_id",
    "outbox_claim_key",
    "parse_expires",
]

logger = logging.getLogger(__name__)

SYNC_SCRIPT = """
-- KEYS[1] server hash, KEYS[2] schedule
-- ARGV[1] record field, ARGV[2] expires_at field, ARGV[3] server id
local fields = redis.call('HMGET', KEYS[1], ARGV[1], ARGV[2])
if fields[1] and fields[2] and string.match(fields[2], '^%-?%d+%.?%d*$') then
  redis.call('ZADD', KEYS[2], tonumber(fields[2]), ARGV[3])
  return fields[2]
end
redis.call('ZREM', KEYS[2], ARGV[3])
return false
"""
"""Schedule one server as its hash says: ``ZADD`` at ``expires_at``, or ``ZREM`` when the
server, its record or its expiry is gone (or ``expires_at`` is not a plain decimal number, the
same rule as :func:`parse_expires`). Returns the ``expires_at`` string or nil."""

PURGE_SCRIPT = """
-- KEYS[1] server hash, KEYS[2] grant, KEYS[3] ended grant, KEYS[4] schedule, KEYS[5] outbox
-- ARGV[1] record field, ARGV[2] record read, ARGV[3] expires_at field, ARGV[4] expires_at read,
-- ARGV[5] server id, ARGV[6] outbox entry, ARGV[7] ended record, ARGV[8] ended grant,
-- ARGV[9] seconds the history is kept
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
if redis.call('HGET', KEYS[1], ARGV[3]) ~= ARGV[4] then return 0 end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[7])
redis.call('HDEL', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[9])
redis.call('SET', KEYS[3], ARGV[8], 'EX', ARGV[9])
redis.call('ZREM', KEYS[4], ARGV[5])
redis.call('HSET', KEYS[5], ARGV[5], ARGV[6])
return 1
"""
"""Purge one server if it is unchanged since it was read: its URL dies, its record stays as
``expired`` for the history; park its event in the outbox. Returns 1 for the one caller that
purged, 0 when the server changed, was revoked or is already purged."""

_RETRY_UNREADABLE = 60.0
"""Seconds before a server whose record cannot be decoded is looked at again."""

_DECIMAL = re.compile(rb"-?[0-9]+\.?[0-9]*")
_RECORD_DECODER = msgspec.json.Decoder(McpServerRecord)


class OutboxEntry(msgspec.Struct, frozen=True, kw_only=True):
    """What the outbox holds per server: the event to publish and when the purge happened."""

    event: McpServerExpired
    purged_at: float
    """Unix seconds of the purge, on the purging replica's clock."""


_OUTBOX_DECODER = msgspec.json.Decoder(OutboxEntry)


def outbox_claim_key(keys: RedisKeys, server_id: str) -> str:
    """Key a replica sets (``NX EX``) while it re-publishes the outbox entry of ``server_id``."""
    return keys.expiry_outbox_claim(server_id)


def expired_event_id(server_id: str, expires_at: str) -> str:
    """The deterministic id of a server's ``expired`` event, shared by every replica, so that
    JetStream drops a re-publish of it."""
    return f"expired-{server_id}-{expires_at}"


def _text(value: object) -> str:
    """A Redis reply (bytes; str on a decoding client) as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


def _bytes(value: object) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def parse_expires(raw: bytes | str | None) -> float | None:
    """``expires_at`` of a server hash as Unix seconds, or ``None`` when absent or malformed.

    Only plain decimals (``1767225600``, ``1767225600.5``) count, exactly as in
    :data:`SYNC_SCRIPT`, so the index and the purge never disagree on what is scheduled.
    """
    if raw is None:
        return None
    raw = _bytes(raw)
    return float(raw) if _DECIMAL.fullmatch(raw) else None


class Schedule:
    """The expiry schedule of one deployment (one key prefix).

    Args:
        redis: client with undecoded (bytes) replies.
        keys: key names under the deployment's prefix.
        clock: Unix seconds now; tests may pass their own.
        history_days: days an expired server stays listed (``STACKMCP_AUDIT_HISTORY_DAYS``).
    """

    def __init__(
        self,
        redis: Redis,
        keys: RedisKeys,
        *,
        clock: Callable[[], float] = time.time,
        history_days: float = AuditConfig().history_days,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self.clock = clock
        self._history_seconds = max(1, round(history_days * 86_400))
        self._sync = redis.register_script(SYNC_SCRIPT)
        self._purge = redis.register_script(PURGE_SCRIPT)

    def _sync_call(self, server_id: str) -> tuple[list[str], list[str]]:
        keys = [self._keys.mcp_server(server_id), self._keys.expiry_schedule]
        return keys, [SERVER_RECORD_FIELD, SERVER_EXPIRES_FIELD, server_id]

    async def sync(self, server_id: str) -> float | None:
        """Bring the schedule entry of ``server_id`` in line with its hash.

        Returns:
            The ``expires_at`` it is now scheduled at, or ``None`` when it is not scheduled.
        """
        keys, args = self._sync_call(server_id)
        raw = await self._sync(keys=keys, args=args)
        return parse_expires(raw)

    async def sync_many(self, server_ids: Iterable[str]) -> None:
        """:meth:`sync` every id in ``server_ids`` in one pipelined round trip."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for server_id in server_ids:
                keys, args = self._sync_call(server_id)
                await self._sync(keys=keys, args=args, client=pipe)
            await pipe.execute()

    async def reconcile(self, chunk: int = 100) -> int:
        """Re-read the expiry of every server of every account into the schedule.

        Repairs whatever events could not tell: servers older than the stream's retention,
        events dropped after too many deliveries.

        Returns:
            How many servers were looked at.
        """
        seen = 0
        pending: list[str] = []
        async for account in self._redis.sscan_iter(self._keys.accounts, count=chunk):
            servers = self._keys.mcp_servers_of_account(_text(account))
            async for server_id in self._redis.sscan_iter(servers, count=chunk):
                pending.append(_text(server_id))
                if len(pending) >= chunk:
                    await self.sync_many(pending)
                    seen += len(pending)
                    pending.clear()
        if pending:
            await self.sync_many(pending)
            seen += len(pending)
        return seen

    async def head(self) -> tuple[float | None, int]:
        """``(earliest expiry or None, servers scheduled)`` in one round trip."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zrange(self._keys.expiry_schedule, 0, 0, withscores=True)
            pipe.zcard(self._keys.expiry_schedule)
            first, count = await pipe.execute()
        return (float(first[0][1]) if first else None), int(count)

    async def due(self, now: float, limit: int) -> list[str]:
        """Ids of at most ``limit`` servers scheduled at or before ``now``, earliest first."""
        ids = await self._redis.zrangebyscore(
            self._keys.expiry_schedule, "-inf", now, start=0, num=limit
        )
        return [_text(raw) for raw in ids]

    async def purge(self, server_id: str, now: float | None = None) -> McpServerExpired | None:
        """Purge ``server_id`` if it is due at ``now``; return its event if this call purged it.

        The returned event is parked in the outbox: publish it, then call :meth:`published`.
        A server that is not due, changed meanwhile or is already gone gets its schedule entry
        corrected instead and ``None`` comes back.
        """
        now = self.clock() if now is None else now
        server_key = self._keys.mcp_server(server_id)
        raw_record, raw_expires = await self._redis.hmget(
            server_key, [SERVER_RECORD_FIELD, SERVER_EXPIRES_FIELD]
        )
        expires = parse_expires(raw_expires)
        if raw_record is None or raw_expires is None or expires is None or expires > now:
            await self.sync(server_id)
            return None
        try:
            record = _RECORD_DECODER.decode(raw_record)
        except (msgspec.DecodeError, msgspec.ValidationError):
            logger.error("record of MCP server %s is unreadable; retrying later", server_id)
            await self._redis.zadd(
                self._keys.expiry_schedule, {server_id: now + _RETRY_UNREADABLE}, xx=True
            )
            return None
        if record.status != "active":  # ended, yet an expires_at was left: unschedule for good
            await self._redis.hdel(server_key, SERVER_EXPIRES_FIELD)
            await self._redis.zrem(self._keys.expiry_schedule, server_id)
            return None
        event = _expired_event(server_id, record, _text(raw_expires), expires)
        entry = msgspec.json.encode(OutboxEntry(event=event, purged_at=now))
        ended_at = datetime.fromtimestamp(now, UTC)
        ended = msgspec.structs.replace(
            record, status="expired", ended_at=ended_at, ended_by=OPERATOR_EXPIRY
        )
        ended_grant = EndedGrant(
            server_id=server_id,
            account_id=record.grant.account_id,
            name=record.grant.name,
            status="expired",
            ended_at=ended_at,
            ended_by=OPERATOR_EXPIRY,
        )
        keys = [
            server_key,
            self._keys.grant(record.token_hash),
            self._keys.ended_grant(record.token_hash),
            self._keys.expiry_schedule,
            self._keys.expiry_outbox,
        ]
        args = [SERVER_RECORD_FIELD, raw_record, SERVER_EXPIRES_FIELD, raw_expires, server_id]
        history: list[bytes | str] = [
            msgspec.json.encode(ended),
            msgspec.json.encode(ended_grant),
            str(self._history_seconds),
        ]
        if await self._purge(keys=keys, args=[*args, entry, *history]) != 1:
            await self.sync(server_id)
            return None
        return event

    async def published(self, server_id: str) -> None:
        """Drop the outbox entry of ``server_id``: its event was acknowledged by JetStream."""
        await self._redis.hdel(self._keys.expiry_outbox, server_id)

    async def claim_stale(self, now: float, grace: float, limit: int) -> list[McpServerExpired]:
        """Claim outbox entries parked for at least ``grace`` seconds, at most ``limit``.

        Each returned event is claimed by this caller alone for ``grace`` seconds (``SET NX
        EX``): publish it, then call :meth:`published`. An undecodable entry is dropped.
        """
        claimed: list[McpServerExpired] = []
        cursor = 0
        while True:
            cursor, entries = await self._redis.hscan(self._keys.expiry_outbox, cursor, count=limit)
            pairs = entries.items() if isinstance(entries, dict) else ()
            for field, raw in pairs:
                event = await self._claim(_text(field), _bytes(raw), now, grace)
                if event is not None:
                    claimed.append(event)
                if len(claimed) >= limit:
                    return claimed
            if cursor == 0:
                return claimed

    async def _claim(
        self, server_id: str, raw: bytes, now: float, grace: float
    ) -> McpServerExpired | None:
        try:
            entry = _OUTBOX_DECODER.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            logger.error("dropping unreadable outbox entry of MCP server %s", server_id)
            await self._redis.hdel(self._keys.expiry_outbox, server_id)
            return None
        if now - entry.purged_at < grace:
            return None
        claim = outbox_claim_key(self._keys, server_id)
        if not await self._redis.set(claim, b"1", nx=True, ex=max(1, math.ceil(grace))):
            return None
        return entry.event


def _expired_event(
    server_id: str, record: McpServerRecord, expires_raw: str, expires: float
) -> McpServerExpired:
    return McpServerExpired(
        id=expired_event_id(server_id, expires_raw),
        occurred_at=utcnow(),
        server_id=server_id,
        account_id=record.grant.account_id,
        token_hash=record.token_hash,
        expired_at=record.grant.expires_at or datetime.fromtimestamp(expires, UTC),
        name=record.grant.name,
    )
