"""Team-wide maintenance (``/api/v2/team-maintenance``): get, start (``PUT``) and end.

As Better Stack documents it (docs ``uptime/api/team-maintenance/{get,start,end}``): start takes
exactly one of ``duration`` (seconds from now) or ``until`` (an ISO 8601 time in the future),
each at most 1000 years away, and answers 200 with the team's maintenance state; on a team
already in maintenance it moves the end. End answers 204 whether or not the team was in
maintenance. Read-only tokens are refused by the gate (403) like every other write. The state
ends by itself once ``maintenance_to`` has passed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import Request, Response
from litestar.handlers import HTTPRouteHandler

from stackmcp.sandbox import clock
from stackmcp.sandbox.config import TEAM_NAME
from stackmcp.sandbox.envelope import no_content, query, read_body, resource, single_response
from stackmcp.sandbox.errors import ApiError, not_found
from stackmcp.sandbox.routing import route
from stackmcp.sandbox.state import SandboxState, state_of

__all__ = ["EXACTLY_ONE", "maintenance_routes", "maintenance_until"]

PATH = "/api/v2/team-maintenance"
TEAM_ID = "t1"
"""The sandbox team's id as Better Stack URLs show it (``t`` prefix)."""
EXACTLY_ONE = "Pass exactly one of `duration` (seconds) or `until` (an ISO 8601 time)."
LONGEST = dt.timedelta(days=1000 * 365)


def maintenance_until(state: SandboxState) -> dt.datetime | None:
    """When the team's maintenance ends, or ``None`` when it is not in maintenance."""
    rows = state.store["team_maintenance"].where()
    until = clock.parse_time(rows[0]["maintenance_to"]) if rows else None
    return until if until is not None and until > state.now() else None


def _check_team(values: dict[str, Any]) -> None:
    name, team_id = values.get("team_name"), values.get("team_id")
    if name not in (None, "", TEAM_NAME) or team_id not in (None, "", TEAM_ID):
        raise not_found()


def _present(state: SandboxState) -> Response[Any]:
    until = maintenance_until(state)
    attributes = {
        "team_name": TEAM_NAME,
        "maintenance": until is not None,
        "maintenance_to": clock.iso(until) if until else None,
    }
    return single_response(resource("team_maintenance", TEAM_ID, attributes))


def _end_time(state: SandboxState, body: dict[str, Any]) -> dt.datetime:
    duration, until = body.get("duration"), body.get("until")
    if (duration is None) == (until is None):
        raise ApiError(422, EXACTLY_ONE)
    now = state.now()
    if duration is not None:
        if isinstance(duration, bool) or not isinstance(duration, int) or duration <= 0:
            raise ApiError(422, EXACTLY_ONE)
        end = now + dt.timedelta(seconds=min(duration, int(LONGEST.total_seconds()) + 1))
    else:
        parsed = clock.parse_time(until) if isinstance(until, str) else None
        if parsed is None or parsed <= now:
            raise ApiError(422, EXACTLY_ONE)
        end = parsed
    if end - now > LONGEST:
        raise ApiError(422, EXACTLY_ONE)
    return end


async def get_maintenance(request: Request[Any, Any, Any]) -> Response[Any]:
    """``GET /api/v2/team-maintenance``: whether the team is in maintenance, and until when."""
    state = state_of(request)
    _check_team(query(request))
    return _present(state)


async def start_maintenance(request: Request[Any, Any, Any]) -> Response[Any]:
    """``PUT /api/v2/team-maintenance``: start (or move the end of) team-wide maintenance."""
    state = state_of(request)
    body = await read_body(request)
    _check_team(body)
    end = _end_time(state, body)
    table = state.store["team_maintenance"]
    for row in table.where():
        table.delete(row["id"])
    table.insert({"maintenance_to": clock.iso(end), "started_at": clock.iso(state.now())})
    return _present(state)


async def end_maintenance(request: Request[Any, Any, Any]) -> Response[Any]:
    """``DELETE /api/v2/team-maintenance``: end it now (204 also when there was none)."""
    state = state_of(request)
    _check_team(query(request))
    table = state.store["team_maintenance"]
    for row in table.where():
        table.delete(row["id"])
    return no_content()


def maintenance_routes() -> list[HTTPRouteHandler]:
    """The three team-maintenance handlers."""
    return [
        route("GET", PATH, get_maintenance),
        route("PUT", PATH, start_maintenance),
        route("DELETE", PATH, end_maintenance),
    ]
