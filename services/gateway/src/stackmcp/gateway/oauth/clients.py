"""OAuth clients: dynamic registration (RFC 7591) and client metadata documents (CIMD).

Only public clients exist here (``token_endpoint_auth_method`` ``none``, PKCE does the rest); a
registration asking for a secret is answered with ``none``, as RFC 7591 §3.2.1 allows.

Redirect URIs must be in the allowed set — the Claude callbacks, the operator's
``oauth_redirect_uris``, or loopback ``http`` URIs for clients on the person's own machine — and
an authorization request's ``redirect_uri`` must equal a registered one exactly, except that a
loopback URI's port may vary (RFC 8252 §7.3).

A ``client_id`` that is an https URL is a CIMD client: its document is fetched through the
guarded :func:`~stackmcp.gateway.oauth.fetch.fetch_client_metadata`, must name itself as
``client_id``, and is kept per replica for a few minutes.
"""

from __future__ import annotations

import re
import secrets
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import msgspec

from stackmcp.gateway.oauth.errors import OAuthError
from stackmcp.gateway.oauth.fetch import ClientMetadataError, fetch_client_metadata
from stackmcp.gateway.oauth.store import ClientRecord, OAuthStore
from stackmcp.runtime.cache import TtlCache

__all__ = [
    "CLAUDE_CALLBACKS",
    "CLIENT_ID_PREFIX",
    "MAX_REGISTRATION_BYTES",
    "ClientRegistry",
    "RedirectPolicy",
    "is_loopback",
]

CLAUDE_CALLBACKS = (
    "https://claude.ai/api/mcp/auth_callback",
    "https://claude.com/api/mcp/auth_callback",
)
"""Where claude.ai and Claude Desktop receive the authorization response."""
CLIENT_ID_PREFIX = "smcp_ocl_"
"""Prefix of registered client ids (public, not secret)."""
MAX_REGISTRATION_BYTES = 8192
"""Largest registration request body accepted."""
UNUSED_CLIENT_TTL = 3600
"""Seconds a registration is kept before it completes a sign-in."""
CLIENT_TTL = 90 * 86400
"""Seconds a registration is kept after each completed sign-in."""
CIMD_CACHE_TTL = 300.0
"""Seconds a fetched client metadata document is used before fetching it again."""

_MAX_REDIRECTS = 10
_MAX_URI = 2000
_MAX_NAME = 120
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")
_CLIENT_ID_RE = re.compile(re.escape(CLIENT_ID_PREFIX) + r"[A-Za-z0-9_-]{16,64}")


class _Fetch(Protocol):
    def __call__(
        self, url: str, *, allow_loopback: bool, timeout: float, max_bytes: int
    ) -> Awaitable[dict[str, Any]]: ...


def is_loopback(uri: str) -> bool:
    """Whether ``uri`` is an ``http`` loopback redirect URI (port free, RFC 8252)."""
    parts = urllib.parse.urlsplit(uri)
    return (
        parts.scheme == "http"
        and parts.hostname in _LOOPBACK_HOSTS
        and not parts.username
        and not parts.password
        and not parts.fragment
    )


def _without_port(uri: str) -> tuple[str, str | None, str, str]:
    parts = urllib.parse.urlsplit(uri)
    return parts.scheme, parts.hostname, parts.path or "/", parts.query


class RedirectPolicy:
    """Which redirect URIs a client may register, and whether a requested one matches.

    Args:
        extra: exact URIs allowed besides :data:`CLAUDE_CALLBACKS` and loopback.
    """

    def __init__(self, extra: Sequence[str] = ()) -> None:
        self._exact = frozenset((*CLAUDE_CALLBACKS, *extra))

    def allowed(self, uri: str) -> bool:
        """Whether ``uri`` may be registered."""
        if len(uri) > _MAX_URI or "#" in uri:
            return False
        return uri in self._exact or is_loopback(uri)

    def matches(self, registered: Sequence[str], requested: str) -> bool:
        """Whether ``requested`` equals one of ``registered`` (a loopback port may differ)."""
        if not self.allowed(requested):
            return False
        if requested in registered:
            return True
        if not is_loopback(requested):
            return False
        wanted = _without_port(requested)
        return any(is_loopback(r) and _without_port(r) == wanted for r in registered)

    def describe(self) -> str:
        """The allowed set, for error messages."""
        return ", ".join(sorted(self._exact)) + " or http://127.0.0.1:<port>/… (loopback)"


def clean_name(value: object) -> str:
    """A client name safe to show: a short single line without control characters."""
    if not isinstance(value, str):
        return ""
    return _CONTROL.sub("", value).strip()[:_MAX_NAME]


