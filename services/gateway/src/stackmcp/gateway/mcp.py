"""The MCP methods the gateway answers, independent of HTTP: discovery, tools, ping.

Transports (``http.py``) decide the era, check sessions and headers, then call
:meth:`McpMethods.dispatch` with a :class:`CallContext`. Results are returned as encoded JSON
bytes plus the HTTP headers they imply (the normalised rate-limit fields).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import msgspec
from nats.aio.client import Client
from opentelemetry import trace

from stackmcp.contracts.grants import Grant
from stackmcp.contracts.subjects import Subjects
from stackmcp.contracts.tools import ToolCallRequest, ToolCallResult
from stackmcp.gateway.catalog import ToolCatalog
from stackmcp.gateway.jsonrpc import INVALID_PARAMS, METHOD_NOT_FOUND, RpcError
from stackmcp.gateway.versions import HANDSHAKE_VERSIONS, MODERN_VERSIONS, negotiate
from stackmcp.runtime.errors import DeadlineExceeded, NotFound, StackmcpError, Unavailable
from stackmcp.runtime.natsx import request

__all__ = ["INSTRUCTIONS", "CallContext", "McpMethods", "server_info"]

logger = logging.getLogger(__name__)

INSTRUCTIONS = (
    "These tools act on one Better Stack account (incidents, on-call, monitors, heartbeats, "
    "status pages), limited to what this MCP server was granted. Before any write, look the "
    "ids up with the list or get tools (e.g. list_all_better_stack_incidents with "
    "resolved=false for open incidents) instead of guessing them. List tools return "
    '{"result": [...], "next_cursor": ...}: to get more, call the same tool again with '
    "next_cursor passed back unchanged; null means there is no more. Acknowledge, escalate "
    "and resolve notify people: say what you are about to do. Errors come back as tool "
    "results saying what to fix; after a rate-limit error wait the stated seconds."
)


def server_info() -> dict[str, str]:
    """``serverInfo``: name, title and the installed version."""
    try:
        installed = version("stackmcp-gateway")
    except PackageNotFoundError:  # pragma: no cover - always installed in the workspace
        installed = "0"
    return {"name": "stackmcp", "title": "stackmcp for Better Stack", "version": installed}


SERVER_INFO_META = "io.modelcontextprotocol/serverInfo"


@dataclass
class CallContext:
    """Who is calling and how: the grant, the era and (legacy) the session."""

    grant: Grant
    modern: bool
    protocol_version: str
    session_id: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    """Response headers the method adds (rate-limit fields)."""


class McpMethods:
    """Answer MCP methods for one catalogue and one worker pool.

    Args:
        catalog: the tool catalogue.
        nc: NATS client for tool calls.
        subjects: subject names.
        call_timeout: seconds a tool call may take.
    """

    def __init__(
        self, catalog: ToolCatalog, nc: Client, subjects: Subjects, *, call_timeout: float
    ) -> None:
        self._catalog = catalog
        self._nc = nc
        self._subjects = subjects
        self._call_timeout = call_timeout
        self._info = server_info()
        self._server_meta = {SERVER_INFO_META: self._info}
        self._encoded_ping = b"{}"

    def initialize(self, params: dict[str, Any] | None) -> tuple[str, bytes]:
        """The negotiated version and the ``initialize`` result (legacy era)."""
        negotiated = negotiate((params or {}).get("protocolVersion"))
        result = {
            "protocolVersion": negotiated,
            "capabilities": {"tools": {"listChanged": False}},
            "serverInfo": self._info,
            "instructions": INSTRUCTIONS,
        }
        return negotiated, msgspec.json.encode(result)

    async def dispatch(self, method: str, params: dict[str, Any] | None, ctx: CallContext) -> bytes:
        """The encoded result of ``method``.

        Raises:
            RpcError: the method is unknown for this era or its params are invalid.
        """
        if method == "tools/call":
            return await self._call_tool(params or {}, ctx)
        if method == "tools/list":
            await self._catalog.ensure_loaded()
            return self._catalog.list_page(
                ctx.grant.methods,
                ctx.grant.tags,
                (params or {}).get("cursor"),
                modern=ctx.modern,
                server_meta=self._server_meta,
            )
        if ctx.modern and method == "server/discover":
            return self._discover()
        if not ctx.modern and method == "ping":
            return self._encoded_ping
        raise RpcError(
            METHOD_NOT_FOUND,
            f"Method not found: {method[:100]}",
            status=404 if ctx.modern else None,
        )

    def _discover(self) -> bytes:
        return msgspec.json.encode(
            {
                "supportedVersions": [*MODERN_VERSIONS, *reversed(HANDSHAKE_VERSIONS)],
                "capabilities": {"tools": {"listChanged": False}},
                "instructions": INSTRUCTIONS,
                "resultType": "complete",
                "ttlMs": 300_000,
                "cacheScope": "private",
                "_meta": self._server_meta,
            }
        )

    async def _call_tool(self, params: dict[str, Any], ctx: CallContext) -> bytes:
        name = params.get("name")
        arguments = params.get("arguments")
        if not isinstance(name, str):
            raise RpcError(INVALID_PARAMS, "Invalid params: tools/call needs a tool name")
        if arguments is not None and not isinstance(arguments, dict):
            raise RpcError(INVALID_PARAMS, "Invalid params: arguments must be an object")
        trace.get_current_span().set_attribute("gen_ai.tool.name", name[:128])
        await self._catalog.ensure_loaded()
        grant = ctx.grant
        if self._catalog.find(name, grant.methods, grant.tags) is None:
            raise _unknown_tool(name)
        call = ToolCallRequest(
            server_id=grant.server_id,
            account_id=grant.account_id,
            tool=name,
            arguments=arguments or {},
            methods=grant.methods,
            tags=grant.tags,
            timeout=self._call_timeout,
        )
        try:
            result = await request(
                self._nc,
                self._subjects.tool_call,
                call,
                ToolCallResult,
                timeout=self._call_timeout + 1.0,
            )
        except NotFound:
            raise _unknown_tool(name) from None
        except StackmcpError as exc:
            return self._failure(_worker_failure(exc), ctx)
        return self._encode(result, ctx)

    def _encode(self, result: ToolCallResult, ctx: CallContext) -> bytes:
        body: dict[str, Any] = {
            "content": [{"type": "text", "text": result.content_text()}],
            "isError": result.is_error,
        }
        if not result.is_error:
            body["structuredContent"] = result.structured
        meta: dict[str, Any] = {}
        if result.rate_limit is not None:
            fields = result.rate_limit.fields()
            meta.update(fields)
            ctx.headers.update({k: str(v) for k, v in fields.items()})
        if ctx.modern:
            body["resultType"] = "complete"
            meta.update(self._server_meta)
        if meta:
            body["_meta"] = meta
        return msgspec.json.encode(body)

    def _failure(self, text: str, ctx: CallContext) -> bytes:
        body: dict[str, Any] = {"content": [{"type": "text", "text": text}], "isError": True}
        if ctx.modern:
            body["resultType"] = "complete"
            body["_meta"] = self._server_meta
        return msgspec.json.encode(body)


def _unknown_tool(name: str) -> RpcError:
    return RpcError(INVALID_PARAMS, f"Unknown tool: {name[:100]}")


def _worker_failure(exc: StackmcpError) -> str:
    if isinstance(exc, DeadlineExceeded):
        return (
            "The tool call did not finish in time. It may still complete: check the current "
            "state before repeating a write."
        )
    if isinstance(exc, Unavailable):
        return "The Better Stack worker is not available right now; try again in a few seconds."
    logger.warning("tool call failed in transit: %s", exc.code)
    return f"The tool call failed: {exc.message}"
