"""The MCP core: one decoded message in, one :class:`Reply` value out, for every era.

Transports (``http.py``) do only HTTP: the gate, reading the body, turning a :class:`Reply` into
a response (JSON or a one-event SSE stream, by ``Accept``). Everything else — sessions, the
stateless envelope, cancellation, the JSON-RPC error for each failure and its HTTP status — is
decided here, from the era rules in :mod:`stackmcp.gateway.eras`, so every era answers the same
failure the same way and no header a method implies is lost on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.trace import Status, StatusCode

from stackmcp.contracts.grants import Grant
from stackmcp.gateway import metrics
from stackmcp.gateway.audit import ClientInfo, client_info, meta_client_info
from stackmcp.gateway.confirm import Elicitations, Outbox
from stackmcp.gateway.confirming import elicitation_declared
from stackmcp.gateway.eras import (
    CAPABILITIES_META,
    LATEST_HANDSHAKE,
    SSE_TRANSPORT_VERSION,
    Era,
    allowed_http_methods,
    check_stateless_envelope,
    era_of,
    error_status,
)
from stackmcp.gateway.jsonrpc import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    REQUEST_CANCELLED,
    Message,
    RpcError,
    encode_error,
    encode_result,
)
from stackmcp.gateway.mcp import Answer, CallContext, McpMethods
from stackmcp.gateway.sessions import Session, SessionStore
from stackmcp.gateway.streams import Streams
from stackmcp.runtime.errors import StackmcpError, Unavailable
from stackmcp.runtime.telemetry import tracer

__all__ = ["Inbound", "McpCore", "Reply", "unavailable"]

logger = logging.getLogger(__name__)
_tracer = tracer(__name__)

RETRY_AFTER = "1"
"""Seconds a client is asked to wait after a 503 (a dependency is briefly away)."""


@dataclass(frozen=True)
class Reply:
    """What to answer: status, body and headers (``body`` empty for 202 and 405)."""

    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    rpc: bool = True
    """The body is a JSON-RPC message (a transport may frame it as an SSE event)."""
    error_type: str | None = None
    """How the request failed, for metrics: a JSON-RPC error's code, or ``tool_error`` or
    ``refused`` for a tool result reporting that; ``None`` when it succeeded."""


@dataclass(frozen=True)
class Inbound:
    """One Streamable HTTP POST, decoded."""

    grant: Grant
    token_hash: str
    message: Message
    headers: Mapping[str, str]
    """Request headers with lower-case names."""
    traced: bool = False
    """A ``traceparent`` header carried the caller's trace (else ``_meta`` may)."""
    outbox: Outbox | None = None
    """Set when the client reads a response stream: a call may ask it something first."""


def error_reply(request_id: Any, error: RpcError, era: Era = Era.SESSION) -> Reply:
    """The JSON-RPC error ``error`` with the era's HTTP status."""
    return Reply(
        error_status(era, error), encode_error(request_id, error), error_type=str(error.code)
    )


def unavailable(request_id: Any = None) -> Reply:
    """503 with ``Retry-After``: Redis or the workers are briefly away."""
    error = RpcError(INTERNAL_ERROR, "Temporarily unavailable; try again shortly")
    return Reply(503, encode_error(request_id, error), {"Retry-After": RETRY_AFTER})


_NO_SESSION_HEADER = RpcError(
    INVALID_REQUEST, "Bad Request: Mcp-Session-Id header is required", status=400
)
_NO_SESSION = RpcError(INVALID_REQUEST, "Session not found", status=404)
_GET_WITHOUT_SESSION = RpcError(
    INVALID_REQUEST,
    "Not Acceptable: GET opens an event stream: send Accept: text/event-stream (and, in a "
    "session, its Mcp-Session-Id)",
    status=406,
)


