"""The worker's tool catalogue as the gateway serves it: fetched over NATS, filtered per grant,
encoded once per catalogue version, filter, page and era.

``tools/list`` is answered from bytes cached per catalogue version, grant policy
(:func:`policy_key`), page and era; nothing is encoded per request. A grant's view applies every
rule of :mod:`stackmcp.contracts.policy` (methods, tags, exclusions, pins) and, for tools that
need confirmation, adds the optional ``confirm_token`` argument. The catalogue is re-checked
every ``refresh`` seconds with the version the gateway holds, so the worker only sends tools
when they changed.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import msgspec
from nats.aio.client import Client

from stackmcp.contracts.grants import Grant
from stackmcp.contracts.mcp_tools import mcp_tool
from stackmcp.contracts.policy import expose, needs_confirmation
from stackmcp.contracts.subjects import Subjects
from stackmcp.contracts.tools import CatalogRequest, CatalogResponse, ToolDescriptor
from stackmcp.gateway.confirm import CONFIRM_TOKEN_ARG
from stackmcp.gateway.jsonrpc import INVALID_PARAMS, RpcError
from stackmcp.runtime.errors import StackmcpError, Unavailable
from stackmcp.runtime.natsx import request

__all__ = ["WITHHELD_META", "GrantView", "ToolCatalog", "policy_key"]

logger = logging.getLogger(__name__)

WITHHELD_META = "stackmcp/withheld"
"""``tools/list`` ``_meta`` key: tool name → why this server withholds it (exclusions, pins)."""


def policy_key(grant: Grant) -> Hashable:
    """What decides a grant's tool view: grants with equal keys see the same tools."""
    return (
        grant.methods,
        grant.tags,
        grant.exclude_tags,
        grant.exclude_tools,
        grant.pin,
        grant.confirm,
    )


@dataclass(frozen=True)
class GrantView:
    """The tools one grant exposes, by name in catalogue order, and those it withholds."""

    tools: dict[str, ToolDescriptor]
    withheld: dict[str, str]


def _with_confirmation(tool: ToolDescriptor) -> ToolDescriptor:
    """``tool`` with the optional ``confirm_token`` argument and, in its output schema, the
    ``confirmation`` a first call answers with."""
    schema = dict(tool.input_schema)
    schema["properties"] = {
        **schema.get("properties", {}),
        CONFIRM_TOKEN_ARG: {
            "type": "string",
            "description": (
                "Only after the user approved the plan a first call returned: the "
                "confirm_token from that plan, with the same arguments. Never invent one."
            ),
        },
    }
    output = tool.output_schema
    if output is not None:
        output = dict(output)
        required = output.pop("required", None)
        output["properties"] = {
            **output.get("properties", {}),
            "confirmation": {
                "type": "object",
                "description": "Instead of result when the call needs the user's confirmation",
            },
        }
        if required:
            output["anyOf"] = [{"required": required}, {"required": ["confirmation"]}]
    return msgspec.structs.replace(tool, input_schema=schema, output_schema=output)


