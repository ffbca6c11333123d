"""Per-account credentials: read from Redis, decrypted, cached for a few seconds.

Provisioning writes :class:`~stackmcp.contracts.accounts.AccountRecord` under
:meth:`RedisKeys.account`; the token inside is sealed with the shared
:class:`~stackmcp.runtime.crypto.SecretBox`. The cache keeps hot accounts off Redis and out of
AES on every call; its short TTL bounds how long a removed or re-keyed account keeps working
here, and :meth:`AccountStore.forget` drops an entry at once when a lifecycle event says so.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from redis.asyncio import Redis
from redis.exceptions import RedisError

from stackmcp.contracts.accounts import AccountRecord, credential_context
from stackmcp.contracts.keys import RedisKeys
from stackmcp.runtime.cache import TtlCache
from stackmcp.runtime.crypto import DecryptionError, SecretBox
from stackmcp.runtime.errors import Internal, NotFound, Unavailable

__all__ = ["Account", "AccountStore", "betterstack_origin", "forget_on_account_events"]

logger = logging.getLogger(__name__)

_UPTIME_HOST = "uptime.betterstack.com"
_BETTERSTACK_ORIGIN = "https://betterstack.com"
_DECODER = msgspec.json.Decoder(AccountRecord)


class _AccountEvent(msgspec.Struct, frozen=True):
    """The part of any account lifecycle event the cache needs."""

    account_id: str


_EVENT_DECODER = msgspec.json.Decoder(_AccountEvent)


class Account(msgspec.Struct, frozen=True, kw_only=True):
    """What the worker needs to call Better Stack for one account (the token in clear)."""

    id: str
    token: str
    uptime_origin: str
    """Origin of the Uptime API, e.g. ``https://uptime.betterstack.com``."""
    betterstack_origin: str
    """Origin of the team endpoints (``https://betterstack.com`` for the real API)."""
    team_name: str | None = None

    def __repr__(self) -> str:
        return f"Account(id={self.id!r}, uptime_origin={self.uptime_origin!r})"


def betterstack_origin(base_url: str) -> str:
    """The team-API origin for an account whose Uptime API lives at ``base_url``.

    The real Uptime host has its team endpoints on ``betterstack.com``; any other base URL (the
    sandbox, a proxy) serves both from the same origin.
    """
    parts = urlsplit(base_url)
    if parts.hostname == _UPTIME_HOST:
        return _BETTERSTACK_ORIGIN
    return f"{parts.scheme}://{parts.netloc}"


class AccountStore:
    """Load accounts by id.

    Args:
        redis: client for the shared Redis.
        keys: key names (with the deployment's prefix).
        box: keyring that opens sealed tokens.
        ttl: seconds a loaded account is reused.
        max_entries: most accounts kept decrypted at once.
    """

    def __init__(
        self,
        redis: Redis,
        keys: RedisKeys,
        box: SecretBox,
        *,
        ttl: float = 5.0,
        max_entries: int = 10_000,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._box = box
        self._cache: TtlCache[str, Account] = TtlCache(ttl=ttl, max_entries=max_entries)

    async def get(self, account_id: str) -> Account:
        """The account with its token decrypted.

        Raises:
            NotFound: no such account (it was removed).
            Unavailable: Redis cannot be reached.
            Internal: the stored record cannot be read or decrypted with the configured keys.
        """
        return await self._cache.get_or_load(account_id, lambda: self._load(account_id))

    def forget(self, account_id: str) -> None:
        """Drop a cached account (it was removed or its credentials changed)."""
        self._cache.forget(account_id)

    async def _load(self, account_id: str) -> Account:
        try:
            raw = await self._redis.get(self._keys.account(account_id))
        except RedisError as exc:
            logger.warning("redis unavailable loading an account: %s", type(exc).__name__)
            raise Unavailable("the credential store is unreachable; try again shortly") from None
        if raw is None:
            raise NotFound(
                "the Better Stack account behind this MCP server is no longer connected; ask "
                "the operator to reconnect it"
            )
        try:
            record = _DECODER.decode(raw)
            token = self._box.open(record.sealed_token, context=credential_context(record.id))
        except (msgspec.DecodeError, DecryptionError) as exc:
            logger.error("account %s unreadable: %s", account_id, exc)
            raise Internal(
                "the Better Stack credentials of this account cannot be read; the operator must "
                "check the encryption key configuration"
            ) from None
        if record.id != account_id:
            logger.error("account record under %s names account %s", account_id, record.id)
            raise Internal("the stored account record is inconsistent")
        origin = record.base_url.rstrip("/")
        return Account(
            id=record.id,
            token=token,
            uptime_origin=origin,
            betterstack_origin=betterstack_origin(origin),
            team_name=record.team_name,
        )


async def forget_on_account_events(nc: Client, subject: str, store: AccountStore) -> Subscription:
    """Drop an account from ``store`` as soon as any replica hears an event about it.

    A plain (non-queue) subscription, so every worker replica receives every event; the
    JetStream-published lifecycle events reach core subscribers on the same subject.
    """

    async def on_event(msg: Msg) -> None:
        try:
            store.forget(_EVENT_DECODER.decode(msg.data).account_id)
        except msgspec.DecodeError:
            logger.warning("ignored a malformed account event on %s", msg.subject)

    return await nc.subscribe(subject, cb=on_event)