class ClientRegistry:
    """Register DCR clients and resolve any ``client_id`` to a :class:`ClientRecord`.

    Args:
        store: where registrations live.
        policy: the redirect URIs allowed.
        allow_loopback: let CIMD documents be fetched from loopback addresses (tests).
        fetch: the CIMD fetcher (the guarded one unless a test replaces it).
        clock: wall-clock seconds (``issued_at``).
    """

    def __init__(
        self,
        store: OAuthStore,
        policy: RedirectPolicy,
        *,
        allow_loopback: bool = False,
        fetch: _Fetch = fetch_client_metadata,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self.policy = policy
        self._allow_loopback = allow_loopback
        self._fetch = fetch
        self._clock = clock
        self._documents: TtlCache[str, ClientRecord] = TtlCache(
            ttl=CIMD_CACHE_TTL, max_entries=1000
        )

    async def register(self, body: bytes) -> dict[str, Any]:
        """Register a public client from an RFC 7591 request body; returns the response body.

        Raises:
            OAuthError: ``invalid_client_metadata`` or ``invalid_redirect_uri``.
            Unavailable: Redis is unreachable.
        """
        if len(body) > MAX_REGISTRATION_BYTES:
            raise OAuthError("invalid_client_metadata", "the registration request is too large")
        try:
            request = msgspec.json.decode(body)
        except msgspec.DecodeError:
            raise OAuthError("invalid_client_metadata", "the body is not JSON") from None
        if not isinstance(request, dict):
            raise OAuthError("invalid_client_metadata", "the body is not a JSON object")
        _check_grant_types(request)
        record = ClientRecord(
            client_id=CLIENT_ID_PREFIX + secrets.token_urlsafe(24),
            client_name=clean_name(request.get("client_name")),
            redirect_uris=self._redirect_uris(request.get("redirect_uris")),
            issued_at=int(self._clock()),
        )
        await self._store.save_client(record, UNUSED_CLIENT_TTL)
        response: dict[str, Any] = {
            "client_id": record.client_id,
            "client_id_issued_at": record.issued_at,
            "redirect_uris": list(record.redirect_uris),
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        }
        if record.client_name:
            response["client_name"] = record.client_name
        if isinstance(request.get("scope"), str):
            response["scope"] = request["scope"][:500]
        return response

    def _redirect_uris(self, value: object) -> tuple[str, ...]:
        if (
            not isinstance(value, list)
            or not value
            or len(value) > _MAX_REDIRECTS
            or not all(isinstance(uri, str) for uri in value)
        ):
            raise OAuthError(
                "invalid_redirect_uri",
                f"redirect_uris must be a list of 1 to {_MAX_REDIRECTS} URIs",
            )
        refused = [uri for uri in value if not self.policy.allowed(uri)]
        if refused:
            raise OAuthError(
                "invalid_redirect_uri",
                f"redirect URI {refused[0][:200]!r} is not allowed here; allowed: "
                + self.policy.describe(),
            )
        return tuple(value)

    async def resolve(self, client_id: str) -> ClientRecord:
        """The client named by ``client_id``: a registration, or a CIMD document's URL.

        Raises:
            OAuthError: ``invalid_client`` (unknown, or its document refused; the description
                says why).
            Unavailable: Redis is unreachable.
        """
        if client_id.startswith("https://"):
            return await self._document(client_id)
        if _CLIENT_ID_RE.fullmatch(client_id):
            record = await self._store.client(client_id)
            if record is not None:
                return record
        raise OAuthError(
            "invalid_client",
            "this client is not registered here (or its registration expired); "
            "connect again so it registers anew",
            status=401,
        )

    async def keep(self, client_id: str) -> None:
        """Keep a registration that just completed a sign-in."""
        if _CLIENT_ID_RE.fullmatch(client_id):
            await self._store.keep_client(client_id, CLIENT_TTL)

    async def _document(self, url: str) -> ClientRecord:
        cached = self._documents.get(url)
        if cached is not None:
            return cached
        try:
            document = await self._fetch(
                url, allow_loopback=self._allow_loopback, timeout=5.0, max_bytes=5120
            )
        except ClientMetadataError as error:
            raise OAuthError(
                "invalid_client", f"the client metadata document was refused: {error.message}"
            ) from None
        record = self._record_of(url, document)
        self._documents.put(url, record)
        return record

    def _record_of(self, url: str, document: dict[str, Any]) -> ClientRecord:
        if document.get("client_id") != url:
            raise OAuthError(
                "invalid_client",
                "the client metadata document does not name its own URL as client_id",
            )
        method = document.get("token_endpoint_auth_method", "none")
        if method != "none":
            raise OAuthError(
                "invalid_client",
                "only public clients are supported (token_endpoint_auth_method none)",
            )
        uris = document.get("redirect_uris")
        if (
            not isinstance(uris, list)
            or not uris
            or not all(isinstance(uri, str) and len(uri) <= _MAX_URI for uri in uris)
        ):
            raise OAuthError(
                "invalid_client", "the client metadata document has no valid redirect_uris"
            )
        return ClientRecord(
            client_id=url,
            client_name=clean_name(document.get("client_name")),
            redirect_uris=tuple(uris[:_MAX_REDIRECTS]),
        )


def _check_grant_types(request: dict[str, Any]) -> None:
    grant_types = request.get("grant_types", ["authorization_code"])
    response_types = request.get("response_types", ["code"])
    if not isinstance(grant_types, list) or "authorization_code" not in grant_types:
        raise OAuthError("invalid_client_metadata", "grant_types must include authorization_code")
    if not isinstance(response_types, list) or "code" not in response_types:
        raise OAuthError("invalid_client_metadata", "response_types must include code")