class McpCore:
    """Answer MCP messages for every era.

    Args:
        methods: the MCP methods.
        sessions: the shared session store.
        elicitations: forwards clients' answers to the replica that asked (``None``: answers
            are acknowledged and dropped).
    """

    def __init__(
        self,
        methods: McpMethods,
        sessions: SessionStore,
        elicitations: Elicitations | None = None,
    ) -> None:
        self.methods = methods
        self.sessions = sessions
        self.elicitations = elicitations
        self.streams = Streams(methods, sessions)
        """This replica's open server-to-client streams."""
        self._in_flight: dict[tuple[str, str | int], asyncio.Task[Answer]] = {}

    async def post(self, inbound: Inbound) -> Reply:
        """Answer a Streamable HTTP POST in the era its ``MCP-Protocol-Version`` picks."""
        header_version = inbound.headers.get("mcp-protocol-version")
        era = era_of(header_version)
        try:
            if era is Era.STATELESS:
                assert header_version is not None
                return await self._stateless(inbound, header_version)
            return await self._session(inbound)
        except Unavailable as exc:
            logger.warning("answered 503: %s", exc.message)
            return unavailable(inbound.message.id)

    async def _stateless(self, inbound: Inbound, header_version: str) -> Reply:
        message = inbound.message
        try:
            version = check_stateless_envelope(inbound.headers, message, header_version)
        except RpcError as error:
            return error_reply(message.id, error, Era.STATELESS)
        if not message.is_request:
            return Reply(202, rpc=False)
        ctx = CallContext(
            grant=inbound.grant,
            era=Era.STATELESS,
            protocol_version=version,
            client=meta_client_info(message.params),
            elicitation=elicitation_declared(_meta_capabilities(message.params)),
        )
        with _operation(message, None, version, traced=inbound.traced) as operation:
            return operation.done(await self._answer(message, ctx))

    async def _session(self, inbound: Inbound) -> Reply:
        message = inbound.message
        if message.method == "initialize" and message.is_request:
            version, result = self.methods.initialize(message.params, inbound.grant)
            params = message.params or {}
            client = client_info(params.get("clientInfo"))
            created = await self.sessions.create(
                inbound.token_hash,
                inbound.grant.server_id,
                version,
                "streamable",
                client_name=client.name,
                client_version=client.version,
                elicitation=elicitation_declared(params.get("capabilities")),
            )
            with _operation(message, created.id, version):
                return Reply(200, encode_result(message.id, result), {"Mcp-Session-Id": created.id})
        if message.method == "server/discover" and message.is_request:
            # A probe before initialize (as Claude Code sends first): its answer lists the
            # session versions too, so the client can carry on with initialize.
            with _operation(message, None, LATEST_HANDSHAKE):
                discovered = self.methods.discover(Era.SESSION, inbound.grant)
                return Reply(200, encode_result(message.id, discovered))
        session_id = inbound.headers.get("mcp-session-id")
        if not session_id:
            return error_reply(message.id, _NO_SESSION_HEADER)
        session = await self.sessions.get(session_id, inbound.token_hash)
        if session is None:
            return error_reply(message.id, _NO_SESSION)
        outbox = (
            inbound.outbox if inbound.outbox and inbound.outbox.session_id == session.id else None
        )
        reply = await self.session_message(inbound.grant, session, message, outbox)
        return Reply(reply.status, reply.body, {**reply.headers, "Mcp-Session-Id": session.id})

    async def session_message(
        self, grant: Grant, session: Session, message: Message, outbox: Outbox | None = None
    ) -> Reply:
        """Answer one message of an open session (Streamable HTTP or HTTP+SSE); ``outbox``
        is the response stream a call may ask the client on."""
        if not message.is_request:
            if message.method == "notifications/cancelled":
                self._cancel(session.id, (message.params or {}).get("requestId"))
            elif message.is_response and self.elicitations is not None:
                await self.elicitations.deliver(
                    session.id, message.id, message.result, message.error
                )
            return Reply(202, rpc=False)
        if message.method == "initialize":
            _, result = self.methods.initialize(message.params, grant)
            client = client_info((message.params or {}).get("clientInfo"))
            await self.sessions.name_client(session, client.name, client.version)
            return Reply(200, encode_result(message.id, result))
        era = Era.SSE if session.transport == "sse" else Era.SESSION
        ctx = CallContext(
            grant=grant,
            era=era,
            protocol_version=session.protocol_version,
            session_id=session.id,
            client=ClientInfo(session.client_name, session.client_version),
            elicitation=session.elicitation,
            outbox=outbox,
        )
        with _operation(message, session.id, session.protocol_version) as operation:
            key = (session.id, message.id)
            task = asyncio.create_task(self._dispatch(message, ctx))
            self._in_flight[key] = task
            try:
                return operation.done(await self._await(task, message, era))
            finally:
                self._in_flight.pop(key, None)

    async def _await(self, task: asyncio.Task[Answer], message: Message, era: Era) -> Reply:
        try:
            answer = await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if task.cancelled() and not (current is not None and current.cancelling()):
                cancelled = str(REQUEST_CANCELLED.code)
                return Reply(200, encode_error(message.id, REQUEST_CANCELLED), error_type=cancelled)
            raise
        except RpcError as error:
            trace.get_current_span().set_status(Status(StatusCode.ERROR, str(error.code)))
            return error_reply(message.id, error, era)
        return _result(message, answer)

    async def _answer(self, message: Message, ctx: CallContext) -> Reply:
        try:
            answer = await self._dispatch(message, ctx)
        except RpcError as error:
            trace.get_current_span().set_status(Status(StatusCode.ERROR, str(error.code)))
            return error_reply(message.id, error, ctx.era)
        return _result(message, answer)

    async def _dispatch(self, message: Message, ctx: CallContext) -> Answer:
        try:
            return await self.methods.dispatch(message.method or "", message.params, ctx)
        except Unavailable:
            raise
        except StackmcpError as exc:
            logger.warning("request failed: %s", exc.code)
            raise RpcError(INTERNAL_ERROR, "Internal error") from None

    async def delete(self, grant: Grant, token_hash: str, headers: Mapping[str, str]) -> Reply:
        """End the session named by ``Mcp-Session-Id`` (405 in the stateless era)."""
        if era_of(headers.get("mcp-protocol-version")).stateless:
            return Reply(405, headers={"Allow": allowed_http_methods(Era.STATELESS)}, rpc=False)
        session_id = headers.get("mcp-session-id")
        if not session_id:
            return error_reply(None, _NO_SESSION_HEADER)
        try:
            session = await self.sessions.get(session_id, token_hash)
            if session is None:
                return error_reply(None, _NO_SESSION)
            await self.sessions.end(session)
        except Unavailable as exc:
            logger.warning("answered 503: %s", exc.message)
            return unavailable()
        return Reply(200, rpc=False)

    async def stream_session(self, token_hash: str, headers: Mapping[str, str]) -> Session | Reply:
        """The session a GET stream is opened for, or the reply refusing the stream: 405 in
        the stateless era, 406 without ``Mcp-Session-Id``, 404 for an unknown session (or an
        HTTP+SSE one), 503 when the session store is away."""
        if era_of(headers.get("mcp-protocol-version")).stateless:
            return Reply(405, headers={"Allow": allowed_http_methods(Era.STATELESS)}, rpc=False)
        session_id = headers.get("mcp-session-id")
        if not session_id:
            return error_reply(None, _GET_WITHOUT_SESSION)
        try:
            session = await self.sessions.get(session_id, token_hash)
        except Unavailable as exc:
            logger.warning("answered 503: %s", exc.message)
            return unavailable()
        if session is None or session.transport != "streamable":
            return error_reply(None, _NO_SESSION)
        return session

    async def open_sse(self, grant: Grant, token_hash: str) -> Session:
        """Open a 2024-11-05 HTTP+SSE session.

        Raises:
            Unavailable: the session store is unreachable.
        """
        return await self.sessions.create(token_hash, grant.server_id, SSE_TRANSPORT_VERSION, "sse")

    async def sse_message(
        self, grant: Grant, token_hash: str, session_id: str, message: Message
    ) -> tuple[Reply, Session | None]:
        """Answer a message POSTed to an HTTP+SSE session: the JSON-RPC reply (to send on the
        session's stream) and the session, or an error reply and ``None``."""
        try:
            session = await self.sessions.get(session_id, token_hash)
            if session is None or session.transport != "sse":
                return error_reply(message.id, _NO_SESSION), None
            return await self.session_message(grant, session, message), session
        except Unavailable as exc:
            logger.warning("answered 503: %s", exc.message)
            return unavailable(message.id), None

    def _cancel(self, session_id: str, request_id: object) -> None:
        if not isinstance(request_id, str | int) or isinstance(request_id, bool):
            logger.info("ignored a cancellation whose requestId is not a string or integer")
            return
        task = self._in_flight.get((session_id, request_id))
        if task is not None:
            task.cancel()


