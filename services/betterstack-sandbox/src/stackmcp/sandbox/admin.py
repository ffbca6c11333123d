"""The admin API outside ``/api``: health, knobs and reset. Knobs never apply here."""

from __future__ import annotations

import dataclasses
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.handlers import HTTPRouteHandler

from stackmcp.sandbox.envelope import json_response, read_body
from stackmcp.sandbox.errors import UNAUTHORIZED, ApiError
from stackmcp.sandbox.gate import bearer_token
from stackmcp.sandbox.knobs import validate_patch
from stackmcp.sandbox.routing import route
from stackmcp.sandbox.seed import load_seed
from stackmcp.sandbox.state import SandboxState, state_of

__all__ = ["admin_routes", "reset_state"]


def _authorised(request: Request[Any, Any, Any]) -> SandboxState:
    state = state_of(request)
    if bearer_token(request.scope) not in state.tokens:
        raise ApiError(401, UNAUTHORIZED)
    return state


def reset_state(state: SandboxState) -> None:
    """Empty the store, reload the seed if configured, refill the bucket."""
    state.store.clear()
    if state.config.seed:
        load_seed(state)
    state.bucket.reset()
    state.injector.reset()
    state.requests.clear()


async def healthz(request: Request[Any, Any, Any]) -> Response[Any]:
    """``GET /_sandbox/healthz``: no auth, no knobs."""
    return json_response({"status": "ok"})


async def get_knobs(request: Request[Any, Any, Any]) -> Response[Any]:
    """``GET /_sandbox/knobs``."""
    return json_response(msgspec.to_builtins(_authorised(request).knobs))


async def patch_knobs(request: Request[Any, Any, Any]) -> Response[Any]:
    """``PATCH /_sandbox/knobs``: change any knob; 422 with field errors on bad values."""
    state = _authorised(request)
    knobs, errors = validate_patch(await read_body(request), state.knobs)
    if knobs is None:
        raise ApiError(422, errors)
    state.knobs = knobs
    state.bucket.reset()
    state.injector.reset()
    return json_response(msgspec.to_builtins(knobs))


async def requests_seen(request: Request[Any, Any, Any]) -> Response[Any]:
    """``GET /_sandbox/requests``: the recent API requests, oldest first (cleared on reset)."""
    log = [dataclasses.asdict(r) for r in _authorised(request).requests]
    return json_response({"count": len(log), "requests": log})


async def reset(request: Request[Any, Any, Any]) -> Response[Any]:
    """``POST /_sandbox/reset``: reload the seed data (knobs are kept)."""
    state = _authorised(request)
    reset_state(state)
    return json_response(
        {"status": "reset", "tables": {k: len(v) for k, v in sorted(state.store.tables.items())}}
    )


def admin_routes() -> list[HTTPRouteHandler]:
    """Handlers of the admin API."""
    return [
        route("GET", "/_sandbox/healthz", healthz),
        route("GET", "/_sandbox/knobs", get_knobs),
        route("PATCH", "/_sandbox/knobs", patch_knobs),
        route("GET", "/_sandbox/requests", requests_seen),
        route("POST", "/_sandbox/reset", reset),
    ]
