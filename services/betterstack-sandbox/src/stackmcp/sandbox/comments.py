"""Incident comments (v2 only); each comment also shows up as a ``comment`` timeline item."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.handlers import HTTPRouteHandler

from stackmcp.sandbox import clock
from stackmcp.sandbox.envelope import (
    json_response,
    no_content,
    read_body,
    resource,
    single_response,
)
from stackmcp.sandbox.errors import blank, field_error, not_found
from stackmcp.sandbox.fields import is_blank
from stackmcp.sandbox.routing import route
from stackmcp.sandbox.state import SandboxState, state_of
from stackmcp.sandbox.store import Row
from stackmcp.sandbox.timeline import add_item

__all__ = ["add_comment", "comment_routes", "present_comment"]

BASE = "/api/v2/incidents/{incident_id}/comments"


def present_comment(row: Row) -> dict[str, Any]:
    """``{"id", "type": "incident_comment", "attributes": {"id", "content", ...}}``."""
    attributes = {"id": row["id"], "content": row["content"]}
    if row.get("user_id") is not None:
        attributes.update(user_id=row["user_id"], user_email=row["user_email"])
    attributes.update(created_at=row["created_at"], updated_at=row["updated_at"])
    return resource("incident_comment", row["id"], attributes)


def _comment_data(state: SandboxState, row: Row) -> dict[str, Any]:
    user = state.store["team_members"].get(row.get("user_id"))
    author = (
        {"id": user["id"], "name": f"{user['first_name']} {user['last_name']}"} if user else None
    )
    return {"title": None, "content": {"text": row["content"], "user": author}, "attachments": []}


def add_comment(
    state: SandboxState, incident: Row, content: str, user: Row | None = None, at: str | None = None
) -> Row:
    """Store a comment and its timeline item."""
    stamp = at or clock.iso(state.now())
    row: Row = {
        "content": content,
        "created_at": stamp,
        "updated_at": stamp,
        "_incident_id": incident["id"],
    }
    if user is not None:
        row.update(user_id=user["id"], user_email=user["email"])
    state.store["incident_comments"].insert(row)
    add_item(state, incident, "comment", _comment_data(state, row), stamp, comment_id=row["id"])
    return row


def _content(body: dict[str, Any]) -> str:
    content = body.get("content")
    if is_blank(content):
        raise blank("content")
    if not isinstance(content, str):
        raise field_error("content", "must be a string")
    return content


def _load(request: Request[Any, Any, Any]) -> tuple[SandboxState, Row, Row]:
    state = state_of(request)
    incident = state.store["incidents"].require(request.path_params["incident_id"])
    comment = state.store["incident_comments"].require(request.path_params["comment_id"])
    if comment["_incident_id"] != incident["id"]:
        raise not_found()
    return state, incident, comment


async def list_comments(request: Request[Any, Any, Any]) -> Response[Any]:
    """Every comment of the incident (not paginated)."""
    state = state_of(request)
    incident = state.store["incidents"].require(request.path_params["incident_id"])
    rows = state.store["incident_comments"].where(_incident_id=incident["id"])
    return json_response({"data": [present_comment(r) for r in rows]})


async def get_comment(request: Request[Any, Any, Any]) -> Response[Any]:
    """One comment."""
    _, _, comment = _load(request)
    return single_response(present_comment(comment))


async def create_comment(request: Request[Any, Any, Any]) -> Response[Any]:
    """Post a comment (``content`` required)."""
    state = state_of(request)
    incident = state.store["incidents"].require(request.path_params["incident_id"])
    content = _content(await read_body(request))
    return single_response(present_comment(add_comment(state, incident, content)), 201)


async def update_comment(request: Request[Any, Any, Any]) -> Response[Any]:
    """Edit a comment's content (and its timeline item)."""
    state, _, comment = _load(request)
    comment["content"] = _content(await read_body(request))
    comment["updated_at"] = clock.iso(state.now())
    for item in state.store["timeline_items"].where(_comment_id=comment["id"]):
        item["data"] = _comment_data(state, comment)
    return single_response(present_comment(comment))


async def delete_comment(request: Request[Any, Any, Any]) -> Response[Any]:
    """Delete a comment and its timeline item."""
    state, _, comment = _load(request)
    state.store["incident_comments"].delete(comment["id"])
    for item in state.store["timeline_items"].where(_comment_id=comment["id"]):
        state.store["timeline_items"].delete(item["id"])
    return no_content()


def comment_routes() -> list[HTTPRouteHandler]:
    """Handlers of the comment endpoints."""
    item = BASE + "/{comment_id}"
    return [
        route("GET", BASE, list_comments),
        route("POST", BASE, create_comment),
        route("GET", item, get_comment),
        route("PATCH", item, update_comment),
        route("DELETE", item, delete_comment),
    ]
