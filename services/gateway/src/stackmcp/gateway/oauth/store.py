"""OAuth records in Redis, shared by every gateway replica.

Secrets (authorization codes, access and refresh tokens, consent form ids) are stored only under
their :func:`~stackmcp.contracts.tokens.hash_token`; URL tokens only as their hash, like grants.

Codes and refresh tokens are single use: redeeming swaps the record for ``used:<family>`` in one
command (``SET … XX KEEPTTL GET``), so of two concurrent redemptions one wins, and a second
presentation is recognised as reuse, which ends the whole sign-in (its *family*: every token
issued from one consent). A family lives as its own key; access and refresh tokens whose family
key is gone are dead.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

from stackmcp.contracts.grants import Grant
from stackmcp.contracts.keys import RedisKeys
from stackmcp.contracts.tokens import hash_token, new_token
from stackmcp.gateway.oauth.errors import OAuthError
from stackmcp.runtime.errors import Unavailable

__all__ = [
    "ACCESS_PREFIX",
    "CODE_PREFIX",
    "REFRESH_PREFIX",
    "Binding",
    "ClientRecord",
    "CodeGrant",
    "OAuthStore",
    "PendingRequest",
]

logger = logging.getLogger(__name__)

ACCESS_PREFIX = "smcp_oat_"
REFRESH_PREFIX = "smcp_ort_"
CODE_PREFIX = "smcp_ocd_"
_USED = b"used:"
_REMEMBERED = 600  # seconds a spent code is still recognised as reused
_NOT_ISSUED = "the code is unknown or expired; sign in again"
# Spend a single-use record: return it and leave ``used:<its family>`` with the same expiry, so
# a second presentation is recognised as reuse and names the family to end (one atomic step).
_SPEND = """
local v = redis.call('GET', KEYS[1])
if not v then return false end
if string.sub(v, 1, 5) == 'used:' then return v end
local ok, record = pcall(cjson.decode, v)
if not ok or type(record) ~= 'table' or type(record['family']) ~= 'string' then return false end
redis.call('SET', KEYS[1], 'used:' .. record['family'], 'KEEPTTL')
return v
"""


class ClientRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A registered (DCR) or resolved (CIMD) public client."""

    client_id: str
    client_name: str = ""
    redirect_uris: tuple[str, ...] = ()
    issued_at: int = 0


class PendingRequest(msgspec.Struct, frozen=True, kw_only=True):
    """An authorization request waiting for the person's decision on the consent page."""

    client_id: str
    client_name: str
    redirect_uri: str
    redirect_given: bool
    """Whether the request named ``redirect_uri`` (then the token request must repeat it)."""
    state: str | None
    code_challenge: str
    url_token_hash: str
    server_id: str


class CodeGrant(msgspec.Struct, frozen=True, kw_only=True):
    """What an authorization code was issued for."""

    client_id: str
    redirect_uri: str
    redirect_given: bool
    code_challenge: str
    url_token_hash: str
    server_id: str
    api_token_hash: str
    family: str
    expires: float


class Binding(msgspec.Struct, frozen=True, kw_only=True):
    """What an access or refresh token is bound to."""

    server_id: str
    url_token_hash: str
    api_token_hash: str
    client_id: str
    family: str
    expires: float
    """Wall-clock seconds."""


_CLIENT = msgspec.json.Decoder(ClientRecord)
_PENDING = msgspec.json.Decoder(PendingRequest)
_CODE = msgspec.json.Decoder(CodeGrant)
_BINDING = msgspec.json.Decoder(Binding)
_GRANT = msgspec.json.Decoder(Grant)


def _unavailable(exc: RedisError) -> Unavailable:
    logger.warning("redis unavailable for OAuth: %s", type(exc).__name__)
    return Unavailable("the sign-in store is unreachable; try again shortly")