def _result(message: Message, answer: Answer) -> Reply:
    return Reply(
        200, encode_result(message.id, answer.result), answer.headers, error_type=answer.error_type
    )


class _Operation:
    """One request being answered: how it ended, for ``mcp.server.operation.duration``."""

    __slots__ = ("error_type",)

    def __init__(self) -> None:
        self.error_type: str | None = None

    def done(self, reply: Reply) -> Reply:
        """Note how ``reply`` answers the request; return it."""
        self.error_type = reply.error_type
        return reply


@contextlib.contextmanager
def _operation(
    message: Message, session_id: str | None, version: str, *, traced: bool = True
) -> Iterator[_Operation]:
    """The request's span and, when it ends, its duration (recorded in the span, so an exemplar
    names its trace)."""
    started = time.perf_counter()
    params = message.params or {}
    name = params.get("name") if message.method == "tools/call" else None
    tool = name if isinstance(name, str) else None
    target = f" {tool[:128]}" if tool is not None else ""
    attributes: dict[str, Any] = {
        "mcp.method.name": message.method or "",
        "mcp.protocol.version": version,
    }
    if session_id:
        attributes["mcp.session.id"] = session_id
    if message.id is not None:
        attributes["jsonrpc.request.id"] = str(message.id)
    context = None if traced else _meta_context(params)
    operation = _Operation()
    with _tracer.start_as_current_span(
        f"{message.method}{target}", context=context, attributes=attributes
    ):
        try:
            yield operation
        except BaseException as exc:
            operation.error_type = type(exc).__name__
            raise
        finally:
            seconds = time.perf_counter() - started
            metrics.operation(message.method or "", tool, version, operation.error_type, seconds)


def _meta_capabilities(params: dict[str, Any] | None) -> object:
    """The client capabilities a 2026-07-28 request declares in its ``_meta``."""
    meta = (params or {}).get("_meta")
    return meta.get(CAPABILITIES_META) if isinstance(meta, dict) else None


def _meta_context(params: dict[str, Any]) -> Any:
    """The trace context carried in ``params._meta`` (used when no HTTP header carried one)."""
    meta = params.get("_meta")
    if isinstance(meta, dict) and isinstance(meta.get("traceparent"), str):
        return propagate.extract({"traceparent": meta["traceparent"]})
    return None
