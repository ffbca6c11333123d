"""The grant's policy, re-checked on every call: filters, exclusions and pins.

The gateway applies the same rules before it forwards a call; the worker applies them again with
the shared functions of :mod:`stackmcp.contracts.policy`, so a call that slipped past (an old
gateway, a hand-made NATS message) meets the same answer as a tool the grant hides.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from stackmcp.contracts.filters import tool_matches
from stackmcp.contracts.grants import Grant, Pin
from stackmcp.contracts.policy import expose, pin_problem
from stackmcp.contracts.tools import ToolCallRequest, ToolDescriptor
from stackmcp.runtime.errors import InvalidArgument, NotFound

__all__ = ["check_exposed", "check_pins", "hidden", "keep_pinned", "pinned_ids"]

logger = logging.getLogger(__name__)


def hidden(tool_name: str) -> NotFound:
    """The error for a tool that does not exist or that the grant hides (the same for both)."""
    return NotFound(f"unknown tool: {tool_name[:80]}")


def check_exposed(tool: ToolDescriptor, request: ToolCallRequest) -> None:
    """Refuse ``tool`` unless the grant carried by ``request`` exposes it.

    Raises:
        NotFound: the methods and tags do not match, an exclusion names the tool or one of
            its tags, or it is a write that could act outside the pinned values.
    """
    if not tool_matches(tool, request.methods, request.tags):
        raise hidden(request.tool)
    if not (request.exclude_tags or request.exclude_tools or request.pin):
        return
    exposure = expose((tool,), _grant_of(request))
    if not exposure.tools:
        logger.info("refused %s: %s", tool.name, exposure.withheld.get(tool.name, "withheld"))
        raise hidden(request.tool)


def _grant_of(request: ToolCallRequest) -> Grant:
    return Grant(
        server_id=request.server_id,
        account_id=request.account_id,
        methods=request.methods,
        tags=request.tags,
        exclude_tags=request.exclude_tags,
        exclude_tools=request.exclude_tools,
        pin=request.pin,
    )


def check_pins(tool: ToolDescriptor, arguments: Mapping[str, Any], pins: Iterable[Pin]) -> None:
    """Refuse ``arguments`` that name a value outside the pins.

    Raises:
        InvalidArgument: a pinned parameter is missing or has another value.
    """
    problem = pin_problem(tool, arguments, pins)
    if problem is not None:
        raise InvalidArgument(problem)


def pinned_ids(tool: ToolDescriptor, pins: Iterable[Pin]) -> frozenset[str] | None:
    """The ids a list tool's items are limited to, or ``None`` when its items are not pinned."""
    if tool.item_id is None:
        return None
    values = [value for pin in pins if pin.param == tool.item_id for value in pin.values]
    return frozenset(values) if values else None


def keep_pinned(items: list[Any], ids: frozenset[str] | None) -> list[Any]:
    """The items whose ``id`` is one of ``ids`` (all of them when ``ids`` is ``None``)."""
    if ids is None:
        return items
    return [item for item in items if isinstance(item, dict) and str(item.get("id")) in ids]
