"""The worker's tool catalogue as the gateway serves it: fetched over NATS, filtered per grant,
encoded once per catalogue version, filter, page and era.

``tools/list`` is answered from bytes cached under ``(version, methods, tags, offset, era)``;
nothing is encoded per request. The catalogue is re-checked every ``refresh`` seconds with the
version the gateway holds, so the worker only sends tools when they changed.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
from collections.abc import Iterable
from typing import Any

import msgspec
from nats.aio.client import Client

from stackmcp.contracts.filters import filter_tools
from stackmcp.contracts.mcp_tools import mcp_tool
from stackmcp.contracts.subjects import Subjects
from stackmcp.contracts.tools import CatalogRequest, CatalogResponse, ToolDescriptor
from stackmcp.gateway.jsonrpc import INVALID_PARAMS, RpcError
from stackmcp.runtime.errors import StackmcpError, Unavailable
from stackmcp.runtime.natsx import request

__all__ = ["ToolCatalog"]

logger = logging.getLogger(__name__)

_Key = tuple[tuple[str, ...], tuple[str, ...]]


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
        self._views: dict[_Key, dict[str, ToolDescriptor]] = {}
        self._pages: dict[tuple[_Key, int, bool], bytes] = {}
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

    def visible(self, methods: Iterable[str], tags: Iterable[str]) -> dict[str, ToolDescriptor]:
        """The tools a grant with this filter may see and call, by name, in catalogue order."""
        key = (tuple(methods), tuple(tags))
        view = self._views.get(key)
        if view is None:
            view = {t.name: t for t in filter_tools(self._tools, key[0], key[1])}
            self._views[key] = view
        return view

    def find(self, name: str, methods: Iterable[str], tags: Iterable[str]) -> ToolDescriptor | None:
        """The tool ``name`` if the filter exposes it (a hidden tool is as absent as unknown)."""
        return self.visible(methods, tags).get(name)

    def exists(self, name: str) -> bool:
        """Whether the catalogue has a tool ``name``, whatever a grant may see."""
        return name in self._names

    def list_page(
        self,
        methods: tuple[str, ...],
        tags: tuple[str, ...],
        cursor: object,
        *,
        modern: bool,
        server_meta: dict[str, Any] | None = None,
    ) -> bytes:
        """The encoded ``tools/list`` result for one page.

        Raises:
            RpcError: ``-32602`` for a cursor this gateway did not issue for this catalogue.
        """
        key = (methods, tags)
        offset = self._offset(cursor)
        cached = self._pages.get((key, offset, modern))
        if cached is not None:
            return cached
        tools = list(self.visible(methods, tags).values())
        if offset > len(tools):
            raise RpcError(INVALID_PARAMS, "Invalid params: unknown cursor")
        page = tools[offset : offset + self._page_size]
        result: dict[str, Any] = {"tools": [mcp_tool(t) for t in page]}
        end = offset + len(page)
        if end < len(tools):
            result["nextCursor"] = self._cursor(end)
        if modern:
            result.update(resultType="complete", ttlMs=60_000, cacheScope="private")
            if server_meta:
                result["_meta"] = server_meta
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
