"""MCP over HTTP: Streamable HTTP (2025-03-26 … 2025-11-25 with sessions, 2026-07-28 stateless)
at ``/mcp/{token}``, and the 2024-11-05 HTTP+SSE transport at ``/mcp/{token}/sse``.

Every request passes the same gate first: Origin allow-list (403), the URL token resolved to a
grant (404, identical for unknown, revoked and expired tokens), the API-token second factor
where the grant requires it (401). The era is chosen by the ``MCP-Protocol-Version`` header:
absent or a handshake revision → the session era; anything else → the stateless era, whose
validation ladder answers unknown versions with ``-32022``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from litestar import Request, Response, Router, delete, get, post
from litestar.response import Stream
from nats.aio.client import Client
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from stackmcp.contracts.grants import Grant
from stackmcp.contracts.subjects import Subjects
from stackmcp.contracts.tokens import hash_token
from stackmcp.gateway.grants import GrantResolver
from stackmcp.gateway.jsonrpc import (
    HEADER_MISMATCH,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    UNSUPPORTED_PROTOCOL_VERSION,
    Message,
    RpcError,
    encode_error,
    encode_result,
    parse_message,
)
from stackmcp.gateway.mcp import CallContext, McpMethods
from stackmcp.gateway.sessions import Session, SessionStore
from stackmcp.gateway.versions import HANDSHAKE_VERSIONS, MODERN_VERSIONS
from stackmcp.runtime.errors import NotFound, StackmcpError, Unauthenticated, Unavailable
from stackmcp.runtime.telemetry import tracer

__all__ = ["McpTransport", "mcp_router"]

logger = logging.getLogger(__name__)
_tracer = tracer(__name__)

JSON = "application/json"
SSE_HEADERS = {"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"}
NAME_BEARING = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
PROTOCOL_META = "io.modelcontextprotocol/protocolVersion"
CAPABILITIES_META = "io.modelcontextprotocol/clientCapabilities"
_STATUS = {-32700: 400, -32600: 400, -32602: 400, -32020: 400, -32021: 400, -32022: 400}
_NOT_FOUND = b'{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Not found"}}'
_LOCAL_ORIGINS = ("http://localhost", "http://127.0.0.1", "https://localhost", "http://[::1]")


@dataclass
class McpTransport:
    """Everything the HTTP handlers need (kept on ``app.state.mcp``)."""

    methods: McpMethods
    grants: GrantResolver
    sessions: SessionStore
    nc: Client
    subjects: Subjects
    allowed_origins: tuple[str, ...]
    keepalive: float
    public_url: str = ""
    in_flight: dict[tuple[str, Any], asyncio.Task[bytes]] = field(default_factory=dict)
    """Session-era calls running on this replica, by (session id, request id), for cancels."""


def _state(request: Request[Any, Any, Any]) -> McpTransport:
    transport: McpTransport = request.app.state.mcp
    return transport


# --------------------------------------------------------------------------- responses


def _json(
    body: bytes, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response[Any]:
    return Response(content=body, status_code=status, media_type=JSON, headers=dict(headers or {}))


def _rpc_error(request_id: Any, error: RpcError, default_status: int = 200) -> Response[Any]:
    status = error.status or _STATUS.get(error.code, default_status)
    return _json(encode_error(request_id, error), status)


def _accepted() -> Response[Any]:
    return Response(content=b"", status_code=202)


def _sse_once(payload: bytes, headers: Mapping[str, str]) -> Stream:
    async def events() -> AsyncIterator[bytes]:
        yield b"event: message\ndata: " + payload + b"\n\n"

    return Stream(events(), media_type="text/event-stream", headers={**SSE_HEADERS, **headers})


def _reply(
    request: Request[Any, Any, Any], payload: bytes, headers: Mapping[str, str]
) -> Response[Any]:
    accept = request.headers.get("accept", "")
    if "text/event-stream" in accept and JSON not in accept and "*/*" not in accept:
        return _sse_once(payload, headers)
    return _json(payload, 200, headers)


# --------------------------------------------------------------------------- the gate


class _Refused(Exception):
    def __init__(self, response: Response[Any]) -> None:
        super().__init__("refused")
        self.response = response


async def _gate(request: Request[Any, Any, Any], token: str) -> Grant:
    transport = _state(request)
    origin = request.headers.get("origin")
    if origin is not None and not _origin_allowed(origin, transport.allowed_origins):
        raise _Refused(Response(content=b"Forbidden: Origin not allowed", status_code=403))
    try:
        grant = await transport.grants.resolve(token)
        if grant.require_api_token_auth:
            await transport.grants.check_api_token(request.headers.get("authorization"))
    except NotFound:
        raise _Refused(_json(_NOT_FOUND, 404)) from None
    except Unauthenticated as exc:
        body = encode_error(None, RpcError(INVALID_REQUEST, exc.message))
        headers = {"WWW-Authenticate": 'Bearer realm="stackmcp", error="invalid_token"'}
        raise _Refused(_json(body, 401, headers)) from None
    except Unavailable:
        body = encode_error(None, RpcError(INTERNAL_ERROR, "temporarily unavailable"))
        raise _Refused(_json(body, 503, {"Retry-After": "1"})) from None
    return grant


def _origin_allowed(origin: str, allowed: tuple[str, ...]) -> bool:
    if allowed:
        return origin in allowed or "*" in allowed
    return any(origin == o or origin.startswith(o + ":") for o in _LOCAL_ORIGINS)


@contextlib.contextmanager
def _server_span(request: Request[Any, Any, Any], route: str) -> Iterator[trace.Span]:
    context = propagate.extract(dict(request.headers))
    with _tracer.start_as_current_span(
        f"{request.method} {route}",
        context=context,
        kind=SpanKind.SERVER,
        attributes={"http.request.method": request.method, "http.route": route},
    ) as span:
        yield span


@contextlib.contextmanager
def _mcp_span(
    message: Message, session_id: str | None, version: str, *, has_header_context: bool = True
) -> Iterator[trace.Span]:
    target = ""
    if message.method == "tools/call" and isinstance((message.params or {}).get("name"), str):
        target = " " + str((message.params or {})["name"])[:128]
    attributes: dict[str, Any] = {
        "mcp.method.name": message.method or "",
        "mcp.protocol.version": version,
    }
    if session_id:
        attributes["mcp.session.id"] = session_id
    if message.id is not None:
        attributes["jsonrpc.request.id"] = str(message.id)
    context = _meta_context(message) if not has_header_context else None
    with _tracer.start_as_current_span(
        f"{message.method}{target}", context=context, attributes=attributes
    ) as span:
        yield span


def _meta_context(message: Message) -> Any:
    """The trace context carried in ``params._meta`` (used when no HTTP header carried one)."""
    meta = (message.params or {}).get("_meta")
    if isinstance(meta, dict) and isinstance(meta.get("traceparent"), str):
        return propagate.extract({"traceparent": meta["traceparent"]})
    return None


# --------------------------------------------------------------------------- Streamable HTTP


async def _read(request: Request[Any, Any, Any]) -> Message:
    return parse_message(await request.body())


@post("/mcp/{token:str}", status_code=200, name="mcp-post")
async def mcp_post(request: Request[Any, Any, Any], token: str) -> Response[Any]:
    """POST: one JSON-RPC message, either era."""
    with _server_span(request, "/mcp/{token}") as span:
        try:
            grant = await _gate(request, token)
            message = await _read(request)
        except _Refused as refused:
            span.set_attribute("http.response.status_code", refused.response.status_code)
            return refused.response
        except RpcError as error:
            return _rpc_error(None, error, 400)
        version = request.headers.get("mcp-protocol-version")
        if version is not None and version not in HANDSHAKE_VERSIONS:
            return await _modern(request, grant, message, version)
        return await _legacy(request, token, grant, message)


async def _modern(
    request: Request[Any, Any, Any], grant: Grant, message: Message, header_version: str
) -> Response[Any]:
    transport = _state(request)
    try:
        version = _modern_envelope(request, message, header_version)
    except RpcError as error:
        return _rpc_error(message.id, error)
    if not message.is_request:
        return _accepted()
    ctx = CallContext(grant=grant, modern=True, protocol_version=version)
    traced = "traceparent" in request.headers
    with _mcp_span(message, None, version, has_header_context=traced) as span:
        try:
            result = await transport.methods.dispatch(message.method or "", message.params, ctx)
        except RpcError as error:
            span.set_status(Status(StatusCode.ERROR, str(error.code)))
            return _rpc_error(message.id, error)
        except StackmcpError as exc:
            return _rpc_error(message.id, _internal(exc))
    return _reply(request, encode_result(message.id, result), ctx.headers)


def _modern_envelope(request: Request[Any, Any, Any], message: Message, header_version: str) -> str:
    """Check the 2026-07-28 per-request envelope; return the protocol version."""
    meta = (message.params or {}).get("_meta")
    if message.is_request:
        if not isinstance(meta, dict):
            raise RpcError(
                INVALID_PARAMS,
                f"params._meta must carry {PROTOCOL_META!r} and {CAPABILITIES_META!r}",
            )
        missing = [k for k in (PROTOCOL_META, CAPABILITIES_META) if k not in meta]
        if missing:
            raise RpcError(INVALID_PARAMS, f"params._meta is missing: {', '.join(missing)}")
        if meta[PROTOCOL_META] != header_version:
            raise RpcError(
                HEADER_MISMATCH, "MCP-Protocol-Version header does not match params._meta"
            )
    if request.headers.get("mcp-method") != message.method:
        raise RpcError(HEADER_MISMATCH, "Mcp-Method header does not match the body's method")
    name_key = NAME_BEARING.get(message.method or "")
    if name_key is not None:
        body_name = (message.params or {}).get(name_key)
        if body_name is not None and _decode_header(request.headers.get("mcp-name")) != body_name:
            raise RpcError(HEADER_MISMATCH, f"Mcp-Name header does not match the body's {name_key}")
    if header_version not in MODERN_VERSIONS:
        raise RpcError(
            UNSUPPORTED_PROTOCOL_VERSION,
            f"Unsupported protocol version: {header_version[:40]}",
            {"supported": [*MODERN_VERSIONS, *HANDSHAKE_VERSIONS], "requested": header_version},
        )
    return header_version


def _decode_header(value: str | None) -> str | None:
    if value is None or not (value.startswith("=?base64?") and value.endswith("?=")):
        return value
    try:
        return base64.b64decode(value[9:-2], validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None


async def _legacy(
    request: Request[Any, Any, Any], token: str, grant: Grant, message: Message
) -> Response[Any]:
    transport = _state(request)
    if message.method == "initialize" and message.is_request:
        version, result = transport.methods.initialize(message.params)
        created = await transport.sessions.create(hash_token(token), version, "streamable")
        headers = {"Mcp-Session-Id": created.id}
        with _mcp_span(message, created.id, version):
            return _reply(request, encode_result(message.id, result), headers)
    session_id = request.headers.get("mcp-session-id")
    if not session_id:
        error = RpcError(INVALID_REQUEST, "Bad Request: Mcp-Session-Id header is required")
        return _rpc_error(message.id, error, 400)
    session = await transport.sessions.get(session_id, hash_token(token))
    if session is None:
        return _rpc_error(message.id, RpcError(INVALID_REQUEST, "Session not found", status=404))
    payload = await answer_legacy(transport, grant, session, message)
    if payload is None:
        return _accepted()
    return _reply(request, payload, {"Mcp-Session-Id": session.id})


async def answer_legacy(
    transport: McpTransport, grant: Grant, session: Session, message: Message
) -> bytes | None:
    """Answer one session-era message (also used by the HTTP+SSE transport); ``None`` for
    notifications and responses."""
    if not message.is_request:
        if message.method == "notifications/cancelled":
            _cancel(transport, session.id, (message.params or {}).get("requestId"))
        return None
    ctx = CallContext(grant=grant, modern=False, protocol_version=session.protocol_version)
    ctx.session_id = session.id
    if message.method == "initialize":
        _, result = transport.methods.initialize(message.params)
        return encode_result(message.id, result)
    with _mcp_span(message, session.id, session.protocol_version) as span:
        task = asyncio.create_task(
            transport.methods.dispatch(message.method or "", message.params, ctx)
        )
        key = (session.id, message.id)
        transport.in_flight[key] = task
        try:
            result = await task
        except asyncio.CancelledError:
            if task.cancelled() and not _current_cancelling():
                error = RpcError(-32800, "Request cancelled")
                return encode_error(message.id, error)
            raise
        except RpcError as error:
            span.set_status(Status(StatusCode.ERROR, str(error.code)))
            return encode_error(message.id, error)
        except StackmcpError as exc:
            return encode_error(message.id, _internal(exc))
        finally:
            transport.in_flight.pop(key, None)
    return encode_result(message.id, result)


def _current_cancelling() -> bool:
    current = asyncio.current_task()
    return bool(current is not None and current.cancelling())


def _cancel(transport: McpTransport, session_id: str, request_id: Any) -> None:
    task = transport.in_flight.get((session_id, request_id))
    if task is not None:
        task.cancel()


def _internal(exc: StackmcpError) -> RpcError:
    if isinstance(exc, Unavailable):
        return RpcError(INTERNAL_ERROR, "Temporarily unavailable; try again shortly")
    logger.warning("request failed: %s", exc.code)
    return RpcError(INTERNAL_ERROR, "Internal error")


@get("/mcp/{token:str}", name="mcp-get")
async def mcp_get(request: Request[Any, Any, Any], token: str) -> Response[Any]:
    """GET: no server-initiated stream is offered (the gateway sends no unsolicited messages)."""
    with _server_span(request, "/mcp/{token}"):
        try:
            await _gate(request, token)
        except _Refused as refused:
            return refused.response
        version = request.headers.get("mcp-protocol-version")
        allow = "POST" if version and version not in HANDSHAKE_VERSIONS else "POST, DELETE"
        return Response(content=b"", status_code=405, headers={"Allow": allow})


@delete("/mcp/{token:str}", status_code=200, name="mcp-delete")
async def mcp_delete(request: Request[Any, Any, Any], token: str) -> Response[Any]:
    """DELETE: end the session named by ``Mcp-Session-Id``."""
    with _server_span(request, "/mcp/{token}"):
        try:
            await _gate(request, token)
        except _Refused as refused:
            return refused.response
        version = request.headers.get("mcp-protocol-version")
        if version and version not in HANDSHAKE_VERSIONS:
            return Response(content=b"", status_code=405, headers={"Allow": "POST"})
        transport = _state(request)
        session_id = request.headers.get("mcp-session-id")
        if not session_id:
            error = RpcError(INVALID_REQUEST, "Bad Request: Mcp-Session-Id header is required")
            return _rpc_error(None, error, 400)
        session = await transport.sessions.get(session_id, hash_token(token))
        if session is None:
            return _rpc_error(None, RpcError(INVALID_REQUEST, "Session not found", status=404))
        await transport.sessions.end(session)
        return Response(content=b"", status_code=200)


# --------------------------------------------------------------------------- 2024-11-05 HTTP+SSE


@get("/mcp/{token:str}/sse", name="mcp-sse")
async def sse_open(request: Request[Any, Any, Any], token: str) -> Response[Any]:
    """Open an HTTP+SSE session: announce the messages URL, then relay replies from NATS."""
    try:
        await _gate(request, token)
    except _Refused as refused:
        return refused.response
    transport = _state(request)
    session = await transport.sessions.create(hash_token(token), "2024-11-05", "sse")
    queue: asyncio.Queue[bytes] = asyncio.Queue()

    async def relay(msg: Any) -> None:
        await queue.put(msg.data)

    subscription = await transport.nc.subscribe(
        transport.subjects.gateway_session(session.id), cb=relay
    )
    await transport.nc.flush()
    endpoint = f"{transport.public_url.rstrip('/')}/mcp/{token}/messages?session_id={session.id}"

    async def events() -> AsyncIterator[bytes]:
        try:
            yield b"event: endpoint\ndata: " + endpoint.encode() + b"\n\n"
            while True:
                try:
                    payload = await asyncio.wait_for(queue.get(), transport.keepalive)
                except TimeoutError:
                    yield b": keepalive\n\n"
                    continue
                yield b"event: message\ndata: " + payload + b"\n\n"
        finally:
            await subscription.unsubscribe()
            with contextlib.suppress(StackmcpError):
                await transport.sessions.end(session)

    return Stream(events(), media_type="text/event-stream", headers=SSE_HEADERS)


@post("/mcp/{token:str}/messages", status_code=202, name="mcp-sse-messages")
async def sse_message(request: Request[Any, Any, Any], token: str) -> Response[Any]:
    """A client message for an HTTP+SSE session; the reply goes out on that session's stream,
    through NATS, whichever replica holds it."""
    with _server_span(request, "/mcp/{token}/messages"):
        try:
            grant = await _gate(request, token)
            message = await _read(request)
        except _Refused as refused:
            return refused.response
        except RpcError as error:
            return _rpc_error(None, error, 400)
        transport = _state(request)
        session_id = request.query_params.get("session_id") or ""
        session = await transport.sessions.get(session_id, hash_token(token))
        if session is None or session.transport != "sse":
            return _rpc_error(
                message.id, RpcError(INVALID_REQUEST, "Session not found", status=404)
            )
        payload = await answer_legacy(transport, grant, session, message)
        if payload is not None:
            await transport.nc.publish(transport.subjects.gateway_session(session.id), payload)
        return Response(content=b"Accepted", status_code=202)


def mcp_router() -> Router:
    """Every MCP route."""
    return Router(
        path="/",
        route_handlers=[mcp_post, mcp_get, mcp_delete, sse_open, sse_message],
    )
