"""MCP sessions (``Mcp-Session-Id`` and 2024-11-05 SSE sessions) shared by gateway replicas.

A session lives in Redis under :meth:`RedisKeys.session`, so any replica serves any request of
it. Replicas keep a bounded local copy (:class:`~stackmcp.runtime.cache.TtlCache`) to stay off
Redis on the hot path; ending a session deletes the key and tells every replica over NATS to drop
its copy, so a deleted session is refused everywhere at once. The Redis expiry (idle TTL) is
pushed forward at most once a minute.

Each MCP server keeps at most ``max_per_server`` live sessions: a sorted set per server scores
its sessions by last activity, and opening one more ends the least recently active (its client
gets "Session not found" and initializes again, as the spec prescribes). Abandoned sessions
therefore cost neither memory here nor keys in Redis beyond the idle TTL.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import secrets
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg
from redis.asyncio import Redis
from redis.exceptions import RedisError

from stackmcp.contracts.keys import RedisKeys
from stackmcp.gateway import metrics
from stackmcp.runtime.cache import TtlCache
from stackmcp.runtime.errors import Unavailable

__all__ = ["Session", "SessionStore", "new_session_id"]

logger = logging.getLogger(__name__)

# KEYS: the session, the server's session index; ARGV: session id, record, ttl, now, cap,
# session key prefix. Stores the session, forgets index entries idle past the TTL, ends the
# least active sessions over the cap; returns the ids it ended. One round trip, atomic.
_CREATE = """
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[4] - ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[5])
if over <= 0 then return {} end
local ended = redis.call('ZRANGE', KEYS[2], 0, over - 1)
for _, id in ipairs(ended) do redis.call('DEL', ARGV[6] .. id) end
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, over - 1)
return ended
"""
_TOUCH_EVERY = 60.0
_LOCAL_TTL = 300.0
_UNREACHABLE = "session storage is unreachable"


def new_session_id() -> str:
    """A fresh, unguessable session id (visible ASCII, as the spec requires)."""
    return secrets.token_hex(16)


class Session(msgspec.Struct, frozen=True, kw_only=True):
    """What a session is bound to."""

    id: str
    token_hash: str
    """The URL token's hash: the session is only valid on that URL."""
    server_id: str = ""
    """The MCP server the session belongs to (its sessions are capped)."""
    protocol_version: str
    transport: str = "streamable"
    """``streamable`` (Mcp-Session-Id) or ``sse`` (2024-11-05 HTTP+SSE)."""
    created_at: datetime
    client_name: str | None = None
    """``clientInfo.name`` from ``initialize`` (for the audit trail)."""
    client_version: str | None = None
    """``clientInfo.version`` from ``initialize``."""
    elicitation: bool = False
    """The client declared form elicitation in ``initialize``."""


_DECODER = msgspec.json.Decoder(Session)


