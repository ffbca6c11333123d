"""``http.server.request.duration`` for the admin API and the console, as an ASGI wrapper.

It wraps the whole Litestar application, so requests Litestar refuses before any handler runs
(404, 405) are measured too. The route is the template Litestar matched
(``/integrated-account/{account_id}/mcp``), never the path: paths hold ids; an unmatched request
has no ``http.route``.
"""

from __future__ import annotations

import time

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from opentelemetry import metrics
from opentelemetry.metrics import Histogram

__all__ = ["instrument_http"]

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_duration = metrics.get_meter("stackmcp.provisioning").create_histogram(
    "http.server.request.duration", unit="s", description="Duration of HTTP server requests"
)


def instrument_http(app: ASGIApp, histogram: Histogram | None = None) -> ASGIApp:
    """``app`` with each HTTP request's duration recorded in ``histogram`` (the global
    instrument by default)."""
    record = histogram or _duration

    async def measured(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]  # what is recorded when the app fails before it answers

        async def send_watched(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await app(scope, receive, send_watched)
        finally:
            record.record(time.perf_counter() - started, _attributes(scope, status[0]))

    return measured


def _attributes(scope: Scope, status: int) -> dict[str, str | int]:
    method = str(scope.get("method", ""))
    attributes: dict[str, str | int] = {
        "http.request.method": method if method in _METHODS else "_OTHER",
        "http.response.status_code": status,
    }
    route = scope.get("path_template")
    if route:  # Litestar matched a route; the template names its parameters, not their values
        attributes["http.route"] = str(route)
    return attributes
