"""The admin REST API over HTTP (Litestar): routes, admin auth, one error body.

Handlers read bodies with :func:`~stackmcp.provisioning.httpio.json_body` (media type, a time
limit, then :func:`~stackmcp.provisioning.bodies.decode_body`, so every field problem is reported
precisely), call the :class:`~stackmcp.provisioning.provisioner.Provisioner`, and answer the
Structs of :mod:`stackmcp.provisioning.views`. Every error, including Litestar's own
404/405/408/413/415 and a Redis failure anywhere (503 with ``Retry-After``), is answered as
``{"error": {"code", "message", "fields"?}}``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from litestar import Litestar, Request, Response, delete, get, patch, post
from litestar.connection import ASGIConnection
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import HTTPException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import Parameter
from litestar.response import Redirect
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from redis.exceptions import RedisError

from stackmcp.contracts._base import utcnow
from stackmcp.contracts.errors import ErrorBody, ErrorCode
from stackmcp.provisioning.auth import AdminAuth
from stackmcp.provisioning.bodies import (
    AccountCreate,
    AdminTokenCreate,
    ApiTokenCreate,
    ServerCreate,
    ServerUpdate,
)
from stackmcp.provisioning.clientconfig import client_config
from stackmcp.provisioning.console import ConsoleState, console_router
from stackmcp.provisioning.console.errors import http_error_page
from stackmcp.provisioning.console.web import PREFIX as CONSOLE_PREFIX
from stackmcp.provisioning.httpio import (
    DEFAULT_BODY_TIMEOUT,
    http_error_headers,
    json_body,
    log_unavailable,
    retry_after,
    store_unavailable,
)
from stackmcp.provisioning.logapi import log_route
from stackmcp.provisioning.openapi import openapi_document
from stackmcp.provisioning.provisioner import MintedServer, Provisioner
from stackmcp.provisioning.statusapi import status_route
from stackmcp.provisioning.views import (
    AccountList,
    AccountView,
    AdminTokenList,
    ApiTokenList,
    CreatedAdminTokenView,
    CreatedApiTokenView,
    CreatedServerView,
    ErrorView,
    ServerList,
    ServerView,
    account_view,
    admin_token_view,
    api_token_view,
    server_view,
)
from stackmcp.runtime.errors import InvalidArgument, StackmcpError, Unavailable
from stackmcp.runtime.metrics import PROMETHEUS_CONTENT_TYPE, prometheus_text

__all__ = ["create_app"]

logger = logging.getLogger(__name__)

ReadyCheck = Callable[[], Awaitable[dict[str, bool]]]
NO_STORE = CacheControlHeader(no_store=True)
"""On every answer that carries a secret (a URL token, an API or admin token): no cache keeps
it."""
AnyRequest = Request[Any, Any, Any]

_CODE_BY_STATUS = {
    400: ErrorCode.INVALID_ARGUMENT,
    401: ErrorCode.UNAUTHENTICATED,
    403: ErrorCode.PERMISSION_DENIED,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.INVALID_ARGUMENT,
    408: ErrorCode.DEADLINE_EXCEEDED,
    409: ErrorCode.CONFLICT,
    413: ErrorCode.INVALID_ARGUMENT,
    415: ErrorCode.INVALID_ARGUMENT,
    429: ErrorCode.RATE_LIMITED,
    503: ErrorCode.UNAVAILABLE,
}


def _state(request: AnyRequest) -> Provisioner:
    provisioner: Provisioner = request.app.state.provisioner
    return provisioner


async def admin_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Refuse the request unless it carries a live admin token; remember its operator."""
    auth: AdminAuth = connection.app.state.auth
    connection.state.operator = await auth.check(connection.headers.get("authorization"))


def _operator(request: AnyRequest) -> str:
    """The operator the request's admin token names (set by :func:`admin_guard`)."""
    operator: str = request.state.operator
    return operator


# Integrated accounts -----------------------------------------------------------------------


