"""The second factor of every request to an MCP server with ``require_api_token_auth``.

Accepted: ``x-api-key: <API token>``, ``Authorization: Bearer <API token>``, or
``Authorization: Bearer <OAuth access token>`` issued for this exact MCP URL. An access token
is bound to the server, the URL token and the API token entered at consent; that API token is
checked again on every call (through the resolver's cache, which drops it the moment an
``ApiTokenRevoked`` event arrives), and the grant itself was resolved just before, so revoking
the server or the API token refuses the next call on every replica.

Access-token records are cached per replica for at most ``cache_ttl`` seconds and never past
their own expiry; a sign-in ended by refresh-token reuse is therefore refused here within
``cache_ttl`` (its refresh tokens at once).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from litestar import Request

from stackmcp.contracts.grants import Grant
from stackmcp.contracts.tokens import API_TOKEN_PREFIX, hash_token
from stackmcp.gateway.grants import API_TOKEN_REQUIRED, GrantResolver
from stackmcp.gateway.oauth.metadata import prm_url
from stackmcp.gateway.oauth.store import ACCESS_PREFIX, Binding, OAuthStore
from stackmcp.runtime.cache import TtlCache
from stackmcp.runtime.errors import Unauthenticated

__all__ = [
    "ACCESS_TOKEN_NOT_ACCEPTED",
    "BEARER_NOT_ACCEPTED",
    "OTHER_URL",
    "SIGN_IN_REQUIRED",
    "SecondFactor",
    "base_url",
    "challenge",
    "refusal_message",
]

SIGN_IN_REQUIRED = (
    "this MCP server requires an API token: sign in when your client offers it (OAuth), or send "
    "the API token as 'Authorization: Bearer <API token>' or 'x-api-key: <API token>'"
)
"""What a person is told when no credential was sent."""
ACCESS_TOKEN_NOT_ACCEPTED = (
    "the access token was not accepted: it is unknown, expired or revoked; sign in again"  # noqa: S105
)
BEARER_NOT_ACCEPTED = (
    "the bearer token was not accepted: send the API token (smcp_api_…) or sign in again"
)
OTHER_URL = "the access token was issued for another MCP URL; sign in to this one"
API_TOKEN_GONE = "the API token this sign-in used was revoked; sign in again"  # noqa: S105


def base_url(public_url: str, request: Request[Any, Any, Any]) -> str:
    """The issuer and base of every OAuth URL: ``public_url`` when configured, else
    ``<scheme>://<Host>`` of this request."""
    if public_url:
        return public_url.rstrip("/")
    return f"{request.url.scheme}://{request.url.netloc}"


def challenge(base: str, url_token: str, error: Unauthenticated) -> dict[str, str]:
    """Headers of a 401: where the MCP URL's protected-resource metadata is, and
    ``error="invalid_token"`` when a credential was presented and refused."""
    value = f'Bearer resource_metadata="{prm_url(base, url_token)}"'
    if error.message != API_TOKEN_REQUIRED:
        description = _header_text(error.message)
        value += f', error="invalid_token", error_description="{description}"'
    return {"WWW-Authenticate": value}


def _header_text(text: str) -> str:
    """``text`` as an RFC 6750 ``error_description``: printable ASCII without ``"`` or ``\\``."""
    text = text.replace("…", "...")
    return "".join(c if " " <= c <= "~" and c not in '"\\' else "'" for c in text)


def refusal_message(error: Unauthenticated) -> str:
    """What the 401 body tells the person."""
    return SIGN_IN_REQUIRED if error.message == API_TOKEN_REQUIRED else error.message


class SecondFactor:
    """Checks the second factor of a request to a server with ``require_api_token_auth``.

    Args:
        grants: resolves API tokens (cached, revocations heard at once).
        store: OAuth access-token records.
        cache_ttl: seconds an access-token record is kept per replica (never past its expiry).
        max_entries: bound of that cache.
        clock: wall-clock seconds.
    """

    def __init__(
        self,
        grants: GrantResolver,
        store: OAuthStore,
        *,
        cache_ttl: float = 30.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._grants = grants
        self._store = store
        self._clock = clock
        self._cache: TtlCache[str, Binding] = TtlCache(ttl=cache_ttl, max_entries=max_entries)

    async def check(self, grant: Grant, url_token: str, headers: Mapping[str, str]) -> None:
        """Accept ``x-api-key: <API token>``, ``Authorization: Bearer <API token>`` or
        ``Authorization: Bearer <OAuth access token issued for this exact MCP URL>``.

        Raises:
            Unauthenticated: nothing acceptable (message for the person; never the token;
                ``API_TOKEN_REQUIRED`` when no credential was sent at all).
            Unavailable: Redis is unreachable.
        """
        api_key = headers.get("x-api-key")
        if api_key is not None and api_key.strip():
            await self._grants.check_api_token_value(api_key.strip())
            return
        parts = (headers.get("authorization") or "").split(None, 1)
        if len(parts) != 2 or parts[0].lower() != "bearer" or not parts[1].strip():
            raise Unauthenticated(API_TOKEN_REQUIRED)
        credential = parts[1].strip()
        if credential.startswith(ACCESS_PREFIX):
            await self._check_access(grant, url_token, credential)
        elif credential.startswith(API_TOKEN_PREFIX):
            await self._grants.check_api_token_value(credential)
        else:
            raise Unauthenticated(BEARER_NOT_ACCEPTED)

    async def _check_access(self, grant: Grant, url_token: str, token: str) -> None:
        token_hash = hash_token(token)
        now = self._clock()
        binding = self._cache.get(token_hash)
        if binding is None:
            generation = self._cache.generation
            binding = await self._store.access(token_hash)
            if binding is None or binding.expires <= now:
                raise Unauthenticated(ACCESS_TOKEN_NOT_ACCEPTED)
            self._cache.put(token_hash, binding, generation=generation)
        if binding.expires <= now:
            self._cache.forget(token_hash)
            raise Unauthenticated(ACCESS_TOKEN_NOT_ACCEPTED)
        if binding.server_id != grant.server_id or binding.url_token_hash != hash_token(url_token):
            raise Unauthenticated(OTHER_URL)
        try:
            await self._grants.check_api_token_hash(binding.api_token_hash)
        except Unauthenticated:
            raise Unauthenticated(API_TOKEN_GONE) from None

    def clear(self) -> None:
        """Drop every cached access-token record (e.g. after a NATS reconnection)."""
        self._cache.clear()
