"""Incident timelines: every transition and comment appends a ``timeline_item``."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response

from stackmcp.sandbox import clock
from stackmcp.sandbox.envelope import json_response, resource
from stackmcp.sandbox.state import SandboxState, state_of
from stackmcp.sandbox.store import Row

__all__ = ["add_item", "add_transition", "items_of", "present_item", "timeline"]


def add_item(
    state: SandboxState,
    incident: Row,
    item_type: str,
    data: dict[str, Any],
    at: str | None = None,
    **private: Any,
) -> Row:
    """Append a timeline item to ``incident``; extra ``_private`` keys link it to its source."""
    row = {
        "item_type": item_type,
        "at": at or clock.iso(state.now()),
        "data": data,
        "_incident_id": incident["id"],
    }
    row.update({f"_{key}": value for key, value in private.items()})
    return state.store["timeline_items"].insert(row)


def add_transition(state: SandboxState, incident: Row, title: str, at: str | None = None) -> Row:
    """Append a ``generic`` item titled e.g. ``Incident acknowledged by alice@example.com``."""
    return add_item(state, incident, "generic", {"title": title}, at)


def items_of(state: SandboxState, incident: Row) -> list[Row]:
    """The incident's timeline, oldest first."""
    rows = state.store["timeline_items"].where(_incident_id=incident["id"])
    return sorted(rows, key=lambda r: (r["at"], r["id"]))


def present_item(row: Row) -> dict[str, Any]:
    """The resource object of a timeline item."""
    attributes = {"item_type": row["item_type"], "at": row["at"], "data": row["data"]}
    return resource("timeline_item", row["id"], attributes)


async def timeline(request: Request[Any, Any, Any]) -> Response[Any]:
    """``GET /api/v{2,3}/incidents/{incident_id}/timeline``: every item, not paginated."""
    state = state_of(request)
    incident = state.store["incidents"].require(request.path_params["incident_id"])
    return json_response({"data": [present_item(r) for r in items_of(state, incident)]})