@post("/integrated-account", status_code=HTTP_201_CREATED, guards=[admin_guard])
async def create_account(request: AnyRequest) -> AccountView:
    """Connect a Better Stack account (optionally verifying its token first)."""
    body = await json_body(request, AccountCreate)
    record = await _state(request).create_account(body, operator=_operator(request))
    return account_view(record, 0)


@get("/integrated-account", guards=[admin_guard])
async def list_accounts(request: AnyRequest) -> AccountList:
    """Every integrated account."""
    provisioner = _state(request)
    records = await provisioner.accounts()
    return AccountList(
        items=[account_view(r, await provisioner.server_count(r.id)) for r in records]
    )


@get("/integrated-account/{account_id:str}", guards=[admin_guard])
async def get_account(request: AnyRequest, account_id: str) -> AccountView:
    """One integrated account."""
    provisioner = _state(request)
    record = await provisioner.account(account_id)
    return account_view(record, await provisioner.server_count(account_id))


@delete(
    "/integrated-account/{account_id:str}", status_code=HTTP_204_NO_CONTENT, guards=[admin_guard]
)
async def delete_account(request: AnyRequest, account_id: str) -> None:
    """Remove an account and revoke all its MCP servers."""
    await _state(request).delete_account(account_id, operator=_operator(request))


# MCP servers -------------------------------------------------------------------------------


@post(
    "/integrated-account/{account_id:str}/mcp",
    status_code=HTTP_201_CREATED,
    guards=[admin_guard],
    cache_control=NO_STORE,
)
async def create_server(request: AnyRequest, account_id: str) -> CreatedServerView:
    """Mint an MCP server; the answer carries its URL, this once."""
    body = await json_body(request, ServerCreate)
    provisioner = _state(request)
    minted = await provisioner.create_server(account_id, body, operator=_operator(request))
    return await _minted_view(request, minted)


@post(
    "/integrated-account/{account_id:str}/mcp/{server_id:str}/rotate",
    status_code=HTTP_200_OK,
    guards=[admin_guard],
    cache_control=NO_STORE,
)
async def rotate_server(request: AnyRequest, account_id: str, server_id: str) -> CreatedServerView:
    """Give a server a new URL (same id and configuration); the old URL is refused at once.
    The answer carries the new URL, this once (409 when the server was revoked or expired)."""
    minted = await _state(request).rotate_server(account_id, server_id, operator=_operator(request))
    return await _minted_view(request, minted)


async def _minted_view(request: AnyRequest, minted: MintedServer) -> CreatedServerView:
    provisioner = _state(request)
    base: str = request.app.state.mcp_base_url
    url = f"{base}/mcp/{minted.token}"
    grant = minted.record.grant
    usage = await provisioner.usage([minted.record])
    view = server_view(
        minted.record, utcnow(), await provisioner.exposure(grant), usage[minted.record.id]
    )
    return CreatedServerView(
        **{f: getattr(view, f) for f in view.__struct_fields__},
        url=url,
        client_config=client_config(
            url, grant.name, require_api_token=grant.require_api_token_auth
        ),
        warnings=list(minted.warnings),
    )


@get("/integrated-account/{account_id:str}/mcp", guards=[admin_guard])
async def list_servers(
    request: AnyRequest,
    account_id: str,
    status_filter: str = Parameter(query="status", default="all"),
) -> ServerList:
    """The MCP servers of an account, ``?status=active|expired|revoked|all`` (never URLs)."""
    provisioner = _state(request)
    now = utcnow()
    records = await provisioner.servers(account_id, status_filter, now=now)
    usage = await provisioner.usage(records)
    return ServerList(
        items=[
            server_view(r, now, await provisioner.exposure(r.grant), usage[r.id]) for r in records
        ]
    )


@get("/integrated-account/{account_id:str}/mcp/{server_id:str}", guards=[admin_guard])
async def get_server(request: AnyRequest, account_id: str, server_id: str) -> ServerView:
    """One MCP server, revoked or expired ones too during their history (never its URL)."""
    provisioner = _state(request)
    record = await provisioner.server(account_id, server_id)
    usage = await provisioner.usage([record])
    return server_view(record, utcnow(), await provisioner.exposure(record.grant), usage[record.id])


