"""The gateway's Litestar application: MCP routes, OAuth, health probes, metrics, CORS, body
limit."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Litestar, Request, Response, get
from litestar.config.cors import CORSConfig
from litestar.exceptions import HTTPException

from stackmcp.gateway.fastpath import FastMcpPost
from stackmcp.gateway.http import McpTransport, mcp_router
from stackmcp.gateway.oauth.routes import OAuthRoutes, oauth_router
from stackmcp.runtime.metrics import PROMETHEUS_CONTENT_TYPE, prometheus_text

__all__ = ["create_app"]

EXPOSED_HEADERS = [
    "Mcp-Session-Id",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
    "retry-after",
    "WWW-Authenticate",
]
ALLOWED_HEADERS = [
    "Content-Type",
    "Accept",
    "Authorization",
    "x-api-key",
    "Mcp-Session-Id",
    "Mcp-Protocol-Version",
    "Mcp-Method",
    "Mcp-Name",
    "Last-Event-ID",
    "traceparent",
    "tracestate",
]

ReadyCheck = Callable[[], Awaitable[dict[str, bool]]]
AuditCounters = Callable[[], dict[str, int]]

logger = logging.getLogger(__name__)
_INTERNAL = b'{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"Internal error"}}'


@get("/healthz", name="healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process serves HTTP."""
    return {"status": "ok"}


@get("/readyz", name="readyz")
async def readyz(request: Request[Any, Any, Any]) -> Response[Any]:
    """Readiness: NATS and Redis connected and the tool catalogue loaded (503 otherwise).

    The body also reports the audit trail's counters (``audit``: records ``published``,
    ``dropped`` and ``buffered`` by this replica); they never affect readiness.
    """
    check: ReadyCheck = request.app.state.ready_check
    parts = await check()
    ready = all(parts.values())
    content: dict[str, Any] = {"status": "ready" if ready else "not ready", **parts}
    counters: AuditCounters | None = request.app.state.audit_counters
    if counters is not None:
        content["audit"] = counters()
    return Response(content=content, status_code=200 if ready else 503)


@get("/metrics", name="metrics", media_type=PROMETHEUS_CONTENT_TYPE)
async def metrics() -> bytes:
    """This replica's metrics in the Prometheus text format."""
    return prometheus_text()


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if exc.status_code == 413:
        body = {
            "jsonrpc": "2.0",
            "id": None,
            "error": {"code": -32600, "message": "Request body too large"},
        }
        return Response(content=body, status_code=413)
    return Response(content={"error": exc.detail}, status_code=exc.status_code)


def _route(request: Request[Any, Any, Any]) -> str:
    """The route template (never the path itself: it holds the URL token)."""
    handler = request.scope.get("route_handler")
    paths = getattr(handler, "paths", None)
    return next(iter(paths)) if paths else "?"


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A bug: logged once with the route (never the body), answered as a JSON-RPC error."""
    logger.exception(
        "unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path[:6] + "…"
    )
    return Response(content=_INTERNAL, status_code=500, media_type="application/json")


def create_app(
    transport: McpTransport,
    ready_check: ReadyCheck,
    *,
    max_body_bytes: int,
    audit_counters: AuditCounters | None = None,
    oauth: OAuthRoutes | None = None,
) -> FastMcpPost:
    """Build the app around a wired :class:`McpTransport` (``audit_counters``: the audit
    publisher's counters, shown by ``/readyz``; ``oauth``: the authorization server, whose
    routes are served when given): Litestar, behind the direct path for MCP POSTs."""
    origins = list(transport.allowed_origins) or ["*"]
    handlers: list[Any] = [mcp_router(), healthz, readyz, metrics]
    if oauth is not None:
        handlers.append(oauth_router())
    app = Litestar(
        route_handlers=handlers,
        cors_config=CORSConfig(
            allow_origins=origins,
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=ALLOWED_HEADERS,
            expose_headers=EXPOSED_HEADERS,
            max_age=600,
        ),
        request_max_body_size=max_body_bytes,
        exception_handlers={HTTPException: _http_error, Exception: _unexpected},
        openapi_config=None,
        logging_config=None,
    )
    app.state.mcp = transport
    app.state.oauth = oauth
    app.state.ready_check = ready_check
    app.state.audit_counters = audit_counters
    app.state.started = time.time()
    return FastMcpPost(app, transport, max_body_bytes=max_body_bytes)
