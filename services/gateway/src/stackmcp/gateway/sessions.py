"""MCP sessions (``Mcp-Session-Id`` and 2024-11-05 SSE sessions) shared by gateway replicas.

A session lives in Redis under :meth:`RedisKeys.session`, so any replica serves any request of
it. Replicas keep a local copy to stay off Redis on the hot path; ending a session deletes the
key and tells every replica over NATS to drop its copy, so a deleted session is refused
everywhere at once. The Redis expiry (idle TTL) is pushed forward at most once a minute.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg
from redis.asyncio import Redis
from redis.exceptions import RedisError

from stackmcp.contracts.keys import RedisKeys
from stackmcp.runtime.errors import Unavailable

__all__ = ["Session", "SessionStore", "new_session_id"]

logger = logging.getLogger(__name__)

_TOUCH_EVERY = 60.0
_LOCAL_TTL = 300.0


def new_session_id() -> str:
    """A fresh, unguessable session id (visible ASCII, as the spec requires)."""
    return secrets.token_hex(16)


class Session(msgspec.Struct, frozen=True, kw_only=True):
    """What a session is bound to."""

    id: str
    token_hash: str
    """The URL token's hash: the session is only valid on that URL."""
    protocol_version: str
    transport: str = "streamable"
    """``streamable`` (Mcp-Session-Id) or ``sse`` (2024-11-05 HTTP+SSE)."""
    created_at: datetime


_DECODER = msgspec.json.Decoder(Session)


class SessionStore:
    """Create, find and end sessions.

    Args:
        redis: shared Redis.
        keys: key names.
        nc: NATS client (for the "session ended" broadcast).
        closed_subject: subject of that broadcast.
        ttl: idle seconds before Redis forgets a session.
    """

    def __init__(
        self, redis: Redis, keys: RedisKeys, nc: Client, closed_subject: str, *, ttl: float
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._nc = nc
        self._closed_subject = closed_subject
        self._ttl = max(1, int(ttl))
        self._local: dict[str, tuple[Session, float, float]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Listen for sessions ended on other replicas."""
        await self._nc.subscribe(self._closed_subject, cb=self._on_closed)

    async def create(self, token_hash: str, protocol_version: str, transport: str) -> Session:
        """Store a new session and return it."""
        session = Session(
            id=new_session_id(),
            token_hash=token_hash,
            protocol_version=protocol_version,
            transport=transport,
            created_at=datetime.now(UTC),
        )
        try:
            await self._redis.set(
                self._keys.session(session.id), msgspec.json.encode(session), ex=self._ttl
            )
        except RedisError:
            raise Unavailable("session storage is unreachable") from None
        now = time.monotonic()
        self._local[session.id] = (session, now, now)
        return session

    async def get(self, session_id: str, token_hash: str) -> Session | None:
        """The session if it exists and belongs to this URL, else ``None``."""
        now = time.monotonic()
        cached = self._local.get(session_id)
        if cached is not None and now - cached[1] < _LOCAL_TTL:
            session, loaded, touched = cached
            if now - touched > _TOUCH_EVERY:
                self._local[session_id] = (session, loaded, now)
                self._spawn(self._touch(session_id))
        else:
            loaded_session = await self._load(session_id)
            if loaded_session is None:
                self._local.pop(session_id, None)
                return None
            session = loaded_session
            self._local[session_id] = (session, now, now)
        return session if session.token_hash == token_hash else None

    async def end(self, session: Session) -> None:
        """Delete the session everywhere."""
        self._local.pop(session.id, None)
        try:
            await self._redis.delete(self._keys.session(session.id))
        except RedisError:
            raise Unavailable("session storage is unreachable") from None
        await self._nc.publish(self._closed_subject, session.id.encode())

    def forget_all(self) -> None:
        """Drop every local copy (after a NATS reconnect, when broadcasts may have been missed)."""
        self._local.clear()

    async def _load(self, session_id: str) -> Session | None:
        if not session_id or len(session_id) > 128:
            return None
        try:
            raw = await self._redis.get(self._keys.session(session_id))
        except RedisError:
            raise Unavailable("session storage is unreachable") from None
        if raw is None:
            return None
        try:
            return _DECODER.decode(raw)
        except msgspec.DecodeError:
            logger.warning("unreadable session record dropped")
            return None

    async def _touch(self, session_id: str) -> None:
        try:
            await self._redis.expire(self._keys.session(session_id), self._ttl)
        except RedisError as exc:
            logger.warning("could not extend a session: %s", type(exc).__name__)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _on_closed(self, msg: Msg) -> None:
        self._local.pop(msg.data.decode(errors="replace"), None)
