"""Pagination of list tools: ``limit`` and ``next_cursor`` in, one page and a new cursor out.

Two policies, chosen by the operation's :class:`~stackmcp.betterstack_worker.api.Page`:

* **upstream** — the API pages (``page``/``per_page``, ``pagination.next``). The cursor holds
  the next page number and the page size of the first call, which stays fixed for the walk
  (a different ``limit`` on a later call would skip or repeat items).
* **worker** — the API returns the whole list (timeline, comments, on-call events); the worker
  slices it. The cursor holds the next offset; ``limit`` may change between calls.

Either way the cursor also holds the call's other arguments (filters and path ids), so a cursor
replays the listing it came from. Arguments passed next to a cursor must agree with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from stackmcp.betterstack_worker.api import Page
from stackmcp.betterstack_worker.cursors import CursorSigner, CursorState
from stackmcp.runtime.errors import InvalidArgument

__all__ = ["PageWindow", "Pager"]

_PAGING = frozenset({"limit", "next_cursor"})


class PageWindow(msgspec.Struct, frozen=True, kw_only=True):
    """One page to fetch: the listing's arguments and where the page starts."""

    arguments: dict[str, Any]
    """The listing's own arguments (no ``limit``/``next_cursor``)."""
    limit: int
    page: int = 1
    """Upstream page number (upstream paging)."""
    offset: int = 0
    """Index of the first item (worker paging)."""

    def upstream_query(self, policy: Page) -> list[tuple[str, str]]:
        """``page``/``per_page`` for an upstream-paged list, nothing otherwise."""
        if not policy.upstream:
            return []
        return [("page", str(self.page)), ("per_page", str(self.limit))]


class Pager:
    """Open and close pages for one caller (account, MCP server, tool).

    Args:
        signer: shared cursor signer.
        account_id: the account the cursors are bound to.
        server_id: the MCP server the cursors are bound to.
        tool: the list tool.
    """

    def __init__(self, signer: CursorSigner, *, account_id: str, server_id: str, tool: str) -> None:
        self._signer = signer
        self._account_id = account_id
        self._server_id = server_id
        self._tool = tool

    def resume(self, arguments: Mapping[str, Any]) -> tuple[CursorState | None, dict[str, Any]]:
        """Verify ``next_cursor`` (if any) and return it with the arguments it stands for.

        The remembered arguments fill in what the call left out, so a model may pass just the
        cursor; arguments it does pass must agree with the cursor's.

        Raises:
            InvalidArgument: the cursor is refused, or other arguments contradict it.
        """
        cursor = arguments.get("next_cursor")
        if not cursor or not isinstance(cursor, str):
            return None, dict(arguments)
        state = self._signer.verify(
            cursor, account_id=self._account_id, server_id=self._server_id, tool=self._tool
        )
        _check_agrees({k: v for k, v in arguments.items() if k not in _PAGING}, state.query)
        return state, {**state.query, **arguments}

    def open(
        self, policy: Page, arguments: Mapping[str, Any], state: CursorState | None
    ) -> PageWindow:
        """The page to fetch for validated ``arguments`` and the state :meth:`resume` gave."""
        own = {k: v for k, v in arguments.items() if k not in _PAGING}
        limit = arguments.get("limit")
        if state is None:
            return PageWindow(arguments=own, limit=int(limit or policy.default_limit))
        size = state.per_page if policy.upstream or limit is None else int(limit)
        return PageWindow(arguments=own, limit=size, page=state.page, offset=state.offset)

    def close_upstream(self, window: PageWindow, items: list[Any], document: Any) -> str | None:
        """The cursor after an upstream page, or ``None`` at the end."""
        pagination = document.get("pagination") if isinstance(document, dict) else None
        if isinstance(pagination, dict):
            more = bool(pagination.get("next"))
        else:
            more = len(items) >= window.limit
        if not more or not items:
            return None
        return self._issue(window, page=window.page + 1)

    def slice(self, window: PageWindow, items: list[Any]) -> tuple[list[Any], str | None]:
        """The window's items of a whole list, and the cursor for the rest (``None`` at the end)."""
        end = window.offset + window.limit
        page = items[window.offset : end]
        return page, (self._issue(window, offset=end) if end < len(items) else None)

    def _issue(self, window: PageWindow, *, page: int = 1, offset: int = 0) -> str:
        state = CursorState(
            account_id=self._account_id,
            server_id=self._server_id,
            tool=self._tool,
            page=page,
            per_page=window.limit,
            offset=offset,
            query=window.arguments,
        )
        return self._signer.issue(state)


def _check_agrees(given: Mapping[str, Any], remembered: Mapping[str, Any]) -> None:
    differing = sorted(
        k for k, v in given.items() if remembered.get(k, v) != v or k not in remembered
    )
    if differing:
        raise InvalidArgument(
            "next_cursor continues a listing made with other arguments ("
            + ", ".join(differing)
            + "); pass the cursor with the same arguments, or none besides limit, or start "
            "over without next_cursor",
            fields={name: ["differs from the listing next_cursor continues"] for name in differing},
        )