class ToolCatalog:
    """The current catalogue and its per-filter views.

    Args:
        nc: NATS client.
        subjects: subject names.
        page_size: tools per ``tools/list`` page.
        timeout: seconds to wait for ``catalog.get``.
    """

    def __init__(
        self, nc: Client, subjects: Subjects, *, page_size: int = 200, timeout: float = 5.0
    ) -> None:
        self._nc = nc
        self._subjects = subjects
        self._page_size = page_size
        self._timeout = timeout
        self.version = ""
        self._tools: tuple[ToolDescriptor, ...] = ()
        self._names: frozenset[str] = frozenset()
        self._views: dict[Hashable, GrantView] = {}
        self._pages: dict[tuple[Hashable, int, bool], bytes] = {}
        self._lock = asyncio.Lock()

    @property
    def loaded(self) -> bool:
        """Whether a catalogue has been received."""
        return bool(self.version)

    async def refresh(self) -> bool:
        """Ask the worker for the catalogue; return whether it changed.

        Raises:
            StackmcpError: the worker did not answer.
        """
        async with self._lock:
            answer = await request(
                self._nc,
                self._subjects.catalog_get,
                CatalogRequest(known_version=self.version),
                CatalogResponse,
                timeout=self._timeout,
            )
            if answer.unchanged or answer.version == self.version:
                return False
            self._tools = answer.tools
            self._names = frozenset(t.name for t in answer.tools)
            self._views.clear()
            self._pages.clear()
            self.version = answer.version
            logger.info("tool catalogue %s loaded: %d tools", self.version[:12], len(self._tools))
            return True

    async def ensure_loaded(self) -> None:
        """Load the catalogue if none is held yet.

        Raises:
            Unavailable: no worker answered.
        """
        if self.loaded:
            return
        try:
            await self.refresh()
        except StackmcpError as exc:
            raise Unavailable("the tool catalogue is not available yet") from exc

    async def keep_fresh(self, interval: float, stop: asyncio.Event) -> None:
        """Refresh every ``interval`` seconds until ``stop`` is set (errors are logged)."""
        while not stop.is_set():
            try:
                await self.refresh()
            except StackmcpError as exc:
                logger.warning("catalogue refresh failed: %s", exc.code)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval if self.loaded else 1.0)

    def view(self, grant: Grant) -> GrantView:
        """The tools ``grant`` may see and call (pinned and confirmation schemas applied), and
        those its exclusions and pins withhold; built once per policy and catalogue."""
        key = policy_key(grant)
        view = self._views.get(key)
        if view is None:
            exposure = expose(self._tools, grant)
            tools = {
                t.name: _with_confirmation(t) if needs_confirmation(t, grant.confirm) else t
                for t in exposure.tools
            }
            view = GrantView(tools=tools, withheld=exposure.withheld)
            self._views[key] = view
        return view

    def find(self, name: str, grant: Grant) -> ToolDescriptor | None:
        """The tool ``name`` if ``grant`` exposes it (a hidden tool is as absent as unknown)."""
        return self.view(grant).tools.get(name)

    def exists(self, name: str) -> bool:
        """Whether the catalogue has a tool ``name``, whatever a grant may see."""
        return name in self._names

    def list_page(
        self,
        grant: Grant,
        cursor: object,
        *,
        modern: bool,
        server_meta: dict[str, Any] | None = None,
    ) -> bytes:
        """The encoded ``tools/list`` result for one page; the first page's ``_meta`` names
        the tools the grant withholds and why.

        Raises:
            RpcError: ``-32602`` for a cursor this gateway did not issue for this catalogue.
        """
        key = policy_key(grant)
        offset = self._offset(cursor)
        cached = self._pages.get((key, offset, modern))
        if cached is not None:
            return cached
        view = self.view(grant)
        tools = list(view.tools.values())
        if offset > len(tools):
            raise RpcError(INVALID_PARAMS, "Invalid params: unknown cursor")
        page = tools[offset : offset + self._page_size]
        result: dict[str, Any] = {"tools": [mcp_tool(t) for t in page]}
        end = offset + len(page)
        if end < len(tools):
            result["nextCursor"] = self._cursor(end)
        meta: dict[str, Any] = {}
        if view.withheld and offset == 0:
            meta[WITHHELD_META] = view.withheld
        if modern:
            result.update(resultType="complete", ttlMs=60_000, cacheScope="private")
            meta.update(server_meta or {})
        if meta:
            result["_meta"] = meta
        encoded = msgspec.json.encode(result)
        self._pages[(key, offset, modern)] = encoded
        return encoded

    def _cursor(self, offset: int) -> str:
        raw = f"{self.version[:16]}:{offset}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def _offset(self, cursor: object) -> int:
        if cursor is None:
            return 0
        if not isinstance(cursor, str):
            raise RpcError(INVALID_PARAMS, "Invalid params: cursor must be a string")
        try:
            text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
            version, _, offset = text.partition(":")
            if version != self.version[:16]:
                raise ValueError(version)
            return int(offset)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise RpcError(
                INVALID_PARAMS,
                "Invalid params: unknown or outdated cursor; list tools again without a cursor",
            ) from None
