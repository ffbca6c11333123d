"""The MCP methods the gateway answers, independent of any transport: discovery, tools,
prompts, ping.

:class:`McpMethods` takes a :class:`CallContext` (grant, era, version) and returns an
:class:`Answer`: the encoded result **and** the HTTP headers it implies (the normalised
rate-limit fields), as one value, so every transport forwards both or knowingly drops the
headers (the HTTP+SSE stream, whose replies have none).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Protocol

import msgspec
from opentelemetry import trace

from stackmcp.contracts.grants import Grant
from stackmcp.contracts.policy import budgets_for, needs_confirmation, pin_problem
from stackmcp.contracts.tools import (
    Provenance,
    RateLimitInfo,
    ToolCallRequest,
    ToolCallResult,
    ToolDescriptor,
)
from stackmcp.gateway.audit import NO_CLIENT, AuditTrail, CallAudit, ClientInfo
from stackmcp.gateway.budgets import BudgetRefusal, Budgets
from stackmcp.gateway.catalog import ToolCatalog
from stackmcp.gateway.confirm import CONFIRM_TOKEN_ARG, ConfirmTokens, Elicitations, Outbox
from stackmcp.gateway.confirming import Confirmation, Stop
from stackmcp.gateway.discovery import CALL_TOOL, META_TOOLS, Discovery, inner_call, not_available
from stackmcp.gateway.eras import HANDSHAKE_VERSIONS, MODERN_VERSIONS, Era, negotiate
from stackmcp.gateway.jsonrpc import INVALID_PARAMS, METHOD_NOT_FOUND, RpcError
from stackmcp.gateway.prompts import BASE_INSTRUCTIONS, Prompts
from stackmcp.runtime.errors import NotFound, StackmcpError

__all__ = [
    "INSTRUCTIONS",
    "Answer",
    "CallContext",
    "InboundLimiter",
    "McpMethods",
    "ToolRunner",
    "server_info",
]

logger = logging.getLogger(__name__)

INSTRUCTIONS = BASE_INSTRUCTIONS
"""The instructions that name no tool (a server's own come from :class:`Prompts`)."""


def server_info() -> dict[str, str]:
    """``serverInfo``: name, title and the installed version."""
    try:
        installed = version("stackmcp-gateway")
    except PackageNotFoundError:  # pragma: no cover - always installed in the workspace
        installed = "0"
    return {"name": "stackmcp", "title": "stackmcp for Better Stack", "version": installed}


SERVER_INFO_META = "io.modelcontextprotocol/serverInfo"
UNTRUSTED_META = "stackmcp/untrusted"
"""Result ``_meta`` key: the fields of the result written by people or monitored systems."""


@dataclass(frozen=True)
class CallContext:
    """Who is calling and how: the grant, the era, the version and (session eras) the session."""

    grant: Grant
    era: Era
    protocol_version: str
    session_id: str | None = None
    client: ClientInfo = NO_CLIENT
    """The calling client (from ``initialize`` or, stateless, the request's ``_meta``)."""
    elicitation: bool = False
    """The client declared form elicitation (``initialize`` or, stateless, ``_meta``)."""
    outbox: Outbox | None = None
    """Where a call may send requests to the client before its reply (a response stream)."""


@dataclass(frozen=True)
class Answer:
    """An encoded JSON-RPC ``result`` and the response headers it implies."""

    result: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    error_type: str | None = None
    """``tool_error`` or ``refused`` for a ``tools/call`` result reporting that (for metrics)."""


class ToolRunner(Protocol):
    """Runs one tool call on some worker (see :mod:`stackmcp.gateway.workers`)."""

    async def run(self, call: ToolCallRequest, *, write: bool) -> ToolCallResult:
        """The worker's result.

        Raises:
            NotFound: the worker does not know the tool (or the grant hides it).
            StackmcpError: the call could not be run; the message is written for the model.
        """
        ...


class InboundLimiter(Protocol):
    """Counts inbound tool calls per server and per account (see :mod:`.ratelimit`)."""

    async def admit(self, grant: Grant) -> RateLimitInfo | None:
        """Count this call: ``None`` when admitted, else the exceeded limit's state
        (``remaining`` 0, ``retry_after`` set).

        Raises:
            Unavailable: the counter store is unreachable.
        """
        ...


class McpMethods:
    """Answer MCP methods for one catalogue and one worker pool.

    Args:
        catalog: the tool catalogue.
        tools: runs tool calls on workers.
        call_timeout: seconds a tool call may take end to end (its deadline).
        limiter: inbound rate limits for tool calls, or ``None`` for none.
        audit: where each ``tools/call`` is recorded (default: nowhere).
        budgets: per-server action budgets (``None``: budgets cannot be enforced and calls
            counting against one are refused).
        tokens: confirm tokens (``None``: calls needing confirmation are refused).
        elicitations: asks clients that declared elicitation (``None``: tokens only).
        confirm_timeout: seconds a person has to answer an elicitation.
    """

    def __init__(
        self,
        catalog: ToolCatalog,
        tools: ToolRunner,
        *,
        call_timeout: float,
        limiter: InboundLimiter | None = None,
        audit: AuditTrail | None = None,
        budgets: Budgets | None = None,
        tokens: ConfirmTokens | None = None,
        elicitations: Elicitations | None = None,
        confirm_timeout: float = 120.0,
    ) -> None:
        self.audit = audit or AuditTrail()
        self._budgets = budgets
        self._confirm = Confirmation(tools, tokens, elicitations, confirm_timeout)
        self._catalog = catalog
        self._discovery = Discovery(catalog)
        self._prompts = Prompts(catalog)
        self._tools = tools
        self._call_timeout = call_timeout
        self._limiter = limiter
        self._info = server_info()
        self._server_meta = {SERVER_INFO_META: self._info}
        self._ping = Answer(b"{}")

    def initialize(
        self, params: dict[str, Any] | None, grant: Grant | None = None
    ) -> tuple[str, bytes]:
        """The negotiated version and the ``initialize`` result (session eras), with the
        instructions written for ``grant``'s tools."""
        negotiated = negotiate((params or {}).get("protocolVersion"))
        result = {
            "protocolVersion": negotiated,
            "capabilities": _capabilities(Era.SESSION),
            "serverInfo": self._info,
            "instructions": self._prompts.instructions(grant),
        }
        return negotiated, msgspec.json.encode(result)

    async def dispatch(
        self, method: str, params: dict[str, Any] | None, ctx: CallContext
    ) -> Answer:
        """The answer to ``method``.

        Raises:
            RpcError: the method is unknown for this era or its params are invalid.
            StackmcpError: a dependency failed (e.g. :class:`Unavailable`).
        """
        if method == "tools/call":
            return await self._call_tool(params or {}, ctx)
        if method == "tools/list":
            await self._catalog.ensure_loaded()
            if ctx.grant.tool_exposure == "discovery":
                cursor = (params or {}).get("cursor")
                modern = ctx.era.stateless
                meta = self._server_meta
                return Answer(
                    self._discovery.list_page(ctx.grant, cursor, modern=modern, server_meta=meta)
                )
            page = self._catalog.list_page(
                ctx.grant,
                (params or {}).get("cursor"),
                modern=ctx.era.stateless,
                server_meta=self._server_meta,
            )
            return Answer(page)
        if method in ("prompts/list", "prompts/get"):
            return await self._prompt_method(method, params or {}, ctx)
        if method == "server/discover":
            return Answer(self.discover(ctx.era, ctx.grant))
        if not ctx.era.stateless and method == "ping":
            return self._ping
        raise RpcError(METHOD_NOT_FOUND, f"Method not found: {method[:100]}")

    async def _prompt_method(self, method: str, params: dict[str, Any], ctx: CallContext) -> Answer:
        """``prompts/list`` or ``prompts/get`` (see :mod:`stackmcp.gateway.prompts`)."""
        await self._catalog.ensure_loaded()
        modern = ctx.era.stateless
        meta = self._server_meta
        if method == "prompts/list":
            return Answer(self._prompts.list_page(ctx.grant, modern=modern, server_meta=meta))
        return Answer(self._prompts.get(params, ctx.grant, modern=modern, server_meta=meta))

    def discover(self, era: Era, grant: Grant | None = None) -> bytes:
        """The ``server/discover`` result: every version this gateway speaks (so a client that
        probes first can still fall back to ``initialize``) and the capabilities of ``era``,
        the era the probe arrived in."""
        return msgspec.json.encode(
            {
                "supportedVersions": [*MODERN_VERSIONS, *reversed(HANDSHAKE_VERSIONS)],
                "capabilities": _capabilities(era),
                "instructions": self._prompts.instructions(grant),
                "resultType": "complete",
                "ttlMs": 300_000,
                "cacheScope": "private",
                "_meta": self._server_meta,
            }
        )

    async def listed_tools(self, grant: Grant) -> Mapping[str, ToolDescriptor]:
        """The tools ``tools/list`` shows ``grant``, by name (equal mappings: an equal list).

        Raises:
            Unavailable: no catalogue yet and no worker answered.
        """
        await self._catalog.ensure_loaded()
        if grant.tool_exposure == "discovery":
            return {t.name: t for t in self._discovery.tools(grant)}
        return self._catalog.view(grant).tools

    async def _call_tool(self, params: dict[str, Any], ctx: CallContext) -> Answer:
        grant = ctx.grant
        name = params.get("name")
        if grant.tool_exposure == "discovery" and name in META_TOOLS:
            if name != CALL_TOOL:
                return await self._meta_tool(name, params, ctx)
            try:
                params = inner_call(params)  # then exactly a direct call of the inner tool
            except RpcError:
                self._begin(ctx, CALL_TOOL, params).protocol_error("invalid_params")
                raise
            name = params["name"]
        audit = self._begin(ctx, name if isinstance(name, str) else None, params)
        try:
            answer = await self._run_tool(name, params, ctx, audit)
        except asyncio.CancelledError:
            audit.protocol_error("cancelled")
            raise
        except StackmcpError as exc:  # e.g. Unavailable: the client gets a 503
            audit.protocol_error(str(exc.code))
            raise
        except BaseException:
            audit.protocol_error("internal")  # a no-op if the call was recorded already
            raise
        if audit.outcome in ("tool_error", "refused"):
            return replace(answer, error_type=audit.outcome)
        return answer

    def _begin(self, ctx: CallContext, tool: str | None, params: dict[str, Any]) -> CallAudit:
        grant = ctx.grant
        return self.audit.begin(
            account_id=grant.account_id,
            server_id=grant.server_id,
            server_name=grant.name,
            tool=tool,
            arguments=params.get("arguments"),
            session_id=ctx.session_id,
            client=ctx.client,
            protocol_version=ctx.protocol_version,
        )

    async def _meta_tool(self, name: str, params: dict[str, Any], ctx: CallContext) -> Answer:
        """``search_tools`` or ``get_tool_schema`` of a discovery server (recorded as calls)."""
        audit = self._begin(ctx, name, params)
        try:
            await self._catalog.ensure_loaded()
        except StackmcpError as exc:
            audit.protocol_error(str(exc.code))
            raise
        result = self._discovery.answer(name, params.get("arguments"), ctx.grant)
        audit.result(result)
        answer = self._encode(result, ctx)
        return replace(answer, error_type="tool_error") if result.is_error else answer

    async def _run_tool(
        self, name: object, params: dict[str, Any], ctx: CallContext, audit: CallAudit
    ) -> Answer:
        arguments = params.get("arguments")
        if not isinstance(name, str):
            audit.protocol_error("invalid_params")
            raise RpcError(INVALID_PARAMS, "Invalid params: tools/call needs a tool name")
        if arguments is not None and not isinstance(arguments, dict):
            audit.protocol_error("invalid_params")
            raise RpcError(INVALID_PARAMS, "Invalid params: arguments must be an object")
        trace.get_current_span().set_attribute("gen_ai.tool.name", name[:128])
        await self._catalog.ensure_loaded()
        grant = ctx.grant
        tool = self._catalog.find(name, grant)
        if tool is None:
            if self._catalog.exists(name):
                audit.refused("tool_hidden")
            else:
                audit.protocol_error("unknown_tool")
            raise _unknown_tool(name, grant)
        arguments = arguments or {}
        confirming = needs_confirmation(tool, grant.confirm)
        checked = (
            {k: v for k, v in arguments.items() if k != CONFIRM_TOKEN_ARG}
            if confirming
            else arguments
        )
        problem = pin_problem(tool, checked, grant.pin)
        if problem is not None:
            audit.refused("pin_violation")
            return Answer(self._failure(problem, ctx))
        if self._limiter is not None:
            refused = await self._limiter.admit(grant)
            if refused is not None:
                audit.refused("rate_limited", refused)
                return self._encode(_rate_limited(refused), ctx)
        call = self._request(tool, checked, ctx)
        if confirming:
            stop = await self._confirm.confirm(tool, call, params, ctx, audit)
            if stop is not None:
                return self._encode(stop, ctx)
        spent = await self._spend(tool, grant)
        if spent is not None:
            audit.refused("budget_exceeded", spent.info)
            failure = ToolCallResult(text=spent.message(), is_error=True, rate_limit=spent.info)
            return self._encode(failure, ctx)
        return await self._execute(tool, call, ctx, audit)

    async def _spend(self, tool: ToolDescriptor, grant: Grant) -> BudgetRefusal | None:
        budgets = budgets_for(tool, grant.budgets)
        if not budgets:
            return None
        if self._budgets is None:
            info = RateLimitInfo(limit=0, remaining=0)
            return BudgetRefusal(budgets[0], info)
        return await self._budgets.spend(grant.server_id, budgets)

    def _request(
        self, tool: ToolDescriptor, arguments: dict[str, Any], ctx: CallContext
    ) -> ToolCallRequest:
        grant = ctx.grant
        provenance = None
        if grant.provenance and tool.method_class == "write":
            provenance = Provenance(server_name=grant.name, client_name=ctx.client.name)
        return ToolCallRequest(
            server_id=grant.server_id,
            account_id=grant.account_id,
            tool=tool.name,
            arguments=arguments,
            methods=grant.methods,
            tags=grant.tags,
            timeout=self._call_timeout,
            call_id=secrets.token_hex(12),
            deadline=time.time() + self._call_timeout,
            exclude_tags=grant.exclude_tags,
            exclude_tools=grant.exclude_tools,
            pin=grant.pin,
            reveal_secrets=grant.reveal_secrets,
            provenance=provenance,
        )

    async def _execute(
        self, tool: ToolDescriptor, call: ToolCallRequest, ctx: CallContext, audit: CallAudit
    ) -> Answer:
        # The deadline starts when the call is sent: a person's time to confirm is not the
        # worker's time to run it.
        call = msgspec.structs.replace(call, deadline=time.time() + self._call_timeout)
        try:
            result = await self._tools.run(call, write=tool.method_class == "write")
        except NotFound:
            audit.protocol_error("unknown_tool")
            raise _unknown_tool(tool.name, ctx.grant) from None
        except StackmcpError as exc:
            audit.tool_error(str(exc.code))
            return Answer(self._failure(exc.message, ctx))
        audit.result(result)
        return self._encode(result, ctx)

    def _encode(self, result: ToolCallResult | Stop, ctx: CallContext) -> Answer:
        if isinstance(result, Stop):
            return Answer(self._stop(result, ctx))
        body: dict[str, Any] = {
            "content": [{"type": "text", "text": result.content_text()}],
            "isError": result.is_error,
        }
        if not result.is_error:
            body["structuredContent"] = result.structured
        meta: dict[str, Any] = {}
        if result.untrusted:
            meta[UNTRUSTED_META] = result.untrusted
        headers: dict[str, str] = {}
        if result.rate_limit is not None:
            fields = result.rate_limit.fields()
            meta.update(fields)
            headers = {k: str(v) for k, v in fields.items()}
        if ctx.era.stateless:
            body["resultType"] = "complete"
            meta.update(self._server_meta)
        if meta:
            body["_meta"] = meta
        return Answer(msgspec.json.encode(body), headers)

    def _stop(self, stop: Stop, ctx: CallContext) -> bytes:
        if stop.input_required is not None:
            body: dict[str, Any] = {**stop.input_required, "_meta": self._server_meta}
            return msgspec.json.encode(body)
        if stop.structured is None:
            return self._failure(stop.text, ctx)
        body = {
            "content": [{"type": "text", "text": stop.text}],
            "structuredContent": stop.structured,
            "isError": False,
        }
        if ctx.era.stateless:
            body["resultType"] = "complete"
            body["_meta"] = self._server_meta
        return msgspec.json.encode(body)

    def _failure(self, text: str, ctx: CallContext) -> bytes:
        body: dict[str, Any] = {"content": [{"type": "text", "text": text}], "isError": True}
        if ctx.era.stateless:
            body["resultType"] = "complete"
            body["_meta"] = self._server_meta
        return msgspec.json.encode(body)


def _capabilities(era: Era) -> dict[str, Any]:
    """What the gateway offers in ``era``: tools, whose list changes are announced only where
    a stream carries them (a session's GET stream, the HTTP+SSE stream; the stateless era has
    no ``subscriptions/listen``), and prompts (their list changes are not announced)."""
    return {"tools": {"listChanged": not era.stateless}, "prompts": {"listChanged": False}}


def _unknown_tool(name: str, grant: Grant) -> RpcError:
    if grant.tool_exposure == "discovery":
        return RpcError(INVALID_PARAMS, not_available(name))
    return RpcError(
        INVALID_PARAMS, f"{name[:100]} is not available on this server — tools/list shows what is"
    )


def _rate_limited(info: RateLimitInfo) -> ToolCallResult:
    text = (
        f"Too many tool calls through this MCP server or its Better Stack account: at most "
        f"{info.limit} per window. Try again in {info.retry_after} seconds."
    )
    return ToolCallResult(text=text, is_error=True, rate_limit=info)
