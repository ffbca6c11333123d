"""Console sign-in sessions and one-time secrets, kept in Redis so every replica shares them.

A session is found by the SHA-256 of its cookie value (the value itself is never stored). Each
holds its CSRF token, the operator who signed in, and a fingerprint of the admin token it was
opened with: a new bootstrap admin token ends every session opened with the old one, and a
revoked named admin token ends its sessions (checked on every request, on every replica).
Secrets shown once (a new server URL, a new API token) wait for the redirect that shows them
sealed with the crypto key, for a few minutes, and are read with ``GETDEL``: a second look finds
nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

import msgspec
from redis.asyncio import Redis

from stackmcp.contracts._base import utcnow
from stackmcp.contracts.audit import OPERATOR_BOOTSTRAP
from stackmcp.contracts.keys import RedisKeys
from stackmcp.contracts.tokens import hash_token
from stackmcp.provisioning.auth import Operator
from stackmcp.runtime.crypto import DecryptionError, SecretBox

__all__ = ["REVEAL_SECONDS", "ConsoleSessions", "Session", "admin_fingerprint", "csrf_matches"]

REVEAL_SECONDS = 300
"""How long a one-time secret waits for the page that shows it."""


class Session(msgspec.Struct, frozen=True, kw_only=True):
    """A signed-in console session."""

    key: str
    """Hash of the cookie value (also the Redis key suffix; never the cookie itself)."""
    csrf: str
    """Token every form of this session must send back."""
    admin_fingerprint: str
    created_at: datetime
    operator: str = OPERATOR_BOOTSTRAP
    """Who signed in: the admin token's operator name (shown, and recorded on every change)."""
    admin_token_id: str | None = None
    """The named admin token signed in with; ``None`` for the bootstrap token."""


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(Session)


def admin_fingerprint(admin_token_hash: str) -> str:
    """A short, non-reversible tag of the admin token a session was opened with."""
    return hashlib.sha256(f"console:{admin_token_hash}".encode()).hexdigest()[:16]


class ConsoleSessions:
    """Opens, finds and closes console sessions; keeps one-time secrets for them."""

    def __init__(
        self, redis: Redis, keys: RedisKeys, box: SecretBox, *, admin_token_hash: str, ttl: float
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._box = box
        self._fingerprint = admin_fingerprint(admin_token_hash)
        self._ttl = max(1, int(ttl))

    async def open(self, operator: Operator) -> tuple[str, Session]:
        """Start a session for ``operator``; returns the cookie value (shown only to the
        browser) and the session."""
        cookie = secrets.token_urlsafe(32)
        session = Session(
            key=hash_token(cookie),
            csrf=secrets.token_urlsafe(32),
            admin_fingerprint=admin_fingerprint(operator.token_hash),
            created_at=utcnow(),
            operator=operator.name,
            admin_token_id=operator.token_id,
        )
        await self._redis.set(
            self._keys.console_session(session.key), _ENCODER.encode(session), ex=self._ttl
        )
        return cookie, session

    async def find(self, cookie: str | None) -> Session | None:
        """The live session of a cookie value, or ``None`` (unknown, expired, or opened with an
        admin token that has since been replaced or revoked)."""
        if not cookie or len(cookie) > 128:
            return None
        raw = await self._redis.get(self._keys.console_session(hash_token(cookie)))
        if raw is None:
            return None
        try:
            session = _DECODER.decode(raw)
        except msgspec.DecodeError:
            return None
        if not hmac.compare_digest(
            session.admin_fingerprint, await self._live_fingerprint(session)
        ):
            return None
        return session

    async def _live_fingerprint(self, session: Session) -> str:
        """The fingerprint of the admin token the session needs: the bootstrap token's, or
        its named token's while that is not revoked (else one no session matches)."""
        if session.admin_token_id is None:
            return self._fingerprint
        token_hash = await self._redis.hget(self._keys.admin_token_ids, session.admin_token_id)
        if token_hash is None:
            return ""
        text = token_hash.decode() if isinstance(token_hash, bytes) else str(token_hash)
        return admin_fingerprint(text)

    async def close(self, session: Session) -> None:
        """End a session (sign-out) on every replica at once."""
        await self._redis.delete(self._keys.console_session(session.key))

    @property
    def ttl(self) -> int:
        """Seconds a session lasts from sign-in."""
        return self._ttl

    async def keep_secret(self, session: Session, item_id: str, secret: str) -> None:
        """Hold ``secret`` sealed for the one page that will show it to this session."""
        context = f"console-reveal:{session.key}:{item_id}"
        sealed = self._box.seal(secret, context=context)
        await self._redis.set(
            self._keys.console_reveal(session.key, item_id), sealed, ex=REVEAL_SECONDS
        )

    async def take_secret(self, session: Session, item_id: str) -> str | None:
        """The secret kept for ``item_id``, removed as it is read (``None`` the second time)."""
        raw = await self._redis.getdel(self._keys.console_reveal(session.key, item_id))
        if raw is None:
            return None
        context = f"console-reveal:{session.key}:{item_id}"
        try:
            text = raw.decode() if isinstance(raw, bytes) else str(raw)
            return self._box.open(text, context=context)
        except DecryptionError:
            return None


def csrf_matches(session: Session, sent: str | None) -> bool:
    """Whether a form's CSRF token is this session's (constant-time)."""
    return bool(sent) and hmac.compare_digest(session.csrf.encode(), (sent or "").encode())
