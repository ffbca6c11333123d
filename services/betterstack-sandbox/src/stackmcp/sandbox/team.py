"""Team members and invitations (the ``betterstack.com`` host endpoints, served here too)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.handlers import HTTPRouteHandler

from stackmcp.sandbox import clock
from stackmcp.sandbox.config import TEAM_NAME
from stackmcp.sandbox.envelope import (
    json_response,
    no_content,
    query,
    read_body,
    resource,
    single_response,
)
from stackmcp.sandbox.errors import ApiError, not_found
from stackmcp.sandbox.fields import is_blank
from stackmcp.sandbox.routing import route
from stackmcp.sandbox.state import SandboxState, state_of
from stackmcp.sandbox.store import Row

__all__ = ["INVITABLE_ROLES", "present_member", "team_routes"]

BASE = "/api/v2/team-members"
INVITABLE_ROLES = ("responder", "member", "team_lead", "billing_admin")
INVALID_ROLE = "Invalid role. Allowed roles: responder, member, team_lead, billing_admin"
MEMBER_KEYS = (
    "email",
    "first_name",
    "last_name",
    "role",
    "team_name",
    "created_at",
    "mobile_app_platforms",
)


def present_member(row: Row) -> dict[str, Any]:
    """A ``team_member`` object."""
    return resource("team_member", row["id"], {k: row.get(k) for k in MEMBER_KEYS})


def _present_invitation(row: Row) -> dict[str, Any]:
    attributes = {k: row[k] for k in ("email", "role", "team_name", "invited_at")}
    return resource("team_member_invitation", row["id"], attributes)


def _find(
    state: SandboxState, request: Request[Any, Any, Any]
) -> tuple[str, Row | None, Row | None]:
    email = query(request).get("email", "").strip().lower()
    if not email:
        raise ApiError(422, "Email is required")
    members = [m for m in state.store["team_members"] if m["email"].lower() == email]
    invites = [i for i in state.store["team_invitations"] if i["email"].lower() == email]
    return email, members[0] if members else None, invites[0] if invites else None


async def find_member(request: Request[Any, Any, Any]) -> Response[Any]:
    """``GET /api/v2/team-members?email=``: the member or pending invitation, else 404."""
    _, member, invitation = _find(state_of(request), request)
    if member is not None:
        return single_response(present_member(member))
    if invitation is not None:
        return single_response(_present_invitation(invitation))
    raise not_found()


def _role(state: SandboxState, body: dict[str, Any]) -> str:
    if not is_blank(body.get("role_id")):
        role = state.store["roles"].get(body["role_id"])
        if role is None or role["role"] not in INVITABLE_ROLES:
            raise ApiError(422, INVALID_ROLE)
        return str(role["role"])
    role_name = body.get("role") or "responder"
    if role_name not in INVITABLE_ROLES:
        raise ApiError(422, INVALID_ROLE)
    return str(role_name)


async def invite_member(request: Request[Any, Any, Any]) -> Response[Any]:
    """``POST /api/v2/team-members``: 201 invitation sent, 200 when already a member."""
    state = state_of(request)
    body = await read_body(request)
    email = body.get("email")
    if is_blank(email) or not isinstance(email, str):
        raise ApiError(422, "Email is required")
    if "@" not in email:
        raise ApiError(422, "Email is invalid")
    role = _role(state, body)
    member = next(
        (m for m in state.store["team_members"] if m["email"].lower() == email.lower()), None
    )
    if member is not None:
        return json_response(
            {"message": "User is already a member of the team", "data": present_member(member)}
        )
    invitation = next(
        (i for i in state.store["team_invitations"] if i["email"].lower() == email.lower()), None
    )
    if invitation is None:
        team = query(request).get("team_name") or TEAM_NAME
        row = {
            "email": email,
            "role": role,
            "team_name": team,
            "invited_at": clock.iso(state.now()),
        }
        invitation = state.store["team_invitations"].insert(row)
    invitation["role"] = role
    return json_response(
        {"message": "Invitation sent", "data": _present_invitation(invitation)}, 201
    )


async def change_role(request: Request[Any, Any, Any]) -> Response[Any]:
    """``POST /api/v2/team-members/{member_id}/change-role/{role_id}``."""
    state = state_of(request)
    member = state.store["team_members"].require(request.path_params["member_id"])
    role = state.store["roles"].require(request.path_params["role_id"])
    member["role"] = role["role"]
    return single_response(present_member(member))


async def remove_member(request: Request[Any, Any, Any]) -> Response[Any]:
    """``DELETE /api/v2/team-members?email=``: removes the member or invitation; 404 if none."""
    state = state_of(request)
    _, member, invitation = _find(state, request)
    if member is None and invitation is None:
        raise not_found()
    if member is not None:
        state.store["team_members"].delete(member["id"])
    if invitation is not None:
        state.store["team_invitations"].delete(invitation["id"])
    return no_content()


def team_routes() -> list[HTTPRouteHandler]:
    """Handlers of the team-member endpoints (roles are a generic list)."""
    return [
        route("GET", BASE, find_member),
        route("POST", BASE, invite_member),
        route("DELETE", BASE, remove_member),
        route("POST", BASE + "/{member_id}/change-role/{role_id}", change_role),
    ]
