"""MCP over HTTP: the thin adapter around :class:`~stackmcp.gateway.core.McpCore`.

Routes: ``/mcp/{token}`` (Streamable HTTP, every era; ``/mcp/{token}/mcp`` is an alias) and the
2024-11-05 HTTP+SSE transport at ``/mcp/{token}/sse`` + ``/mcp/{token}/messages``. A GET on the
MCP URL opens a session's stream with ``Mcp-Session-Id``, and the HTTP+SSE stream without one
(for a client reading ``text/event-stream``), so every client can be given the one URL. Streams
are registered with :class:`~stackmcp.gateway.streams.Streams`, which tells them of list
changes. This module does only HTTP: the gate (Origin
allow-list → 403; the URL token resolved to a grant → 404, identical for unknown, revoked and
expired tokens; the API-token second factor → 401; Redis away → 503), reading the body within
``body_timeout`` (408), and turning the core's :class:`~stackmcp.gateway.core.Reply` into a
response, framed as one SSE event when the client accepts only ``text/event-stream``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from litestar import Request, Response, Router, delete, get, post
from litestar.exceptions import HTTPException
from litestar.params import FromPath
from litestar.response import Stream
from nats.aio.client import Client
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind

from stackmcp.contracts.audit import RefusalCode
from stackmcp.contracts.grants import Grant
from stackmcp.contracts.subjects import Subjects
from stackmcp.contracts.tokens import hash_token
from stackmcp.gateway import metrics
from stackmcp.gateway.audit import (
    NO_CLIENT,
    AuditTrail,
    ClientInfo,
    client_info,
    meta_client_info,
)
from stackmcp.gateway.confirm import Outbox
from stackmcp.gateway.core import Inbound, McpCore, Reply, error_reply, unavailable
from stackmcp.gateway.eras import era_of
from stackmcp.gateway.grants import EndedServer, GrantResolver, api_token_refusal
from stackmcp.gateway.jsonrpc import INVALID_REQUEST, Message, RpcError, encode_error, parse_message
from stackmcp.gateway.oauth.guard import SecondFactor, base_url, challenge, refusal_message
from stackmcp.gateway.sessions import Session
from stackmcp.runtime.errors import NotFound, StackmcpError, Unauthenticated, Unavailable
from stackmcp.runtime.logging import bind_server
from stackmcp.runtime.telemetry import tracer

__all__ = ["JSON", "SSE_HEADERS", "McpTransport", "mcp_router", "sse_only"]

logger = logging.getLogger(__name__)
_tracer = tracer(__name__)

JSON = "application/json"
SSE_HEADERS = {"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"}
_NOT_FOUND = b'{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Not found"}}'
_PARAM_TYPE = re.compile(r":\w+}")
_LOCAL_ORIGINS = ("http://localhost", "http://127.0.0.1", "https://localhost", "http://[::1]")


@dataclass
class McpTransport:
    """Everything the HTTP handlers need (kept on ``app.state.mcp``)."""

    core: McpCore
    grants: GrantResolver
    nc: Client
    subjects: Subjects
    allowed_origins: tuple[str, ...]
    keepalive: float
    public_url: str = ""
    body_timeout: float = 10.0
    max_sse_streams: int = 20
    """Open SSE streams one MCP server may hold on this replica."""
    sse_streams: dict[str, int] = field(default_factory=dict)
    """Open SSE streams on this replica, by MCP server id."""
    audit: AuditTrail | None = None
    """Where refusals of known servers are recorded (default: the MCP methods' trail)."""
    second_factor: SecondFactor | None = None
    """Checks API tokens and OAuth access tokens (``None``: ``Authorization: Bearer <API
    token>`` only)."""

    def __post_init__(self) -> None:
        if self.audit is None:
            self.audit = self.core.methods.audit

    @property
    def trail(self) -> AuditTrail:
        """The audit trail refusals go to."""
        assert self.audit is not None
        return self.audit


def _state(request: Request[Any, Any, Any]) -> McpTransport:
    transport: McpTransport = request.app.state.mcp
    return transport


# --------------------------------------------------------------------------- responses


def _json(
    body: bytes, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response[Any]:
    return Response(content=body, status_code=status, media_type=JSON, headers=dict(headers or {}))


def _respond(request: Request[Any, Any, Any], reply: Reply) -> Response[Any]:
    """A :class:`Reply` as JSON, or as one SSE event for clients that accept only SSE."""
    if not reply.rpc:
        return Response(content=reply.body, status_code=reply.status, headers=dict(reply.headers))
    if reply.status == 200 and sse_only(request.headers.get("accept", "")):
        return _sse_once(reply.body, reply.headers)
    return _json(reply.body, reply.status, reply.headers)


def sse_only(accept: str) -> bool:
    """Whether a client with this ``Accept`` reads ``text/event-stream`` and not JSON."""
    return "text/event-stream" in accept and JSON not in accept and "*/*" not in accept


def _sse_once(payload: bytes, headers: Mapping[str, str]) -> Stream:
    async def events() -> AsyncIterator[bytes]:
        yield b"event: message\ndata: " + payload + b"\n\n"

    return Stream(events(), media_type="text/event-stream", headers={**SSE_HEADERS, **headers})


# --------------------------------------------------------------------------- the gate


class _Refused(Exception):
    def __init__(self, response: Response[Any]) -> None:
        super().__init__("refused")
        self.response = response


async def _gate(request: Request[Any, Any, Any], token: str) -> Grant:
    transport = _state(request)
    started = transport.trail.monotonic()
    origin = request.headers.get("origin")
    if origin is not None and not _origin_allowed(origin, transport.allowed_origins):
        raise _Refused(Response(content=b"Forbidden: Origin not allowed", status_code=403))
    try:
        grant = await transport.grants.resolve(token)
        bind_server(grant.server_id)
        if grant.require_api_token_auth:
            try:
                if transport.second_factor is not None:
                    await transport.second_factor.check(grant, token, request.headers)
                else:
                    await transport.grants.check_api_token(request.headers.get("authorization"))
            except Unauthenticated as exc:
                await _record_refusal(request, token, grant, api_token_refusal(exc), started)
                raise
    except NotFound:
        ended = transport.grants.ended(token)
        if ended is not None:
            bind_server(ended.server_id)
            await _record_refusal(request, token, ended, ended.refusal, started)
        raise _Refused(_json(_NOT_FOUND, 404)) from None
    except Unauthenticated as exc:
        body = encode_error(None, RpcError(INVALID_REQUEST, refusal_message(exc)))
        headers = challenge(base_url(transport.public_url, request), token, exc)
        raise _Refused(_json(body, 401, headers)) from None
    except Unavailable:
        raise _Refused(_respond(request, unavailable())) from None
    return grant


async def _record_refusal(
    request: Request[Any, Any, Any],
    token: str,
    server: Grant | EndedServer,
    code: RefusalCode,
    started: float,
) -> None:
    """Record a refused request of a known server, with what its body and session say (read
    best-effort: nothing here changes the answer)."""
    transport = _state(request)
    if not transport.trail.enabled:
        return
    message = await _peek(request) if request.method == "POST" else None
    params = (message.params if message is not None else None) or {}
    method = message.method if message is not None and message.method else _route_of(request)
    calls = method == "tools/call"
    tool = params.get("name") if calls else None
    client = client_info(params.get("clientInfo")) if method == "initialize" else NO_CLIENT
    if client == NO_CLIENT:
        client = meta_client_info(params)
    version = request.headers.get("mcp-protocol-version")
    if method == "initialize" and isinstance(params.get("protocolVersion"), str):
        version = params["protocolVersion"][:32]
    session_id = request.headers.get("mcp-session-id") or request.query_params.get("session_id")
    session = await _session_of(transport, session_id, token)
    if session is not None:
        if client == NO_CLIENT:
            client = ClientInfo(session.client_name, session.client_version)
        version = version or session.protocol_version
    transport.trail.begin(
        account_id=server.account_id,
        server_id=server.server_id,
        server_name=server.name,
        method=method,
        tool=tool if isinstance(tool, str) else None,
        arguments=params.get("arguments") if calls else None,
        session_id=session.id if session is not None else None,
        client=client,
        protocol_version=version,
        started=started,
    ).refused(code)


async def _peek(request: Request[Any, Any, Any]) -> Message | None:
    """The request's JSON-RPC message if it arrives in time and parses, else ``None``."""
    try:
        async with asyncio.timeout(_state(request).body_timeout):
            return parse_message(await request.body())
    except (TimeoutError, HTTPException, RpcError):
        return None


async def _session_of(
    transport: McpTransport, session_id: str | None, token: str
) -> Session | None:
    if not session_id:
        return None
    try:
        return await transport.core.sessions.get(session_id, hash_token(token))
    except StackmcpError:
        return None


def _route_of(request: Request[Any, Any, Any]) -> str:
    """``GET /mcp/{token}/sse``-like: the route template, never the path (it holds the token)."""
    return f"{request.method} {_template(request)}"


def _template(request: Request[Any, Any, Any]) -> str:
    """The template of the route that matched (``/mcp/{token}/mcp``), never the path."""
    template = request.scope.get("path_template")
    if template:
        return _PARAM_TYPE.sub("}", template)
    return "?"


def _origin_allowed(origin: str, allowed: tuple[str, ...]) -> bool:
    if allowed:
        return origin in allowed or "*" in allowed
    return any(origin == o or origin.startswith(o + ":") for o in _LOCAL_ORIGINS)


async def _message(request: Request[Any, Any, Any]) -> Message:
    """The request's JSON-RPC message, read within the body timeout.

    Raises:
        _Refused: 408 when the body is not complete in time; a JSON-RPC error for a bad body.
    """
    try:
        async with asyncio.timeout(_state(request).body_timeout):  # no extra task, unlike wait_for
            body = await request.body()
    except TimeoutError:
        logger.info("refused a request whose body did not arrive in time")
        error = RpcError(INVALID_REQUEST, "Request body not received in time", status=408)
        raise _Refused(_respond(request, error_reply(None, error))) from None
    try:
        return parse_message(body)
    except RpcError as error:
        raise _Refused(_respond(request, error_reply(None, error))) from None


class _Served:
    """One HTTP request to an MCP route: its span and, once answered, its status."""

    __slots__ = ("span", "status")

    def __init__(self, span: trace.Span) -> None:
        self.span = span
        self.status = 500

    def finish(self, response: Response[Any]) -> Response[Any]:
        """Note ``response``'s status; return it."""
        self.status = response.status_code or 200
        self.span.set_attribute("http.response.status_code", self.status)
        return response


@contextlib.contextmanager
def _server_span(request: Request[Any, Any, Any], route: str) -> Iterator[_Served]:
    """The request's server span and, once the handler answered (a stream: its headers), its
    ``http.server.request.duration``."""
    started = time.perf_counter()
    context = propagate.extract(dict(request.headers))
    with _tracer.start_as_current_span(
        f"{request.method} {route}",
        context=context,
        kind=SpanKind.SERVER,
        attributes={"http.request.method": request.method, "http.route": route},
    ) as span:
        served = _Served(span)
        try:
            yield served
        except HTTPException as exc:
            served.status = exc.status_code or 500
            raise
        finally:
            seconds = time.perf_counter() - started
            metrics.http_request(request.method, route, served.status, seconds)


# --------------------------------------------------------------------------- Streamable HTTP


MCP_PATHS = ["/mcp/{token:str}", "/mcp/{token:str}/mcp"]
"""The MCP URL and its alias ``<url>/mcp`` (for clients that append ``/mcp`` to what they are
given); both answer every era the same way."""


@post(MCP_PATHS, status_code=200, name="mcp-post")
async def mcp_post(request: Request[Any, Any, Any], token: FromPath[str]) -> Response[Any]:
    """POST: one JSON-RPC message, either era."""
    with _server_span(request, _template(request)) as served:
        try:
            grant = await _gate(request, token)
            message = await _message(request)
        except _Refused as refused:
            return served.finish(refused.response)
        outbox = _outbox(request, grant, message)
        inbound = Inbound(
            grant=grant,
            token_hash=hash_token(token),
            message=message,
            headers=request.headers,
            traced="traceparent" in request.headers,
            outbox=outbox,
        )
        core = _state(request).core
        if outbox is None:
            return served.finish(_respond(request, await core.post(inbound)))
        return served.finish(await _post_streaming(request, core, inbound, outbox))


def _outbox(request: Request[Any, Any, Any], grant: Grant, message: Message) -> Outbox | None:
    """A response stream for a call that may ask the client first: a session's ``tools/call``
    on a server with confirmations, from a client that reads ``text/event-stream``."""
    session_id = request.headers.get("mcp-session-id")
    if (
        grant.confirm == "none"
        or not session_id
        or message.method != "tools/call"
        or "text/event-stream" not in request.headers.get("accept", "")
    ):
        return None
    return Outbox(session_id=session_id)


async def _post_streaming(
    request: Request[Any, Any, Any], core: McpCore, inbound: Inbound, outbox: Outbox
) -> Response[Any]:
    """Answer as usual unless the call sends the client a request first; then answer with an
    SSE stream carrying those requests and, last, the reply."""
    task = asyncio.create_task(core.post(inbound))
    used = asyncio.create_task(outbox.used.wait())
    await asyncio.wait((task, used), return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        used.cancel()
        return _respond(request, task.result())

    async def events() -> AsyncIterator[bytes]:
        try:
            while not task.done() or not outbox.messages.empty():
                if outbox.messages.empty():
                    waiting = asyncio.ensure_future(outbox.messages.get())
                    await asyncio.wait((task, waiting), return_when=asyncio.FIRST_COMPLETED)
                    if not waiting.done():
                        waiting.cancel()
                        continue
                    payload = waiting.result()
                else:
                    payload = outbox.messages.get_nowait()
                yield b"event: message\ndata: " + payload + b"\n\n"
            yield b"event: message\ndata: " + task.result().body + b"\n\n"
        finally:
            if not task.done():
                task.cancel()  # the client went away: that is cancellation

    headers = {**SSE_HEADERS, "Mcp-Session-Id": outbox.session_id}
    return Stream(events(), media_type="text/event-stream", headers=headers)


@get(MCP_PATHS, name="mcp-get")
async def mcp_get(request: Request[Any, Any, Any], token: FromPath[str]) -> Response[Any]:
    """GET: with ``Mcp-Session-Id``, the session's stream of server-to-client messages; without
    one, from a client that reads ``text/event-stream``, the 2024-11-05 HTTP+SSE stream (as
    ``<url>/sse``), so SSE-only clients work with the plain URL. 405 in the stateless era."""
    with _server_span(request, _template(request)) as served:
        return served.finish(await _get(request, token))


async def _get(request: Request[Any, Any, Any], token: str) -> Response[Any]:
    try:
        grant = await _gate(request, token)
    except _Refused as refused:
        return refused.response
    headers = request.headers
    if (
        "mcp-session-id" not in headers
        and not era_of(headers.get("mcp-protocol-version")).stateless
        and "text/event-stream" in headers.get("accept", "")
    ):
        return await _sse_open(request, token, grant)
    transport = _state(request)
    session = await transport.core.stream_session(hash_token(token), headers)
    if isinstance(session, Reply):
        return _respond(request, session)
    too_many = _over_stream_cap(transport, grant)
    if too_many is not None:
        return too_many
    try:
        return await _event_stream(transport, token, grant, session)
    except Unavailable:
        return _respond(request, unavailable())


@delete(MCP_PATHS, status_code=200, name="mcp-delete")
async def mcp_delete(request: Request[Any, Any, Any], token: FromPath[str]) -> Response[Any]:
    """DELETE: end the session named by ``Mcp-Session-Id``."""
    with _server_span(request, _template(request)) as served:
        try:
            grant = await _gate(request, token)
        except _Refused as refused:
            return served.finish(refused.response)
        reply = await _state(request).core.delete(grant, hash_token(token), request.headers)
        return served.finish(_respond(request, reply))


# --------------------------------------------------------------------------- 2024-11-05 HTTP+SSE


@get("/mcp/{token:str}/sse", name="mcp-sse")
async def sse_open(request: Request[Any, Any, Any], token: FromPath[str]) -> Response[Any]:
    """Open an HTTP+SSE session: announce the messages URL, then relay replies from NATS."""
    with _server_span(request, "/mcp/{token}/sse") as served:
        try:
            grant = await _gate(request, token)
        except _Refused as refused:
            return served.finish(refused.response)
        return served.finish(await _sse_open(request, token, grant))


async def _sse_open(request: Request[Any, Any, Any], token: str, grant: Grant) -> Response[Any]:
    transport = _state(request)
    too_many = _over_stream_cap(transport, grant)
    if too_many is not None:
        return too_many
    try:
        session = await transport.core.open_sse(grant, hash_token(token))
        messages = f"{transport.public_url.rstrip('/')}/mcp/{token}/messages"
        endpoint = f"{messages}?session_id={session.id}"
        return await _event_stream(transport, token, grant, session, endpoint=endpoint)
    except Unavailable:
        return _respond(request, unavailable())


def _over_stream_cap(transport: McpTransport, grant: Grant) -> Response[Any] | None:
    """429 when the server already holds its share of this replica's streams (both kinds)."""
    open_streams = transport.sse_streams.get(grant.server_id, 0)
    if open_streams < transport.max_sse_streams:
        return None
    logger.info("refused an SSE stream: the server has %d open here", open_streams)
    error = RpcError(
        INVALID_REQUEST,
        f"Too many open SSE streams for this MCP server (at most {transport.max_sse_streams})"
        "; close one or use Streamable HTTP without a GET stream",
        status=429,
    )
    return _json(encode_error(None, error), 429, {"Retry-After": "10"})


async def _event_stream(
    transport: McpTransport, token: str, grant: Grant, session: Session, *, endpoint: str = ""
) -> Response[Any]:
    """The session's server-to-client stream: what any replica publishes for the session on
    NATS (HTTP+SSE replies) and what this replica tells it (list changes), with keep-alive
    comments, until the client goes away or the session or server ends. An HTTP+SSE stream
    (``endpoint``: its messages URL, announced first) ends its session when it closes.

    Raises:
        Unavailable: the tool catalogue is not available.
    """
    streams = transport.core.streams
    listener = await streams.open(token, grant, session)

    async def relay(msg: Any) -> None:
        listener.push(msg.data)

    subscription = await transport.nc.subscribe(
        transport.subjects.gateway_session(session.id), cb=relay
    )
    await transport.nc.flush()
    counts = transport.sse_streams
    counts[grant.server_id] = counts.get(grant.server_id, 0) + 1
    metrics.sse_stream(opened=True, legacy=bool(endpoint))

    async def events() -> AsyncIterator[bytes]:
        try:
            if endpoint:
                yield b"event: endpoint\ndata: " + endpoint.encode() + b"\n\n"
            while True:
                try:
                    payload = await asyncio.wait_for(listener.next(), transport.keepalive)
                except TimeoutError:
                    if not await streams.alive(listener):
                        return
                    yield b": keepalive\n\n"
                    continue
                if payload is None:
                    return
                yield b"event: message\ndata: " + payload + b"\n\n"
        finally:
            streams.close(listener)
            counts[grant.server_id] -= 1
            if not counts[grant.server_id]:
                del counts[grant.server_id]
            await subscription.unsubscribe()
            metrics.sse_stream(opened=False, legacy=bool(endpoint))
            if endpoint:
                with contextlib.suppress(StackmcpError):
                    await transport.core.sessions.end(session)

    headers = SSE_HEADERS if endpoint else {**SSE_HEADERS, "Mcp-Session-Id": session.id}
    return Stream(events(), media_type="text/event-stream", headers=headers)


@post("/mcp/{token:str}/messages", status_code=202, name="mcp-sse-messages")
async def sse_message(request: Request[Any, Any, Any], token: FromPath[str]) -> Response[Any]:
    """A client message for an HTTP+SSE session; the reply goes out on that session's stream,
    through NATS, whichever replica holds it."""
    with _server_span(request, "/mcp/{token}/messages") as served:
        try:
            grant = await _gate(request, token)
            message = await _message(request)
        except _Refused as refused:
            return served.finish(refused.response)
        transport = _state(request)
        session_id = request.query_params.get("session_id") or ""
        reply, session = await transport.core.sse_message(
            grant, hash_token(token), session_id, message
        )
        if session is None:
            return served.finish(_respond(request, reply))
        if reply.rpc:
            await transport.nc.publish(transport.subjects.gateway_session(session.id), reply.body)
        return served.finish(Response(content=b"Accepted", status_code=202))


def mcp_router() -> Router:
    """Every MCP route."""
    return Router(
        path="/",
        route_handlers=[mcp_post, mcp_get, mcp_delete, sse_open, sse_message],
    )