class OAuthStore:
    """Clients, pending requests, codes and tokens in Redis.

    Args:
        redis: shared Redis.
        keys: key names.
        clock: wall-clock seconds.
    """

    def __init__(
        self, redis: Redis, keys: RedisKeys, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._redis = redis
        self._keys = keys
        self.clock = clock

    # ------------------------------------------------------------------ clients

    async def save_client(self, client: ClientRecord, ttl: int) -> None:
        """Store a registered client for ``ttl`` seconds."""
        try:
            await self._redis.set(
                self._keys.oauth_client(client.client_id), msgspec.json.encode(client), ex=ttl
            )
        except RedisError as exc:
            raise _unavailable(exc) from None

    async def client(self, client_id: str) -> ClientRecord | None:
        """A registered client, or ``None``."""
        try:
            raw = await self._redis.get(self._keys.oauth_client(client_id))
        except RedisError as exc:
            raise _unavailable(exc) from None
        return None if raw is None else _CLIENT.decode(raw)

    async def keep_client(self, client_id: str, ttl: int) -> None:
        """Keep a registered client ``ttl`` more seconds (it completed a sign-in)."""
        try:
            await self._redis.expire(self._keys.oauth_client(client_id), ttl)
        except RedisError as exc:
            raise _unavailable(exc) from None

    # ------------------------------------------------------------------ consent

    async def save_request(self, request: PendingRequest, ttl: int) -> str:
        """Store a pending authorization request; returns the form id that names it."""
        request_id = secrets.token_urlsafe(32)
        try:
            await self._redis.set(
                self._keys.oauth_request(hash_token(request_id)),
                msgspec.json.encode(request),
                ex=ttl,
            )
        except RedisError as exc:
            raise _unavailable(exc) from None
        return request_id

    async def pending(self, request_id: str) -> PendingRequest | None:
        """The pending request named by a form id, or ``None`` (unknown, expired or decided)."""
        try:
            raw = await self._redis.get(self._keys.oauth_request(hash_token(request_id)))
        except RedisError as exc:
            raise _unavailable(exc) from None
        return None if raw is None else _PENDING.decode(raw)

    async def take_request(self, request_id: str) -> PendingRequest | None:
        """Remove and return a pending request (one decision per request)."""
        try:
            raw = await self._redis.getdel(self._keys.oauth_request(hash_token(request_id)))
        except RedisError as exc:
            raise _unavailable(exc) from None
        return None if raw is None else _PENDING.decode(raw)

    # ------------------------------------------------------------------ codes

    async def issue_code(self, grant: CodeGrant, ttl: int) -> str:
        """A new authorization code for ``grant``, valid ``ttl`` seconds; its record is kept
        :data:`_REMEMBERED` seconds longer, so a late second presentation is still reuse."""
        code = new_token(CODE_PREFIX)
        try:
            await self._redis.set(
                self._keys.oauth_code(hash_token(code)),
                msgspec.json.encode(grant),
                ex=ttl + _REMEMBERED,
            )
        except RedisError as exc:
            raise _unavailable(exc) from None
        return code

    async def redeem_code(self, code: str) -> CodeGrant:
        """Spend ``code`` once.

        Raises:
            OAuthError: ``invalid_grant`` when unknown, expired or used before (reuse also ends
                every token issued from it).
            Unavailable: Redis is unreachable.
        """
        if not code.startswith(CODE_PREFIX):
            raise OAuthError("invalid_grant", _NOT_ISSUED)
        before = await self._spend(self._keys.oauth_code(hash_token(code)))
        if before is None:
            raise OAuthError("invalid_grant", _NOT_ISSUED)
        if before.startswith(_USED):
            await self.revoke_family(before[len(_USED) :].decode())
            raise OAuthError("invalid_grant", "the code was already used; sign in again")
        grant = _CODE.decode(before)
        if self.clock() >= grant.expires:
            raise OAuthError("invalid_grant", "the code expired; sign in again")
        return grant

    # ------------------------------------------------------------------ tokens

    async def issue_tokens(
        self, binding: Binding, access_ttl: float, refresh_ttl: float
    ) -> tuple[str, str]:
        """A new access token (living ``access_ttl`` s) and refresh token (``refresh_ttl`` s)
        for ``binding``'s family; the family lives as long as its newest refresh token."""
        access = new_token(ACCESS_PREFIX)
        refresh = new_token(REFRESH_PREFIX)
        now = self.clock()
        access_record = msgspec.structs.replace(binding, expires=now + access_ttl)
        refresh_record = msgspec.structs.replace(binding, expires=now + refresh_ttl)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(self._keys.oauth_family(binding.family), b"1", ex=_seconds(refresh_ttl))
                pipe.set(
                    self._keys.oauth_access(hash_token(access)),
                    msgspec.json.encode(access_record),
                    ex=_seconds(access_ttl),
                )
                pipe.set(
                    self._keys.oauth_refresh(hash_token(refresh)),
                    msgspec.json.encode(refresh_record),
                    ex=_seconds(refresh_ttl),
                )
                await pipe.execute()
        except RedisError as exc:
            raise _unavailable(exc) from None
        return access, refresh

    async def rotate_refresh(self, token: str) -> Binding:
        """Spend a refresh token once.

        Raises:
            OAuthError: ``invalid_grant`` when unknown, expired, revoked, or used before (reuse
                ends the whole family).
            Unavailable: Redis is unreachable.
        """
        invalid = OAuthError("invalid_grant", "the refresh token is unknown, expired or revoked")
        if not token.startswith(REFRESH_PREFIX):
            raise invalid
        before = await self._spend(self._keys.oauth_refresh(hash_token(token)))
        if before is None:
            raise invalid
        if before.startswith(_USED):
            await self.revoke_family(before[len(_USED) :].decode())
            raise OAuthError("invalid_grant", "the refresh token was already used; sign in again")
        binding = _BINDING.decode(before)
        if self.clock() >= binding.expires or not await self._family_alive(binding.family):
            raise invalid
        return binding

    async def access(self, token_hash: str) -> Binding | None:
        """The binding of a live access token (its family alive), or ``None``."""
        try:
            raw = await self._redis.get(self._keys.oauth_access(token_hash))
        except RedisError as exc:
            raise _unavailable(exc) from None
        if raw is None:
            return None
        binding = _BINDING.decode(raw)
        if not await self._family_alive(binding.family):
            return None
        return binding

    async def revoke_family(self, family: str) -> None:
        """End every token of one sign-in."""
        if not family:
            return
        logger.info("ended an OAuth sign-in after its code or refresh token was reused")
        try:
            await self._redis.delete(self._keys.oauth_family(family))
        except RedisError as exc:
            raise _unavailable(exc) from None

    async def _family_alive(self, family: str) -> bool:
        try:
            return bool(await self._redis.exists(self._keys.oauth_family(family)))
        except RedisError as exc:
            raise _unavailable(exc) from None

    async def _spend(self, key: str) -> bytes | None:
        """What ``key`` held, which is now ``used:<family>`` (one atomic script)."""
        try:
            before = await self._redis.eval(_SPEND, 1, key)
        except RedisError as exc:
            raise _unavailable(exc) from None
        return before if isinstance(before, bytes) else None

    # ------------------------------------------------------------------ grants

    async def grant(self, url_token_hash: str) -> Grant | None:
        """The grant stored for a URL-token hash (``None``: revoked, expired or unreadable)."""
        try:
            raw = await self._redis.get(self._keys.grant(url_token_hash))
        except RedisError as exc:
            raise _unavailable(exc) from None
        if raw is None:
            return None
        try:
            return _GRANT.decode(raw)
        except msgspec.DecodeError:
            return None


def _seconds(ttl: float) -> int:
    return max(1, int(ttl))
