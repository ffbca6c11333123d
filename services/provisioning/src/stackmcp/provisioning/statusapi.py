"""``GET /status``: what an on-call engineer looks at first (admin auth).

One query parameter, ``minutes`` (1-60, default 5): how far back the tool-call figures go. Any
other parameter is refused with a 400 saying what to send.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Request, get
from litestar.handlers import HTTPRouteHandler

from stackmcp.provisioning.status import StatusReader, StatusView
from stackmcp.runtime.errors import InvalidArgument, Unavailable

__all__ = ["DEFAULT_MINUTES", "MAX_MINUTES", "status_query_parameters", "status_route"]

AnyRequest = Request[Any, Any, Any]
Guard = Callable[..., Any]

DEFAULT_MINUTES = 5
"""Minutes of tool calls counted when ``minutes`` is not given."""
MAX_MINUTES = 60
"""Most minutes one answer counts."""


def status_query_parameters() -> list[dict[str, Any]]:
    """The OpenAPI description of the query parameters."""
    return [
        {
            "name": "minutes",
            "in": "query",
            "required": False,
            "description": f"Minutes of tool calls counted (1-{MAX_MINUTES})",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_MINUTES,
                       "default": DEFAULT_MINUTES},
        }
    ]  # fmt: skip


async def read_status(request: AnyRequest) -> StatusView:
    """The services that answered, the recent tool calls and the expiry schedule's size."""
    reader: StatusReader | None = getattr(request.app.state, "status", None)
    if reader is None:
        raise Unavailable("the status is not available on this replica")
    return await reader.report(_minutes(request))


def status_route(guard: Guard) -> HTTPRouteHandler:
    """The ``GET /status`` handler behind ``guard`` (the admin API's admin guard)."""
    return get("/status", guards=[guard])(read_status)


def _minutes(request: AnyRequest) -> int:
    values = list(request.query_params.multi_items())
    unknown = [name for name, _ in values if name != "minutes"]
    if unknown:
        raise InvalidArgument(f"unknown query parameter {unknown[0][:40]!r}; use minutes")
    if len(values) > 1:
        raise InvalidArgument("minutes is given more than once; give it once")
    if not values:
        return DEFAULT_MINUTES
    text = values[0][1]
    if not (text.isascii() and text.isdigit() and len(text) <= 2) or not (
        1 <= int(text) <= MAX_MINUTES
    ):
        raise InvalidArgument(f"minutes must be a whole number from 1 to {MAX_MINUTES}")
    return int(text)
