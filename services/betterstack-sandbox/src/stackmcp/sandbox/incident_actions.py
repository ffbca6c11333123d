"""Incident state machine: acknowledge, resolve, escalate and reopen (each adds a timeline item)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.handlers import HTTPRouteHandler

from stackmcp.sandbox import clock
from stackmcp.sandbox.config import TEAM_NAME
from stackmcp.sandbox.envelope import read_body, single_response
from stackmcp.sandbox.errors import ApiError, blank, field_error, not_found
from stackmcp.sandbox.fields import is_blank
from stackmcp.sandbox.incidents import (
    create_incident,
    delete_incident,
    get_incident,
    list_incidents,
    present_incident,
    version_of,
)
from stackmcp.sandbox.oncall import find_calendar, on_call_users
from stackmcp.sandbox.routing import route
from stackmcp.sandbox.state import SandboxState, state_of
from stackmcp.sandbox.store import Row
from stackmcp.sandbox.timeline import add_transition, timeline

__all__ = ["acknowledge", "escalate", "incident_routes", "reopen", "resolve", "resolve_incident"]

ESCALATION_TYPES = ("User", "Team", "Schedule", "Policy", "Organization")
TEAM_ID = 1


def _actor(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    return value if isinstance(value, str) and value.strip() else "API"


async def _load(request: Request[Any, Any, Any]) -> tuple[SandboxState, Row, dict[str, Any]]:
    state = state_of(request)
    row = state.store["incidents"].require(request.path_params["incident_id"])
    return state, row, await read_body(request)


def _answer(request: Request[Any, Any, Any], state: SandboxState, row: Row) -> Response[Any]:
    return single_response(present_incident(state, row, version_of(request)))


def acknowledge_incident(state: SandboxState, row: Row, by: str) -> None:
    """Started → Acknowledged; 409 once ``acknowledged_at`` is set (resolving also sets it)."""
    if row["acknowledged_at"] is not None:
        raise ApiError(409, "Incident was already acknowledged")
    row.update(acknowledged_at=clock.iso(state.now()), acknowledged_by=by, status="Acknowledged")
    add_transition(state, row, f"Incident acknowledged by {by}", row["acknowledged_at"])


def resolve_incident(state: SandboxState, row: Row, by: str) -> None:
    """Any open state → Resolved (acknowledging too if needed); 409 when already resolved."""
    if row["status"] == "Resolved":
        raise ApiError(409, "Incident was already resolved")
    stamp = clock.iso(state.now())
    if row["acknowledged_at"] is None:
        row.update(acknowledged_at=stamp, acknowledged_by=by)
    row.update(resolved_at=stamp, resolved_by=by, status="Resolved")
    add_transition(state, row, f"Incident resolved by {by}", stamp)


async def acknowledge(request: Request[Any, Any, Any]) -> Response[Any]:
    """``POST …/incidents/{incident_id}/acknowledge``."""
    state, row, body = await _load(request)
    acknowledge_incident(state, row, _actor(body, "acknowledged_by"))
    return _answer(request, state, row)


async def resolve(request: Request[Any, Any, Any]) -> Response[Any]:
    """``POST …/incidents/{incident_id}/resolve``."""
    state, row, body = await _load(request)
    resolve_incident(state, row, _actor(body, "resolved_by"))
    return _answer(request, state, row)


async def reopen(request: Request[Any, Any, Any]) -> Response[Any]:
    """``POST /api/v3/incidents/{incident_id}/reopen``: Resolved → Started, else 409."""
    state, row, body = await _load(request)
    if row["status"] != "Resolved":
        raise ApiError(409, "Only resolved incidents can be reopened.")
    by = _actor(body, "reopened_by")
    row.update(
        status="Started",
        reopened_at=clock.iso(state.now()),
        reopened_by=by,
        resolved_at=None,
        resolved_by=None,
        acknowledged_at=None,
        acknowledged_by=None,
    )
    add_transition(state, row, f"Incident reopened by {by}", row["reopened_at"])
    return _answer(request, state, row)


def _member(state: SandboxState, body: dict[str, Any]) -> str:
    if not is_blank(body.get("user_id")):
        return str(state.store["team_members"].require(body["user_id"])["email"])
    if is_blank(body.get("user_email")):
        raise blank("user_email")
    if not state.store["team_members"].where(email=body["user_email"]):
        raise not_found()
    return str(body["user_email"])


def _team(body: dict[str, Any]) -> str:
    if not is_blank(body.get("team_id")):
        if str(body["team_id"]) != str(TEAM_ID):
            raise not_found()
        return f"team {TEAM_NAME}"
    if is_blank(body.get("team_name")):
        raise blank("team_name")
    if body["team_name"] != TEAM_NAME:
        raise not_found()
    return f"team {TEAM_NAME}"


def _schedule(state: SandboxState, body: dict[str, Any]) -> str:
    if is_blank(body.get("schedule_id")):
        raise blank("schedule_id")
    calendar = find_calendar(state, str(body["schedule_id"]))
    people = ", ".join(u["email"] for u in on_call_users(state, calendar, state.now())) or "nobody"
    return f"on-call schedule {calendar['name'] or 'Default'} (on call: {people})"


def _policy(state: SandboxState, row: Row, body: dict[str, Any]) -> str:
    if is_blank(body.get("policy_id")):
        raise blank("policy_id")
    policy = state.store["policies"].require(body["policy_id"])
    row["escalation_policy_id"] = policy["id"]
    return f"escalation policy {policy['name']}"


def _target(state: SandboxState, row: Row, body: dict[str, Any]) -> str:
    kind = body.get("escalation_type")
    if is_blank(kind):
        raise blank("escalation_type")
    if kind not in ESCALATION_TYPES:
        raise field_error(
            "escalation_type", f"is not included in the list ({', '.join(ESCALATION_TYPES)})"
        )
    if kind == "User":
        return _member(state, body)
    if kind == "Team":
        return _team(body)
    if kind == "Schedule":
        return _schedule(state, body)
    if kind == "Policy":
        return _policy(state, row, body)
    return "the entire organization"


async def escalate(request: Request[Any, Any, Any]) -> Response[Any]:
    """``POST /api/v3/incidents/{incident_id}/escalate``: 409 when resolved, 422 on a bad target."""
    state, row, body = await _load(request)
    if row["status"] == "Resolved":
        raise ApiError(409, "Cannot escalate a resolved incident.")
    target = _target(state, row, body)
    channels = [
        c for c in ("call", "sms", "email", "push", "critical_alert") if body.get(c) is True
    ]
    suffix = f" via {', '.join(channels)}" if channels else ""
    add_transition(state, row, f"Incident escalated to {target}{suffix}")
    return _answer(request, state, row)


def incident_routes() -> list[HTTPRouteHandler]:
    """Handlers of the v2 and v3 incident endpoints (comments live in :mod:`comments`)."""
    routes = []
    for version in ("v2", "v3"):
        base = f"/api/{version}/incidents"
        item = base + "/{incident_id}"
        routes += [
            route("GET", base, list_incidents),
            route("POST", base, create_incident),
            route("GET", item, get_incident),
            route("DELETE", item, delete_incident),
            route("POST", item + "/acknowledge", acknowledge),
            route("POST", item + "/resolve", resolve),
            route("GET", item + "/timeline", timeline),
        ]
    routes += [
        route("POST", "/api/v3/incidents/{incident_id}/escalate", escalate),
        route("POST", "/api/v3/incidents/{incident_id}/reopen", reopen),
    ]
    return routes
