"""OAuth over HTTP: discovery documents, registration, the consent page, the token endpoint.

Routes (all on the gateway's origin, which is the issuer):

* ``GET /.well-known/oauth-protected-resource/mcp/{token}`` (and ``…/mcp``, ``…/sse``): RFC 9728;
  404, like the MCP URL itself, for unknown, revoked or expired servers and for servers without
  the second factor (they never need sign-in);
* ``GET /.well-known/oauth-authorization-server``: RFC 8414;
* ``POST /oauth/register``: RFC 7591, public clients;
* ``GET /oauth/authorize`` (the consent page) and ``POST /oauth/authorize`` (the decision);
* ``POST /oauth/token``: ``authorization_code`` and ``refresh_token``.

Every response carrying a token or a consent form is ``Cache-Control: no-store``.
"""

from __future__ import annotations

import logging
import urllib.parse
from dataclasses import dataclass
from typing import Any

from litestar import Request, Response, Router, get, post
from litestar.params import FromPath

from stackmcp.gateway import metrics
from stackmcp.gateway.oauth.clients import MAX_REGISTRATION_BYTES
from stackmcp.gateway.oauth.consent import consent_page, error_page, page_headers
from stackmcp.gateway.oauth.errors import OAuthError
from stackmcp.gateway.oauth.flow import AuthorizationServer, RedirectBack, Refused, WrongApiToken
from stackmcp.gateway.oauth.guard import base_url
from stackmcp.gateway.oauth.metadata import authorization_server, protected_resource
from stackmcp.runtime.errors import NotFound, Unavailable

__all__ = ["OAuthRoutes", "oauth_router"]

logger = logging.getLogger(__name__)

JSON = "application/json"
HTML = "text/html; charset=utf-8"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_NOT_FOUND = b'{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Not found"}}'
_FORM = "application/x-www-form-urlencoded"


@dataclass
class OAuthRoutes:
    """What the OAuth handlers need (kept on ``app.state.oauth``)."""

    server: AuthorizationServer
    public_url: str = ""


def _state(request: Request[Any, Any, Any]) -> OAuthRoutes:
    routes: OAuthRoutes = request.app.state.oauth
    return routes


def _base(request: Request[Any, Any, Any]) -> str:
    return base_url(_state(request).public_url, request)


def _json(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(
        content=content,
        status_code=status,
        media_type=JSON,
        headers={**NO_STORE, **(headers or {})},
    )


def _page(html: str, status: int = 200, form_target: str | None = None) -> Response[Any]:
    return Response(
        content=html.encode(),
        status_code=status,
        media_type=HTML,
        headers=page_headers(form_target),
    )


def _single(query: str) -> dict[str, str]:
    """Parameters of a query or form body; a repeated one is an error (RFC 6749 §3.1)."""
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True, max_num_fields=50)
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise OAuthError("invalid_request", f"the parameter {name} is repeated")
        params[name] = value
    return params