class SessionStore:
    """Create, find and end sessions.

    Args:
        redis: shared Redis.
        keys: key names.
        nc: NATS client (for the "session ended" broadcast).
        closed_subject: subject of that broadcast.
        ttl: idle seconds before Redis forgets a session.
        max_per_server: live sessions one MCP server may hold; more end the least active.
        max_local: sessions this replica keeps a local copy of.
        clock: monotonic seconds (tests move it).
    """

    def __init__(
        self,
        redis: Redis,
        keys: RedisKeys,
        nc: Client,
        closed_subject: str,
        *,
        ttl: float,
        max_per_server: int = 100,
        max_local: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._nc = nc
        self._closed_subject = closed_subject
        self._ttl = max(1, int(ttl))
        self._max_per_server = max_per_server
        self._create = redis.register_script(_CREATE)
        self._local: TtlCache[str, Session] = TtlCache(
            ttl=min(_LOCAL_TTL, self._ttl), max_entries=max_local, clock=clock
        )
        self._touched: TtlCache[str, bool] = TtlCache(
            ttl=_TOUCH_EVERY, max_entries=max_local, clock=clock
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed_listeners: list[Callable[[str], None]] = []

    def on_closed(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(session_id)`` whenever this replica hears that a session was ended
        or changed anywhere (its own changes included), after dropping its local copy; the
        session may still exist (a change), so a listener reads it again to know."""
        self._closed_listeners.append(listener)

    @property
    def local_count(self) -> int:
        """Sessions this replica holds a local copy of."""
        return len(self._local)

    def live_counts(self) -> dict[str, int]:
        """Sessions this replica served within the idle TTL (its live local copies), by
        transport."""
        return dict(collections.Counter(s.transport for s in self._local.values()))

    async def start(self) -> None:
        """Listen for sessions ended on other replicas."""
        await self._nc.subscribe(self._closed_subject, cb=self._on_closed)

    async def create(
        self,
        token_hash: str,
        server_id: str,
        protocol_version: str,
        transport: str,
        *,
        client_name: str | None = None,
        client_version: str | None = None,
        elicitation: bool = False,
    ) -> Session:
        """Store a new session (ending the server's least active ones over the cap).

        Raises:
            Unavailable: Redis cannot be reached.
        """
        session = Session(
            id=new_session_id(),
            token_hash=token_hash,
            server_id=server_id,
            protocol_version=protocol_version,
            transport=transport,
            created_at=datetime.now(UTC),
            client_name=client_name,
            client_version=client_version,
            elicitation=elicitation,
        )
        now = time.time()
        try:
            ended = await self._create(
                keys=[self._keys.session(session.id), self._keys.server_sessions(server_id)],
                args=[
                    session.id,
                    msgspec.json.encode(session),
                    self._ttl,
                    now,
                    self._max_per_server,
                    self._keys.session(""),
                ],
            )
        except RedisError:
            raise Unavailable(_UNREACHABLE) from None
        self._local.put(session.id, session)
        self._touched.put(session.id, True)
        if ended:
            self._spawn(self._ended_elsewhere([raw.decode() for raw in ended]))
        return session

    async def get(self, session_id: str, token_hash: str) -> Session | None:
        """The session if it exists and belongs to this URL, else ``None``.

        Raises:
            Unavailable: Redis cannot be reached.
        """
        session = self._local.get(session_id)
        metrics.looked_up("session", hit=session is not None)
        if session is None:
            generation = self._local.generation
            session = await self._load(session_id)
            if session is None:
                return None
            self._local.put(session_id, session, generation=generation)
        if session.token_hash != token_hash:
            return None
        if self._touched.get(session_id) is None:
            self._touched.put(session_id, True)
            self._spawn(self._touch(session))
        return session

    async def name_client(
        self, session: Session, client_name: str | None, client_version: str | None
    ) -> Session:
        """The session with the client's name and version (an ``initialize`` inside an open
        session, as on HTTP+SSE), stored for every replica; unchanged names cost nothing.

        Raises:
            Unavailable: Redis cannot be reached.
        """
        if (session.client_name, session.client_version) == (client_name, client_version):
            return session
        named = msgspec.structs.replace(
            session, client_name=client_name, client_version=client_version
        )
        try:
            await self._redis.set(
                self._keys.session(session.id), msgspec.json.encode(named), xx=True, keepttl=True
            )
        except RedisError:
            raise Unavailable(_UNREACHABLE) from None
        self._local.put(session.id, named)
        # Other replicas drop their copy and read the named one on their next use.
        await self._nc.publish(self._closed_subject, session.id.encode())
        return named

    async def end(self, session: Session) -> None:
        """Delete the session everywhere.

        Raises:
            Unavailable: Redis cannot be reached.
        """
        self._local.forget(session.id)
        lasted = (datetime.now(UTC) - session.created_at).total_seconds()
        metrics.session_ended(session.protocol_version, session.transport, lasted)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(self._keys.session(session.id))
                pipe.zrem(self._keys.server_sessions(session.server_id), session.id)
                await pipe.execute()
        except RedisError:
            raise Unavailable(_UNREACHABLE) from None
        await self._nc.publish(self._closed_subject, session.id.encode())

    def forget_all(self) -> None:
        """Drop every local copy (after a NATS reconnect, when broadcasts may have been missed)."""
        self._local.clear()

    async def _ended_elsewhere(self, session_ids: list[str]) -> None:
        for sid in session_ids:
            self._local.forget(sid)
            await self._nc.publish(self._closed_subject, sid.encode())
        logger.info("ended %d least active session(s) of a server over its cap", len(session_ids))

    async def _load(self, session_id: str) -> Session | None:
        if not session_id or len(session_id) > 128:
            return None
        try:
            raw = await self._redis.get(self._keys.session(session_id))
        except RedisError:
            raise Unavailable(_UNREACHABLE) from None
        if raw is None:
            return None
        try:
            return _DECODER.decode(raw)
        except msgspec.DecodeError:
            logger.warning("unreadable session record dropped")
            return None

    async def _touch(self, session: Session) -> None:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.expire(self._keys.session(session.id), self._ttl)
                pipe.zadd(
                    self._keys.server_sessions(session.server_id),
                    {session.id: time.time()},
                    xx=True,
                )
                await pipe.execute()
        except RedisError as exc:
            logger.warning("could not extend a session: %s", type(exc).__name__)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _on_closed(self, msg: Msg) -> None:
        session_id = msg.data.decode(errors="replace")
        self._local.forget(session_id)
        for listener in self._closed_listeners:
            listener(session_id)
