"""The Litestar application: API routes behind the gate, the admin API, uniform error bodies."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Litestar, Request, Response, Router
from litestar.exceptions import HTTPException, MethodNotAllowedException, NotFoundException
from litestar.handlers import HTTPRouteHandler

from stackmcp.runtime.config import LogConfig, load_section
from stackmcp.runtime.logging import configure_logging
from stackmcp.sandbox.admin import admin_routes, reset_state
from stackmcp.sandbox.catalog import LEGACY_POLICIES, LISTINGS, SPECS
from stackmcp.sandbox.comments import comment_routes
from stackmcp.sandbox.config import SandboxConfig
from stackmcp.sandbox.crud import crud_routes, listing_route
from stackmcp.sandbox.envelope import json_response
from stackmcp.sandbox.errors import SEE_DOCS, ApiError
from stackmcp.sandbox.gate import ApiGate
from stackmcp.sandbox.incident_actions import incident_routes
from stackmcp.sandbox.knobs import Knobs
from stackmcp.sandbox.maintenance import maintenance_routes
from stackmcp.sandbox.metadata import metadata_routes
from stackmcp.sandbox.monitoring import heartbeat_availability, monitor_response_times, monitor_sla
from stackmcp.sandbox.oncall import on_call_routes
from stackmcp.sandbox.routing import route
from stackmcp.sandbox.state import SandboxState
from stackmcp.sandbox.team import team_routes

__all__ = ["api_routes", "app_from_env", "create_app"]

logger = logging.getLogger(__name__)


def api_routes() -> list[HTTPRouteHandler]:
    """Every Better Stack endpoint the sandbox serves."""
    routes: list[HTTPRouteHandler] = []
    for spec in (*SPECS, LEGACY_POLICIES):
        routes += crud_routes(spec)
    routes += [listing_route(listing) for listing in LISTINGS]
    routes += [
        route("GET", "/api/v2/monitors/{monitor_id}/sla", monitor_sla),
        route("GET", "/api/v2/monitors/{monitor_id}/response-times", monitor_response_times),
        route("GET", "/api/v2/heartbeats/{heartbeat_id}/availability", heartbeat_availability),
    ]
    return (
        routes
        + incident_routes()
        + comment_routes()
        + on_call_routes()
        + metadata_routes()
        + team_routes()
        + maintenance_routes()
    )


def _api_error(request: Request[Any, Any, Any], exc: ApiError) -> Response[Any]:
    return json_response(exc.body, exc.status, exc.headers)


def _unknown_route(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    message = f"Endpoint {request.method} {request.url.path} does not exist."
    return json_response({"errors": message, "see_docs": SEE_DOCS}, 404)


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    return json_response({"errors": exc.detail}, exc.status_code)


def _crash(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    logger.exception("unhandled error method=%s path=%s", request.method, request.url.path)
    return json_response({"errors": "Internal server error"}, 500)


def create_app(config: SandboxConfig) -> Litestar:
    """Build the sandbox app; its state (store, knobs) lives on ``app.state.sandbox``."""
    state = SandboxState(config=config, knobs=Knobs.from_config(config))
    reset_state(state)
    api = Router(path="/", route_handlers=api_routes(), middleware=[ApiGate])
    admin = Router(path="/", route_handlers=admin_routes())
    app = Litestar(
        route_handlers=[api, admin],
        exception_handlers={
            ApiError: _api_error,
            NotFoundException: _unknown_route,
            MethodNotAllowedException: _unknown_route,
            HTTPException: _http_error,
            Exception: _crash,
        },
        openapi_config=None,
        logging_config=None,
    )
    app.state.sandbox = state
    return app


def app_from_env() -> Litestar:
    """Factory for Granian: logging from ``STACKMCP_LOG_*``, the app from ``STACKMCP_SANDBOX_*``."""
    configure_logging(load_section(LogConfig, "LOG"), "stackmcp-sandbox")
    return create_app(load_section(SandboxConfig, "SANDBOX"))
