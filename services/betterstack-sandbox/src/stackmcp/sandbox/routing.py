"""Turning ``(method, path, coroutine)`` triples into Litestar route handlers."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Request, Response
from litestar.enums import HttpMethod
from litestar.handlers import HTTPRouteHandler

__all__ = ["Endpoint", "litestar_path", "route"]

Endpoint = Callable[[Request[Any, Any, Any]], Awaitable[Response[Any]]]

_PARAM = re.compile(r"\{(\w+)\}")
_NON_WORD = re.compile(r"\W+")


def litestar_path(path: str) -> str:
    """``/api/v2/monitors/{monitor_id}`` → ``/api/v2/monitors/{monitor_id:str}``."""
    return _PARAM.sub(r"{\1:str}", path)


def route(method: str, path: str, endpoint: Endpoint) -> HTTPRouteHandler:
    """A Litestar handler for one endpoint; the endpoint sets its own status code."""

    async def handler(request: Request[Any, Any, Any]) -> Response[Any]:
        return await endpoint(request)

    slug = _NON_WORD.sub("_", path).strip("_")
    handler.__name__ = f"{method.lower()}_{slug}"
    return HTTPRouteHandler(
        path=litestar_path(path), http_method=HttpMethod(method), status_code=200
    )(handler)