async def _form(request: Request[Any, Any, Any]) -> dict[str, str]:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != _FORM:
        raise OAuthError("invalid_request", f"send the parameters as {_FORM}")
    try:
        return _single((await request.body()).decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise OAuthError("invalid_request", "the body is not a valid form") from None


# --------------------------------------------------------------------------- discovery


async def _protected_resource(request: Request[Any, Any, Any], token: str) -> Response[Any]:
    server = _state(request).server
    try:
        grant = await server.grants.resolve(token)
    except NotFound:
        return Response(content=_NOT_FOUND, status_code=404, media_type=JSON)
    except Unavailable:
        return _json({"error": "temporarily_unavailable"}, 503, {"Retry-After": "1"})
    if not grant.require_api_token_auth:
        return Response(content=_NOT_FOUND, status_code=404, media_type=JSON)
    return _json(protected_resource(_base(request), token, grant))


@get("/.well-known/oauth-protected-resource/mcp/{token:str}", name="oauth-prm")
async def prm(request: Request[Any, Any, Any], token: FromPath[str]) -> Response[Any]:
    """RFC 9728 metadata of one MCP URL."""
    return await _protected_resource(request, token)


@get("/.well-known/oauth-protected-resource/mcp/{token:str}/mcp", name="oauth-prm-mcp")
async def prm_mcp(request: Request[Any, Any, Any], token: FromPath[str]) -> Response[Any]:
    """RFC 9728 metadata of the ``<url>/mcp`` alias (the canonical resource)."""
    return await _protected_resource(request, token)


@get("/.well-known/oauth-protected-resource/mcp/{token:str}/sse", name="oauth-prm-sse")
async def prm_sse(request: Request[Any, Any, Any], token: FromPath[str]) -> Response[Any]:
    """RFC 9728 metadata of the ``<url>/sse`` alias (the canonical resource)."""
    return await _protected_resource(request, token)


@get("/.well-known/oauth-authorization-server", name="oauth-as-metadata")
async def as_metadata(request: Request[Any, Any, Any]) -> Response[Any]:
    """RFC 8414 metadata of the authorization server."""
    return _json(authorization_server(_base(request)), headers={"Cache-Control": "max-age=300"})


# --------------------------------------------------------------------------- registration


@post("/oauth/register", name="oauth-register")
async def register(request: Request[Any, Any, Any]) -> Response[Any]:
    """RFC 7591 dynamic client registration of a public client."""
    try:
        length = int(request.headers.get("content-length") or 0)
    except ValueError:
        length = 0
    try:
        if length > MAX_REGISTRATION_BYTES:
            raise OAuthError("invalid_client_metadata", "the registration request is too large")
        body = await _state(request).server.clients.register(await request.body())
    except OAuthError as error:
        metrics.oauth("register", error.error)
        return _json(error.body(), error.status)
    except Unavailable:
        metrics.oauth("register", "unavailable")
        return _json({"error": "temporarily_unavailable"}, 503, {"Retry-After": "1"})
    metrics.oauth("register", "ok")
    logger.info("registered an OAuth client")
    return _json(body, 201)


# --------------------------------------------------------------------------- authorization


@get("/oauth/authorize", name="oauth-authorize")
async def authorize(request: Request[Any, Any, Any]) -> Response[Any]:
    """The consent page of a valid authorization request (or why it cannot go on)."""
    base = _base(request)
    try:
        consent = await _state(request).server.authorize(base, _single(request.url.query or ""))
    except OAuthError as error:
        metrics.oauth("authorize", error.error)
        return _page(error_page(f"The sign-in request is malformed: {error.description}."), 400)
    except Refused as refused:
        metrics.oauth("authorize", "refused")
        return _page(error_page(refused.message), refused.status)
    except RedirectBack as back:
        metrics.oauth("authorize", "refused")
        return Response(content=b"", status_code=303, headers={**NO_STORE, "Location": back.url})
    except Unavailable:
        metrics.oauth("authorize", "unavailable")
        return _page(error_page("The sign-in service is briefly unavailable; try again."), 503)
    metrics.oauth("authorize", "ok")
    return _page(consent_page(consent), 200, consent.pending.redirect_uri)


@post("/oauth/authorize", name="oauth-decide", status_code=303)
async def decide(request: Request[Any, Any, Any]) -> Response[Any]:
    """The person's decision on the consent page."""
    base = _base(request)
    origin = request.headers.get("origin")
    if origin is not None and origin != _origin(base):
        metrics.oauth("consent", "refused")
        logger.info("refused a consent form posted from another origin")
        return _page(error_page("This form was sent from another site; it is refused."), 403)
    server = _state(request).server
    try:
        form = await _form(request)
        request_id = form.get("request_id", "")
        if not request_id:
            raise Refused("The consent form is incomplete; start again from your application.")
        allow = form.get("decision") == "allow"
        location = await server.decide(base, request_id, form.get("api_token", ""), allow)
    except OAuthError as error:
        metrics.oauth("consent", error.error)
        return _page(error_page(f"The consent form is malformed: {error.description}."), 400)
    except Refused as refused:
        metrics.oauth("consent", "refused")
        return _page(error_page(refused.message), refused.status)
    except WrongApiToken as wrong:
        metrics.oauth("consent", "wrong_api_token")
        logger.info("consent refused: the API token was not accepted")
        page = consent_page(wrong.consent, wrong.message)
        return _page(page, 400, wrong.consent.pending.redirect_uri)
    except Unavailable:
        metrics.oauth("consent", "unavailable")
        return _page(error_page("The sign-in service is briefly unavailable; try again."), 503)
    metrics.oauth("consent", "allowed" if allow else "denied")
    logger.info("consent answered (%s)", "allowed" if allow else "denied")
    return Response(content=b"", status_code=303, headers={**NO_STORE, "Location": location})


def _origin(base: str) -> str:
    parts = urllib.parse.urlsplit(base)
    return f"{parts.scheme}://{parts.netloc}"


# --------------------------------------------------------------------------- tokens


@post("/oauth/token", name="oauth-token", status_code=200)
async def token(request: Request[Any, Any, Any]) -> Response[Any]:
    """The token endpoint: ``authorization_code`` (PKCE) and ``refresh_token`` (rotating)."""
    try:
        form = await _form(request)
        body = await _state(request).server.token(_base(request), form)
    except OAuthError as error:
        metrics.oauth("token", error.error)
        logger.info("token request refused: %s", error.error)
        return _json(error.body(), error.status)
    except Unavailable:
        metrics.oauth("token", "unavailable")
        return _json({"error": "temporarily_unavailable"}, 503, {"Retry-After": "1"})
    metrics.oauth("token", "ok")
    logger.info("issued OAuth tokens (%s)", form.get("grant_type"))
    return _json(body)


def oauth_router() -> Router:
    """Every OAuth route."""
    return Router(
        path="/",
        route_handlers=[prm, prm_mcp, prm_sse, as_metadata, register, authorize, decide, token],
    )
