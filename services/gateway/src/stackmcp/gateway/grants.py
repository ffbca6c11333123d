"""Token → grant resolution and the API-token second factor, cached per gateway replica.

Provisioning stores each MCP server's :class:`~stackmcp.contracts.grants.Grant` under
:meth:`RedisKeys.grant` (keyed by the URL token's hash, with Redis key expiry at ``expires_at``)
and each API token's record under :meth:`RedisKeys.api_token`. :class:`GrantResolver` reads them,
keeps positives in a small in-process cache, and drops cache entries as soon as a lifecycle event
says so (:meth:`GrantResolver.subscribe`). ``cache_ttl`` is the backstop when an event is missed.

Whatever is cached, a grant past ``expires_at`` on the gateway's own clock is refused on every
call, even if no purge has run yet.

A URL without a grant is looked up together with its :meth:`RedisKeys.ended_grant` record (one
``MGET``), and that answer — what ended there, or nothing — is cached like a grant, so repeated
requests to dead or unknown URLs stay off Redis. A revoked or expired server is refused exactly
like an unknown URL; :meth:`GrantResolver.ended` then names it, so the refusal can be audited.

Core NATS subscribers miss events published while their connection is down, so the service must
clear the caches after every reconnection::

    resolver = GrantResolver(redis, keys)
    nc = await natsx.connect(config.nats, "stackmcp-gateway", on_reconnect=resolver.reconnected)
    await resolver.subscribe(nc, subjects)

Nothing secret is logged: no token and no token hash at INFO or above (an 8-character hash
prefix at DEBUG only).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from redis.asyncio import Redis
from redis.exceptions import RedisError

from stackmcp.contracts.audit import RefusalCode
from stackmcp.contracts.events import (
    ApiTokenRevoked,
    LifecycleEvent,
    McpServerCreated,
    McpServerDeleted,
    McpServerExpired,
    McpServerRotated,
    McpServerUpdated,
)
from stackmcp.contracts.grants import Grant
from stackmcp.contracts.keys import RedisKeys
from stackmcp.contracts.servers import EndedGrant
from stackmcp.contracts.subjects import Subjects
from stackmcp.contracts.tokens import API_TOKEN_PREFIX, SERVER_TOKEN_PREFIX, hash_token
from stackmcp.gateway import metrics
from stackmcp.runtime.cache import TtlCache
from stackmcp.runtime.errors import NotFound, Unauthenticated, Unavailable

__all__ = [
    "API_TOKEN_NOT_ACCEPTED",
    "API_TOKEN_REQUIRED",
    "NO_SERVER",
    "EndedServer",
    "GrantResolver",
    "api_token_refusal",
]

logger = logging.getLogger(__name__)

NO_SERVER = "no MCP server at this URL"
"""The one message for every refused URL token: unknown, malformed, unreadable or expired."""
API_TOKEN_REQUIRED = (
    "this MCP server requires an API token: send it as 'Authorization: Bearer <API token>'"  # noqa: S105
)
"""Message when the ``Authorization`` header is missing or not a bearer token."""
API_TOKEN_NOT_ACCEPTED = "the API token was not accepted: it is unknown, malformed or revoked"  # noqa: S105
"""Message when a bearer token is given but is not a valid API token."""

# new_token() yields 43 URL-safe characters after the prefix; accept a bounded range so a
# future, longer format keeps working while junk of any size is refused before Redis.
_SECRET_BODY = r"[A-Za-z0-9_-]{32,128}"  # noqa: S105 - a pattern
_SERVER_TOKEN_RE = re.compile(re.escape(SERVER_TOKEN_PREFIX) + _SECRET_BODY)
_API_TOKEN_RE = re.compile(re.escape(API_TOKEN_PREFIX) + _SECRET_BODY)

_GRANT_DECODER = msgspec.json.Decoder(Grant)
_ENDED_DECODER = msgspec.json.Decoder(EndedGrant)


@dataclass(frozen=True)
class EndedServer:
    """The MCP server a refused URL belonged to, revoked or expired (for the audit trail)."""

    account_id: str
    server_id: str
    name: str
    refusal: RefusalCode

    @classmethod
    def of_grant(cls, grant: Grant) -> EndedServer:
        """A grant past its ``expires_at``."""
        return cls(grant.account_id, grant.server_id, grant.name, "server_expired")

    @classmethod
    def of_record(cls, ended: EndedGrant) -> EndedServer:
        """What provisioning or expiry left behind when the server ended."""
        code: RefusalCode = "server_revoked" if ended.status == "revoked" else "server_expired"
        return cls(ended.account_id, ended.server_id, ended.name, code)


def api_token_refusal(error: Unauthenticated) -> RefusalCode:
    """The audit code of an API-token refusal: none given, or one not accepted."""
    return "api_token_missing" if error.message == API_TOKEN_REQUIRED else "api_token_rejected"


_EVENT_DECODER = msgspec.json.Decoder(LifecycleEvent)


def _short(token_hash: str) -> str:
    """The part of a hash that may appear in DEBUG logs."""
    return token_hash[:8]


def _decode_ended(raw: bytes | str | None) -> EndedGrant | None:
    if raw is None:
        return None
    try:
        return _ENDED_DECODER.decode(raw)
    except msgspec.DecodeError:
        logger.warning("ignored an undecodable ended-grant record")
        return None


class GrantResolver:
    """Resolve MCP server URL tokens to grants and check API tokens, with a cache.

    Args:
        redis: client for the shared Redis.
        keys: key names (with the deployment's prefix).
        cache_ttl: seconds a cached grant or API token is trusted without re-reading Redis; the
            backstop for a missed event.
        max_entries: bound of each cache (grants, API tokens); the oldest entry goes first.
        clock: the wall clock ``expires_at`` is compared with (timezone-aware).
        monotonic: the clock cache entries age by.
    """

    def __init__(
        self,
        redis: Redis,
        keys: RedisKeys,
        *,
        cache_ttl: float = 30.0,
        max_entries: int = 10000,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._clock = clock
        self._grants: TtlCache[str, Grant] = TtlCache(
            ttl=cache_ttl, max_entries=max_entries, clock=monotonic
        )
        self._api_tokens: TtlCache[str, bool] = TtlCache(
            ttl=cache_ttl, max_entries=max_entries, clock=monotonic
        )
        # URLs without a grant: what ended there, or (None,) for nothing; keeps repeated
        # requests to dead or unknown URLs off Redis.
        self._missing: TtlCache[str, tuple[EndedGrant | None]] = TtlCache(
            ttl=cache_ttl, max_entries=max_entries, clock=monotonic
        )
        self._subscriptions: list[Subscription] = []
        self._update_listeners: list[Callable[[str], None]] = []

    def on_server_updated(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(token_hash)`` whenever this replica hears that a server's grant
        changed (after its cache entry is dropped), e.g. to tell open sessions; for a rotated
        server with the old URL's hash, which no longer resolves."""
        self._update_listeners.append(listener)

    async def resolve(self, token: str) -> Grant:
        """The grant of the MCP server whose URL carries ``token``.

        Raises:
            NotFound: with the same message whether the token is malformed, unknown, its record
                unreadable, or the grant expired — the caller learns nothing more (the gateway
                learns more from :meth:`ended`).
            Unavailable: Redis cannot be reached.
        """
        if not _SERVER_TOKEN_RE.fullmatch(token):
            raise NotFound(NO_SERVER)
        token_hash = hash_token(token)
        if self._missing.get(token_hash) is not None:
            metrics.looked_up("grant", hit=True)
            raise NotFound(NO_SERVER)
        grant = self._grants.get(token_hash)
        metrics.looked_up("grant", hit=grant is not None)
        if grant is None:
            grant = await self._grants.get_or_load(token_hash, lambda: self._load_grant(token_hash))
        if grant.is_expired(self._clock()):
            logger.debug("refused expired grant %s", _short(token_hash))
            raise NotFound(NO_SERVER)
        return grant

    def cached(self, token: str) -> Grant | None:
        """The grant of ``token`` when this replica has it cached and it has not expired;
        ``None`` otherwise (then :meth:`resolve` loads or refuses it). No Redis round trip."""
        if not _SERVER_TOKEN_RE.fullmatch(token):
            return None
        grant = self._grants.get(hash_token(token))
        metrics.looked_up("grant", hit=grant is not None)
        if grant is None or grant.is_expired(self._clock()):
            return None
        return grant

    def ended(self, token: str) -> EndedServer | None:
        """The server a URL :meth:`resolve` just refused belonged to, if it was revoked or
        expired; ``None`` for a URL that never was a server. Reads only what :meth:`resolve`
        cached (no Redis round trip)."""
        if not _SERVER_TOKEN_RE.fullmatch(token):
            return None
        token_hash = hash_token(token)
        grant = self._grants.get(token_hash)
        if grant is not None:
            return EndedServer.of_grant(grant) if grant.is_expired(self._clock()) else None
        missing = self._missing.get(token_hash)
        if missing is None or missing[0] is None:
            return None
        return EndedServer.of_record(missing[0])

    async def _load_grant(self, token_hash: str) -> Grant:
        generation = self._missing.generation
        try:
            raw, raw_ended = await self._redis.mget(
                self._keys.grant(token_hash), self._keys.ended_grant(token_hash)
            )
        except RedisError as exc:
            logger.warning("redis unavailable resolving a grant: %s", type(exc).__name__)
            raise Unavailable("the grant store is unreachable; try again shortly") from None
        if raw is None:
            logger.debug("no grant for %s", _short(token_hash))
            self._missing.put(token_hash, (_decode_ended(raw_ended),), generation=generation)
            raise NotFound(NO_SERVER)
        try:
            grant = _GRANT_DECODER.decode(raw)
        except msgspec.DecodeError:
            logger.warning("refused an undecodable grant record")
            logger.debug("undecodable grant record %s", _short(token_hash))
            raise NotFound(NO_SERVER) from None
        if grant.expires_at is not None and grant.expires_at.tzinfo is None:
            logger.warning("refused a grant record whose expires_at has no timezone")
            raise NotFound(NO_SERVER)
        return grant

    def forget(self, token_hash: str) -> None:
        """Drop the cached grant of ``token_hash`` (it was changed, revoked or expired)."""
        self._grants.forget(token_hash)
        self._missing.forget(token_hash)

    def forget_api_token(self, token_hash: str) -> None:
        """Drop the cached acceptance of an API token (it was revoked)."""
        self._api_tokens.forget(token_hash)

    def clear(self) -> None:
        """Drop every cached grant and API token (e.g. after a NATS reconnection)."""
        self._grants.clear()
        self._api_tokens.clear()
        self._missing.clear()

    async def reconnected(self) -> None:
        """:meth:`clear`, as an ``on_reconnect`` hook for :func:`stackmcp.runtime.natsx.connect`.

        Events published while the connection was down are lost to core subscribers, so any
        cached entry may be stale after a reconnection.
        """
        self.clear()
        logger.info("grant caches cleared after NATS reconnection")

    async def check_api_token(self, authorization: str | None) -> None:
        """Accept the request only with ``Authorization: Bearer <valid API token>``.

        For grants with ``require_api_token_auth``. The scheme is case-insensitive; the token
        must have the API-token shape and a record in Redis.

        Raises:
            Unauthenticated: the header is missing or not a bearer token, or the token is not a
                valid API token. The message never contains the token.
            Unavailable: Redis cannot be reached.
        """
        parts = (authorization or "").split(None, 1)
        if len(parts) != 2 or parts[0].lower() != "bearer":
            raise Unauthenticated(API_TOKEN_REQUIRED)
        await self.check_api_token_value(parts[1].strip())

    async def check_api_token_value(self, token: str) -> None:
        """Accept ``token`` only if it is a valid API token (from any header that carries one).

        Raises:
            Unauthenticated: the token has not the API-token shape or is unknown or revoked.
            Unavailable: Redis cannot be reached.
        """
        if not _API_TOKEN_RE.fullmatch(token):
            raise Unauthenticated(API_TOKEN_NOT_ACCEPTED)
        await self.check_api_token_hash(hash_token(token))

    async def check_api_token_hash(self, token_hash: str) -> None:
        """Accept only the hash of a valid API token (e.g. the one an OAuth access token is
        bound to); cached, and dropped at once when the token is revoked.

        Raises:
            Unauthenticated: no such API token (never issued, or revoked).
            Unavailable: Redis cannot be reached.
        """
        cached = self._api_tokens.get(token_hash) is not None
        metrics.looked_up("api_token", hit=cached)
        if not cached:
            await self._api_tokens.get_or_load(token_hash, lambda: self._load_api_token(token_hash))

    async def _load_api_token(self, token_hash: str) -> bool:
        try:
            exists = await self._redis.exists(self._keys.api_token(token_hash))
        except RedisError as exc:
            logger.warning("redis unavailable checking an API token: %s", type(exc).__name__)
            raise Unavailable("the API token store is unreachable; try again shortly") from None
        if not exists:
            logger.debug("unknown API token %s", _short(token_hash))
            raise Unauthenticated(API_TOKEN_NOT_ACCEPTED)
        return True

    async def subscribe(self, nc: Client, subjects: Subjects) -> None:
        """Drop cache entries as soon as this replica hears a lifecycle event about them.

        Plain (non-queue) core subscriptions on the MCP server and API token event subjects, so
        every gateway replica receives every event (JetStream-published events also reach core
        subscribers). Malformed messages are logged (without payload) and ignored.
        """
        for subject in (subjects.mcp_server_events, subjects.api_token_events):
            self._subscriptions.append(await nc.subscribe(subject, cb=self._on_event))

    async def unsubscribe(self) -> None:
        """Stop listening to lifecycle events (before closing the NATS connection)."""
        subscriptions, self._subscriptions = self._subscriptions, []
        for subscription in subscriptions:
            await subscription.unsubscribe()

    async def _on_event(self, msg: Msg) -> None:
        try:
            event = _EVENT_DECODER.decode(msg.data)
        except msgspec.DecodeError:
            logger.warning("ignored a malformed lifecycle event on %s", msg.subject)
            return
        match event:
            case McpServerCreated() | McpServerUpdated() | McpServerDeleted() | McpServerExpired():
                logger.debug("grant event %s for %s", event.id, _short(event.token_hash))
                self.forget(event.token_hash)
                if isinstance(event, McpServerUpdated):
                    for listener in self._update_listeners:
                        listener(event.token_hash)
            case McpServerRotated():
                logger.debug("grant %s rotated", _short(event.previous_token_hash))
                self.forget(event.previous_token_hash)
                self.forget(event.token_hash)
                for listener in self._update_listeners:  # the old URL's streams end
                    listener(event.previous_token_hash)
            case ApiTokenRevoked():
                logger.debug("API token revoked %s", _short(event.token_hash))
                self.forget_api_token(event.token_hash)
            case _:
                pass
