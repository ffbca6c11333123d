"""A direct path for the request that matters: ``POST /mcp/<token>``.

Litestar serves every route. This bare ASGI callable sits in front of it and answers the
common MCP POST itself, with the answer the Litestar route gives, when nothing about the
request needs more than the core:

* no ``Origin`` header (a browser's request needs CORS and the Origin allow-list);
* a ``Content-Length`` within the body limit (anything else is Litestar's 413 or chunked read);
* the URL's grant already in this replica's cache (a miss, a refusal or an ended server goes
  through Litestar, which loads, records and answers it), and its second factor accepted;
* no confirmation can be asked on the way (a server with confirmations, a session and a client
  reading ``text/event-stream``: that answer may become a stream).

Everything else is handed to Litestar untouched, the body unread. Litestar's middleware,
routing, request and response objects were about a third of the gateway's CPU per call
(``bench/README.md``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import propagate
from opentelemetry.trace import SpanKind

from stackmcp.contracts.grants import Grant
from stackmcp.contracts.tokens import hash_token
from stackmcp.gateway import metrics
from stackmcp.gateway.core import Inbound, Reply, error_reply
from stackmcp.gateway.http import JSON, SSE_HEADERS, McpTransport, sse_only
from stackmcp.gateway.jsonrpc import INVALID_REQUEST, RpcError, parse_message
from stackmcp.runtime.errors import StackmcpError
from stackmcp.runtime.logging import bind_server
from stackmcp.runtime.telemetry import tracer

__all__ = ["FastMcpPost"]

logger = logging.getLogger(__name__)
_tracer = tracer(__name__)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Asgi = Callable[..., Awaitable[None]]
"""An ASGI application (Litestar's own, stricter, signature included)."""

_PATH = re.compile(r"/mcp/(?P<token>[^/]+)(?P<alias>/mcp)?")
_ROUTES = {False: "/mcp/{token}", True: "/mcp/{token}/mcp"}
_INTERNAL = b'{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"Internal error"}}'
_JSON_HEADERS = [(b"content-type", JSON.encode())]
_SSE_HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8")] + [
    (k.lower().encode(), v.encode()) for k, v in SSE_HEADERS.items()
]


class _ClientGone(Exception):
    """The client disconnected before its body arrived."""


class FastMcpPost:
    """ASGI: answer eligible ``POST /mcp/<token>`` requests directly, pass the rest to ``app``.

    Args:
        app: the Litestar application (serves everything else, and every refusal).
        transport: the same :class:`~stackmcp.gateway.http.McpTransport` the routes use.
        max_body_bytes: the body limit Litestar enforces (larger bodies go to it for the 413).
    """

    def __init__(self, app: Asgi, transport: McpTransport, *, max_body_bytes: int) -> None:
        self.app = app
        self._transport = transport
        self._max_body = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection scope."""
        if scope["type"] == "http" and scope["method"] == "POST":
            match = _PATH.fullmatch(scope["path"])
            if match is not None:
                headers = _headers(scope["headers"])
                eligible = await self._eligible(match["token"], headers)
                if eligible is not None:
                    route = _ROUTES[match["alias"] is not None]
                    await self._post(receive, send, match["token"], headers, eligible, route=route)
                    return
        await self.app(scope, receive, send)

    async def _eligible(self, token: str, headers: Mapping[str, str]) -> tuple[Grant, int] | None:
        """The grant and body length when this request may take the direct path."""
        raw_length = headers.get("content-length", "")
        if "origin" in headers or not raw_length.isdigit() or int(raw_length) > self._max_body:
            return None
        transport = self._transport
        grant = transport.grants.cached(token)
        if grant is None:
            return None
        if (
            grant.confirm != "none"
            and "mcp-session-id" in headers
            and "text/event-stream" in headers.get("accept", "")
        ):
            return None
        if grant.require_api_token_auth:
            try:
                if transport.second_factor is not None:
                    await transport.second_factor.check(grant, token, headers)
                else:
                    await transport.grants.check_api_token(headers.get("authorization"))
            except StackmcpError:
                return None  # Litestar's route refuses it, records the refusal and says why
        return grant, int(raw_length)

    async def _post(
        self,
        receive: Receive,
        send: Send,
        token: str,
        headers: Mapping[str, str],
        eligible: tuple[Grant, int],
        *,
        route: str,
    ) -> None:
        grant, length = eligible
        bind_server(grant.server_id)
        with _server_span(headers, route) as status:
            try:
                reply = await self._reply(receive, token, headers, length, grant)
            except _ClientGone:
                status[0] = 499
                return
            except Exception:
                logger.exception("unhandled error on POST %s", route)
                status[0] = 500
                await _send(send, 500, _JSON_HEADERS, _INTERNAL)
                return
            status[0] = reply.status
            await _answer(send, reply, headers.get("accept", ""))

    async def _reply(
        self, receive: Receive, token: str, headers: Mapping[str, str], length: int, grant: Grant
    ) -> Reply:
        transport = self._transport
        try:
            async with asyncio.timeout(transport.body_timeout):
                body = await _body(receive, length)
        except TimeoutError:
            logger.info("refused a request whose body did not arrive in time")
            error = RpcError(INVALID_REQUEST, "Request body not received in time", status=408)
            return error_reply(None, error)
        try:
            message = parse_message(body)
        except RpcError as error:
            return error_reply(None, error)
        inbound = Inbound(
            grant=grant,
            token_hash=hash_token(token),
            message=message,
            headers=headers,
            traced="traceparent" in headers,
            outbox=None,
        )
        return await transport.core.post(inbound)


def _headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Request headers by lower-case name (the first of repeated ones, as Litestar's ``get``)."""
    headers: dict[str, str] = {}
    for name, value in raw:
        key = name.decode("latin-1").lower()
        if key not in headers:
            headers[key] = value.decode("latin-1")
    return headers


async def _body(receive: Receive, length: int) -> bytes:
    """The request body (``length`` bytes as declared; the server enforces the framing)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _answer(send: Send, reply: Reply, accept: str) -> None:
    """Send ``reply`` as JSON, or as one SSE event to a client that reads only SSE."""
    extra = [(k.lower().encode(), v.encode()) for k, v in reply.headers.items()]
    if reply.rpc and reply.status == 200 and sse_only(accept):
        event = b"event: message\ndata: " + reply.body + b"\n\n"
        await _send(send, 200, _SSE_HEADERS + extra, event)
    else:
        await _send(send, reply.status, _JSON_HEADERS + extra, reply.body)


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


@contextmanager
def _server_span(headers: Mapping[str, str], route: str) -> Iterator[list[int]]:
    """The request's server span and its ``http.server.request.duration`` (as the Litestar
    route records them); yields a one-item list the caller sets the status in."""
    started = time.perf_counter()
    status = [500]
    with _tracer.start_as_current_span(
        f"POST {route}",
        context=propagate.extract(headers),
        kind=SpanKind.SERVER,
        attributes={"http.request.method": "POST", "http.route": route},
    ) as span:
        try:
            yield status
        finally:
            span.set_attribute("http.response.status_code", status[0])
            metrics.http_request("POST", route, status[0], time.perf_counter() - started)