@patch("/integrated-account/{account_id:str}/mcp/{server_id:str}", guards=[admin_guard])
async def update_server(request: AnyRequest, account_id: str, server_id: str) -> ServerView:
    """Change a server's name, configuration or expiry (``"expires_at": null`` clears it)."""
    body = await json_body(request, ServerUpdate)
    provisioner = _state(request)
    record = await provisioner.update_server(
        account_id, server_id, body, operator=_operator(request)
    )
    usage = await provisioner.usage([record])
    return server_view(record, utcnow(), await provisioner.exposure(record.grant), usage[record.id])


@delete(
    "/integrated-account/{account_id:str}/mcp/{server_id:str}",
    status_code=HTTP_204_NO_CONTENT,
    guards=[admin_guard],
)
async def delete_server(request: AnyRequest, account_id: str, server_id: str) -> None:
    """Revoke an MCP server (409 when it was already revoked or has expired)."""
    await _state(request).delete_server(account_id, server_id, operator=_operator(request))


# API tokens --------------------------------------------------------------------------------


@post("/api-token", status_code=HTTP_201_CREATED, guards=[admin_guard], cache_control=NO_STORE)
async def create_api_token(request: AnyRequest) -> CreatedApiTokenView:
    """Create an API token; the answer carries the token, this once."""
    body = await json_body(request, ApiTokenCreate)
    record, token = await _state(request).create_api_token(body, operator=_operator(request))
    view = api_token_view(record)
    return CreatedApiTokenView(id=view.id, name=view.name, created_at=view.created_at, token=token)


@get("/api-token", guards=[admin_guard])
async def list_api_tokens(request: AnyRequest) -> ApiTokenList:
    """Every API token (never the tokens)."""
    return ApiTokenList(items=[api_token_view(r) for r in await _state(request).api_tokens()])


@delete("/api-token/{token_id:str}", status_code=HTTP_204_NO_CONTENT, guards=[admin_guard])
async def revoke_api_token(request: AnyRequest, token_id: str) -> None:
    """Revoke an API token."""
    await _state(request).revoke_api_token(token_id, operator=_operator(request))


# Named admin tokens ------------------------------------------------------------------------


@post("/admin-token", status_code=HTTP_201_CREATED, guards=[admin_guard], cache_control=NO_STORE)
async def create_admin_token(request: AnyRequest) -> CreatedAdminTokenView:
    """Create a named operator's admin token; the answer carries the token, this once."""
    body = await json_body(request, AdminTokenCreate)
    record, token = await _state(request).create_admin_token(body, operator=_operator(request))
    view = admin_token_view(record)
    return CreatedAdminTokenView(
        **{f: getattr(view, f) for f in view.__struct_fields__}, token=token
    )


@get("/admin-token", guards=[admin_guard])
async def list_admin_tokens(request: AnyRequest) -> AdminTokenList:
    """Every named admin token (never the tokens; the bootstrap token is not listed)."""
    return AdminTokenList(items=[admin_token_view(r) for r in await _state(request).admin_tokens()])


@delete("/admin-token/{token_id:str}", status_code=HTTP_204_NO_CONTENT, guards=[admin_guard])
async def revoke_admin_token(request: AnyRequest, token_id: str) -> None:
    """Revoke a named admin token: refused from the next request on, its console sessions end."""
    await _state(request).revoke_admin_token(token_id, operator=_operator(request))


# Operations --------------------------------------------------------------------------------


