"""The rules of the authorization and token endpoints (RFC 6749, OAuth 2.1, RFC 7636, RFC 8707,
RFC 9207), without HTTP.

Authorization request → :meth:`AuthorizationServer.authorize`: until the client and its
``redirect_uri`` are trusted (known client, registered URI, a ``resource`` that is exactly the
canonical URL of a live MCP server that requires the second factor), a problem is shown on a page
(:class:`Refused`); afterwards it goes back to the client (:class:`RedirectBack`, with ``error``,
``state`` and ``iss``). A valid request is kept server-side for :data:`PENDING_TTL` seconds and
shown as the consent page.

Consent → :meth:`AuthorizationServer.decide`: the API token is checked like any API token; a
code bound to the client, ``redirect_uri``, PKCE challenge, MCP server and API token goes back.

Token request → :meth:`AuthorizationServer.token`: ``authorization_code`` (PKCE S256) or
``refresh_token`` (rotating). The MCP server and the API token must still be valid; tokens never
outlive the server's ``expires_at``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from stackmcp.contracts.grants import Grant
from stackmcp.contracts.tokens import hash_token
from stackmcp.gateway.catalog import ToolCatalog
from stackmcp.gateway.grants import GrantResolver
from stackmcp.gateway.oauth.clients import ClientRegistry
from stackmcp.gateway.oauth.errors import OAuthError
from stackmcp.gateway.oauth.metadata import resource_of, url_token_of
from stackmcp.gateway.oauth.store import (
    Binding,
    ClientRecord,
    CodeGrant,
    OAuthStore,
    PendingRequest,
)
from stackmcp.runtime.errors import NotFound, Unauthenticated

__all__ = [
    "CODE_TTL",
    "PENDING_TTL",
    "AuthorizationServer",
    "Consent",
    "RedirectBack",
    "Refused",
    "WrongApiToken",
]

CODE_TTL = 60
"""Seconds an authorization code may be redeemed."""
PENDING_TTL = 600
"""Seconds a person has to decide on the consent page."""

_CHALLENGE_RE = re.compile(r"[A-Za-z0-9_-]{43}")
_VERIFIER_RE = re.compile(r"[A-Za-z0-9._~-]{43,128}")
_MAX_STATE = 1024


class Refused(Exception):
    """A problem shown on a page, never sent to an untrusted redirect URI."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class RedirectBack(Exception):
    """An answer for the client, at its (trusted) redirect URI."""

    def __init__(self, url: str) -> None:
        super().__init__("redirect")
        self.url = url


@dataclass(frozen=True)
class Consent:
    """What the consent page shows, and the form id that names the pending request."""

    request_id: str
    pending: PendingRequest
    grant: Grant
    tool_count: int


class WrongApiToken(Exception):
    """The API token entered on the consent page was not accepted."""

    def __init__(self, consent: Consent, message: str) -> None:
        super().__init__(message)
        self.consent = consent
        self.message = message


def redirect_url(redirect_uri: str, params: Mapping[str, str | None]) -> str:
    """``redirect_uri`` with ``params`` added to its query (``None`` values left out)."""
    parts = urllib.parse.urlsplit(redirect_uri)
    extra = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urllib.parse.urlunsplit(parts._replace(query=query))