@get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process serves HTTP."""
    return {"status": "ok"}


@get("/readyz")
async def readyz(request: AnyRequest) -> Response[Any]:
    """Readiness: NATS and Redis connected (503 otherwise)."""
    check: ReadyCheck = request.app.state.ready_check
    parts = await check()
    ready = all(parts.values())
    return Response(
        content={"status": "ready" if ready else "not ready", **parts},
        status_code=200 if ready else 503,
    )


@get("/metrics", include_in_schema=False)
async def metrics_text() -> Response[bytes]:
    """Prometheus metrics of this process (no admin auth, like the probes)."""
    return Response(content=prometheus_text(), media_type=PROMETHEUS_CONTENT_TYPE)


@get("/", include_in_schema=False)
async def console_home() -> Redirect:
    """People opening the service in a browser land on the console."""
    return Redirect(f"{CONSOLE_PREFIX}/", status_code=303)


@get(["/openapi.json", "/schema/openapi.json"])
async def openapi() -> dict[str, Any]:
    """The OpenAPI 3.1 description of this API."""
    return openapi_document()


# Errors ------------------------------------------------------------------------------------


def _error(body: ErrorBody, status: int, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(content=ErrorView(error=body), status_code=status, headers=headers)


def _stackmcp_error(request: AnyRequest, exc: StackmcpError) -> Response[Any]:
    status = exc.status
    if isinstance(exc, InvalidArgument) and exc.fields:
        status = 422
    body = exc.to_body()
    headers = {"WWW-Authenticate": 'Bearer realm="stackmcp-admin"'} if status == 401 else None
    if status in (429, 503):
        seconds = retry_after(exc)
        headers = {"Retry-After": str(seconds)}
        body = msgspec.structs.replace(body, retry_after=float(seconds))
    if isinstance(exc, Unavailable):
        log_unavailable(request, exc)
    return _error(body, status, headers)


def _redis_error(request: AnyRequest, exc: RedisError) -> Response[Any]:
    """A Redis failure the store did not turn into an error of ours: 503 all the same."""
    return _stackmcp_error(request, store_unavailable(exc))


def _http_error(request: AnyRequest, exc: HTTPException) -> Response[Any]:
    if request.url.path.startswith(CONSOLE_PREFIX) and hasattr(request.app.state, "console"):
        return http_error_page(exc)
    status = exc.status_code
    code = _CODE_BY_STATUS.get(status, ErrorCode.INTERNAL)
    message = {
        404: "no such route; see /openapi.json",
        405: "method not allowed on this route",
        413: "the request body is too large",
    }.get(status, str(exc.detail))
    return _error(ErrorBody(code=code, message=message), status, http_error_headers(exc))


def _unexpected(_: AnyRequest, exc: Exception) -> Response[Any]:
    logger.error("unexpected %s while handling a request", type(exc).__name__)
    return _error(ErrorBody(code=ErrorCode.INTERNAL, message="internal error"), 500)


def create_app(
    provisioner: Provisioner,
    auth: AdminAuth,
    ready_check: ReadyCheck,
    *,
    mcp_base_url: str,
    max_body_bytes: int,
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
    console: ConsoleState | None = None,
) -> Litestar:
    """Build the admin API application (and, given its state, the web console)."""
    console_handlers: list[Any] = [console_home, console_router()] if console else []
    app = Litestar(
        route_handlers=[
            *console_handlers,
            create_account,
            list_accounts,
            get_account,
            delete_account,
            create_server,
            list_servers,
            get_server,
            update_server,
            rotate_server,
            delete_server,
            create_api_token,
            list_api_tokens,
            revoke_api_token,
            create_admin_token,
            list_admin_tokens,
            revoke_admin_token,
            log_route(admin_guard),
            status_route(admin_guard),
            healthz,
            readyz,
            metrics_text,
            openapi,
        ],
        exception_handlers={
            StackmcpError: _stackmcp_error,
            RedisError: _redis_error,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
        request_max_body_size=max_body_bytes,
        openapi_config=None,
        logging_config=None,
    )
    app.state.provisioner = provisioner
    app.state.auth = auth
    app.state.ready_check = ready_check
    app.state.mcp_base_url = mcp_base_url.rstrip("/")
    app.state.body_timeout = body_timeout
    if console:
        app.state.console = console
    return app