def s256(verifier: str) -> str:
    """The PKCE S256 challenge of ``verifier``."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


class AuthorizationServer:
    """Authorization requests, consent decisions and token requests.

    Args:
        store: OAuth records.
        clients: registrations and CIMD documents.
        grants: the gateway's grant resolver (URL tokens and API tokens, cached).
        catalog: the tool catalogue (the consent page counts the server's tools).
        access_ttl: seconds an access token lives at most.
        refresh_ttl: seconds a refresh token lives at most.
    """

    def __init__(
        self,
        store: OAuthStore,
        clients: ClientRegistry,
        grants: GrantResolver,
        catalog: ToolCatalog,
        *,
        access_ttl: float = 3600.0,
        refresh_ttl: float = 2_592_000.0,
    ) -> None:
        self.store = store
        self.clients = clients
        self.grants = grants
        self.catalog = catalog
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl

    # ------------------------------------------------------------------ authorization request

    async def authorize(self, base: str, query: Mapping[str, str]) -> Consent:
        """Check an authorization request and keep it for the person's decision.

        Raises:
            Refused: the client, its redirect URI or the resource cannot be trusted.
            RedirectBack: any other problem, told to the client.
            Unavailable: Redis is unreachable.
        """
        client, redirect_uri = await self._trusted_client(query)
        url_token, grant = await self._resource(base, query.get("resource", ""))
        state = query.get("state")
        if state is not None and len(state) > _MAX_STATE:
            raise Refused("the state parameter is too long")

        def back(error: str, description: str) -> RedirectBack:
            params = {"error": error, "error_description": description, "state": state}
            return RedirectBack(redirect_url(redirect_uri, {**params, "iss": base}))

        if query.get("response_type") != "code":
            raise back("unsupported_response_type", "only response_type=code is supported")
        challenge = query.get("code_challenge")
        if not challenge:
            raise back("invalid_request", "PKCE is required: send code_challenge (S256)")
        if query.get("code_challenge_method") != "S256":
            raise back("invalid_request", "only the S256 code_challenge_method is supported")
        if not _CHALLENGE_RE.fullmatch(challenge):
            raise back("invalid_request", "code_challenge is not an S256 challenge")
        pending = PendingRequest(
            client_id=client.client_id,
            client_name=client.client_name,
            redirect_uri=redirect_uri,
            redirect_given="redirect_uri" in query,
            state=state,
            code_challenge=challenge,
            url_token_hash=hash_token(url_token),
            server_id=grant.server_id,
        )
        request_id = await self.store.save_request(pending, PENDING_TTL)
        return Consent(request_id, pending, grant, len(self.catalog.view(grant).tools))

    async def _trusted_client(self, query: Mapping[str, str]) -> tuple[ClientRecord, str]:
        client_id = query.get("client_id")
        if not client_id:
            raise Refused("The sign-in request names no client (client_id is missing).")
        try:
            client = await self.clients.resolve(client_id)
        except OAuthError as error:
            message = f"The application asking to sign in is unknown: {error.description}"
            raise Refused(message) from None
        redirect_uri = query.get("redirect_uri")
        if redirect_uri is None:
            if len(client.redirect_uris) != 1:
                raise Refused("The sign-in request names no redirect_uri.")
            redirect_uri = client.redirect_uris[0]
        if not self.clients.policy.matches(client.redirect_uris, redirect_uri):
            raise Refused(
                "The sign-in request's redirect_uri is not one registered for this application "
                "(or not one this server allows), so it is not followed."
            )
        return client, redirect_uri

    async def _resource(self, base: str, resource: str) -> tuple[str, Grant]:
        url_token = url_token_of(base, resource)
        if url_token is None:
            raise Refused(
                "The sign-in request must name the MCP server as resource: its exact URL "
                f"{resource_of(base, '<token>')}."
            )
        try:
            grant = await self.grants.resolve(url_token)
        except NotFound:
            message = "There is no MCP server at this URL (unknown, revoked or expired)."
            raise Refused(message, 404) from None
        if not grant.require_api_token_auth:
            raise Refused("This MCP server needs no sign-in: connect to its URL directly.")
        return url_token, grant

    # ------------------------------------------------------------------ consent

    async def consent(self, request_id: str) -> Consent:
        """The pending request named by a consent form id, to show again.

        Raises:
            Refused: unknown, expired or already decided; or its server has gone.
        """
        pending = await self.store.pending(request_id)
        if pending is None:
            raise Refused(
                "This sign-in request expired or was already answered; start again from your "
                "application."
            )
        grant = await self._live_grant(pending.url_token_hash, pending.server_id)
        if grant is None:
            raise Refused("There is no MCP server at this URL (unknown, revoked or expired).", 404)
        return Consent(request_id, pending, grant, len(self.catalog.view(grant).tools))

    async def decide(self, base: str, request_id: str, api_token: str, allow: bool) -> str:
        """The person's decision: the redirect URL that carries the code (or ``access_denied``).

        Raises:
            Refused: the request is unknown, expired or already decided.
            WrongApiToken: allowed with an API token that is not valid (the request stays).
            Unavailable: Redis is unreachable.
        """
        consent = await self.consent(request_id)
        pending = consent.pending
        api_token_hash = ""
        if allow:
            try:
                await self.grants.check_api_token_value(api_token.strip())
            except Unauthenticated:
                raise WrongApiToken(
                    consent,
                    "That API token was not accepted: it is unknown, mistyped or revoked. "
                    "Paste the API token (smcp_api_…) your operator gave you.",
                ) from None
            api_token_hash = hash_token(api_token.strip())
        if await self.store.take_request(request_id) is None:
            raise Refused("This sign-in request was already answered.")
        if not allow:
            params = {"error": "access_denied", "error_description": "the person declined"}
            return redirect_url(
                pending.redirect_uri, {**params, "state": pending.state, "iss": base}
            )
        code = await self.store.issue_code(
            CodeGrant(
                client_id=pending.client_id,
                redirect_uri=pending.redirect_uri,
                redirect_given=pending.redirect_given,
                code_challenge=pending.code_challenge,
                url_token_hash=pending.url_token_hash,
                server_id=pending.server_id,
                api_token_hash=api_token_hash,
                family=hash_token(request_id)[:32],
                expires=self.store.clock() + CODE_TTL,
            ),
            CODE_TTL,
        )
        return redirect_url(
            pending.redirect_uri, {"code": code, "state": pending.state, "iss": base}
        )

    # ------------------------------------------------------------------ token endpoint

    async def token(self, base: str, form: Mapping[str, str]) -> dict[str, Any]:
        """Answer a token request.

        Raises:
            OAuthError: the RFC 6749 error to send (``invalid_client`` with status 401).
            Unavailable: Redis is unreachable.
        """
        grant_type = form.get("grant_type")
        client_id = form.get("client_id")
        if not grant_type:
            raise OAuthError("invalid_request", "grant_type is missing")
        if grant_type not in ("authorization_code", "refresh_token"):
            raise OAuthError(
                "unsupported_grant_type", "only authorization_code and refresh_token are supported"
            )
        if not client_id:
            raise OAuthError("invalid_request", "client_id is missing (public clients send it)")
        if not client_id.startswith("https://"):
            await self.clients.resolve(client_id)  # invalid_client (401) makes clients register
        if grant_type == "authorization_code":
            binding = await self._code_binding(base, form, client_id)
        else:
            binding = await self._refresh_binding(base, form, client_id)
        return await self._issue(binding)

    async def _code_binding(self, base: str, form: Mapping[str, str], client_id: str) -> Binding:
        code, verifier = form.get("code"), form.get("code_verifier")
        if not code:
            raise OAuthError("invalid_request", "code is missing")
        if not verifier:
            raise OAuthError("invalid_request", "code_verifier is missing (PKCE is required)")
        grant = await self.store.redeem_code(code)
        if grant.client_id != client_id:
            raise OAuthError("invalid_grant", "the code was issued to another client")
        redirect_uri = form.get("redirect_uri")
        if (redirect_uri is None and grant.redirect_given) or (
            redirect_uri is not None and redirect_uri != grant.redirect_uri
        ):
            raise OAuthError("invalid_grant", "redirect_uri differs from the authorization request")
        if not _VERIFIER_RE.fullmatch(verifier) or not hmac.compare_digest(
            s256(verifier), grant.code_challenge
        ):
            raise OAuthError("invalid_grant", "the code_verifier does not match the code_challenge")
        self._check_resource(base, form, grant.url_token_hash)
        await self.clients.keep(client_id)
        return Binding(
            server_id=grant.server_id,
            url_token_hash=grant.url_token_hash,
            api_token_hash=grant.api_token_hash,
            client_id=client_id,
            family=grant.family,
            expires=0.0,
        )

    async def _refresh_binding(self, base: str, form: Mapping[str, str], client_id: str) -> Binding:
        token = form.get("refresh_token")
        if not token:
            raise OAuthError("invalid_request", "refresh_token is missing")
        binding = await self.store.rotate_refresh(token)
        if binding.client_id != client_id:
            raise OAuthError("invalid_grant", "the refresh token was issued to another client")
        self._check_resource(base, form, binding.url_token_hash)
        return binding

    @staticmethod
    def _check_resource(base: str, form: Mapping[str, str], url_token_hash: str) -> None:
        resource = form.get("resource")
        if resource is None:
            return
        url_token = url_token_of(base, resource)
        if url_token is None or hash_token(url_token) != url_token_hash:
            raise OAuthError("invalid_target", "the resource is not the MCP URL signed in to")

    async def _issue(self, binding: Binding) -> dict[str, Any]:
        grant = await self._live_grant(binding.url_token_hash, binding.server_id)
        if grant is None:
            raise OAuthError(
                "invalid_grant", "the MCP server was revoked, expired or given a new URL"
            )
        try:
            await self.grants.check_api_token_hash(binding.api_token_hash)
        except Unauthenticated:
            raise OAuthError("invalid_grant", "the API token of this sign-in was revoked") from None
        left = self._seconds_left(grant)
        access_ttl = min(self.access_ttl, left)
        refresh_ttl = min(self.refresh_ttl, left)
        if access_ttl < 1:
            raise OAuthError("invalid_grant", "the MCP server expired")
        access, refresh = await self.store.issue_tokens(binding, access_ttl, refresh_ttl)
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": int(access_ttl),
            "refresh_token": refresh,
        }

    async def _live_grant(self, url_token_hash: str, server_id: str) -> Grant | None:
        grant = await self.store.grant(url_token_hash)
        if (
            grant is None
            or grant.server_id != server_id
            or not grant.require_api_token_auth
            or grant.is_expired(datetime.now(UTC))
        ):
            return None
        return grant

    def _seconds_left(self, grant: Grant) -> float:
        if grant.expires_at is None:
            return float("inf")
        return grant.expires_at.timestamp() - self.store.clock()
