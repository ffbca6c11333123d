"""On-call calendars: who is on call (now or at ``?date=``), events and rotations."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from litestar import Request, Response
from litestar.handlers import HTTPRouteHandler

from stackmcp.sandbox import clock
from stackmcp.sandbox.crud import Hooks
from stackmcp.sandbox.envelope import (
    DEFAULT_PAGING,
    json_response,
    list_response,
    query,
    read_body,
    resource,
    single_response,
)
from stackmcp.sandbox.errors import ApiError, blank, field_error, not_found
from stackmcp.sandbox.fields import is_blank
from stackmcp.sandbox.routing import route
from stackmcp.sandbox.state import SandboxState, state_of
from stackmcp.sandbox.store import Row

__all__ = [
    "OnCallHooks",
    "Rotation",
    "add_event",
    "apply_rotation",
    "find_calendar",
    "generate_shifts",
    "on_call_routes",
    "on_call_users",
]

BASE = "/api/v2/on-calls"
INTERVALS = {
    "hour": dt.timedelta(hours=1),
    "day": dt.timedelta(days=1),
    "week": dt.timedelta(weeks=1),
}
MAX_SHIFTS = 5000


def find_calendar(state: SandboxState, raw: str) -> Row:
    """The calendar with this id, or the default one for ``default``; 404 otherwise."""
    if raw == "default":
        rows = state.store["on_calls"].where(default_calendar=True)
        if not rows:
            raise not_found()
        return rows[0]
    return state.store["on_calls"].require(raw)


def on_call_users(state: SandboxState, calendar: Row, at: dt.datetime) -> list[Row]:
    """Team members on call at ``at``: override events win over regular ones."""
    stamp = clock.iso(at)
    events = [
        e
        for e in state.store["on_call_events"].where(_calendar_id=calendar["id"])
        if e["starts_at"] <= stamp < e["ends_at"]
    ]
    overrides = [e for e in events if e["override"]]
    emails: list[str] = []
    for event in overrides or events:
        emails += [email for email in event["users"] if email not in emails]
    members = {m["email"]: m for m in state.store["team_members"]}
    return [members[email] for email in emails if email in members]


def _user(member: Row) -> dict[str, Any]:
    attributes = {k: member[k] for k in ("first_name", "last_name", "email", "phone_numbers")}
    return resource("user", member["id"], attributes)


def _present(
    state: SandboxState, calendar: Row, at: dt.datetime
) -> tuple[dict[str, Any], list[Row]]:
    users = on_call_users(state, calendar, at)
    refs = [{"id": str(u["id"]), "type": "user", "meta": {"email": u["email"]}} for u in users]
    attributes = {k: calendar[k] for k in ("name", "default_calendar", "team_name")}
    obj = resource(
        "on_call_calendar", calendar["id"], attributes, {"on_call_users": {"data": refs}}
    )
    return obj, users


class OnCallHooks(Hooks):
    """Generic create/update/delete of calendars, plus ``default`` as an id."""

    def prepare(
        self, state: SandboxState, row: Row, body: Mapping[str, Any], creating: bool
    ) -> None:
        """New calendars are never the default."""
        row.setdefault("default_calendar", False)

    def resolve_id(self, state: SandboxState, raw: str) -> object:
        """``default`` names the team's default calendar."""
        return find_calendar(state, raw)["id"] if raw == "default" else raw

    def before_delete(self, state: SandboxState, row: Row) -> None:
        """Refuse to delete the default calendar; drop the calendar's events."""
        if row["default_calendar"]:
            raise ApiError(422, "The default calendar cannot be deleted.")
        for event in state.store["on_call_events"].where(_calendar_id=row["id"]):
            state.store["on_call_events"].delete(event["id"])

    def relationships(self, state: SandboxState, row: Row) -> dict[str, Any] | None:
        """``on_call_users`` right now."""
        relationships: dict[str, Any] = _present(state, row, state.now())[0]["relationships"]
        return relationships


async def list_calendars(request: Request[Any, Any, Any]) -> Response[Any]:
    """``GET /api/v2/on-calls``: every calendar with who is on call now, users ``included``."""
    state = state_of(request)
    team = query(request).get("team_name")
    calendars = [c for c in state.store["on_calls"] if team in (None, c["team_name"])]
    objects = [_present(state, c, state.now())[0] for c in calendars]

    def included(page: list[dict[str, Any]]) -> list[dict[str, Any]]:
        ids = {ref["id"] for obj in page for ref in obj["relationships"]["on_call_users"]["data"]}
        return [_user(m) for m in state.store["team_members"] if str(m["id"]) in ids]

    return list_response(request, objects, DEFAULT_PAGING, included)


async def get_calendar(request: Request[Any, Any, Any]) -> Response[Any]:
    """``GET /api/v2/on-calls/{calendar_id}[?date=]``: the calendar and who is on call then."""
    state = state_of(request)
    calendar = find_calendar(state, request.path_params["calendar_id"])
    raw_date = query(request).get("date")
    at = state.now() if raw_date is None else clock.parse_time(raw_date)
    if at is None:
        raise ApiError(
            400, "The date could not be parsed; use ISO-8601, e.g. 2026-01-31T12:00:00Z."
        )
    obj, users = _present(state, calendar, at)
    return single_response(obj, 200, [_user(u) for u in users])


def _present_event(row: Row) -> dict[str, Any]:
    return {k: row[k] for k in ("id", "users", "starts_at", "ends_at", "override")}


async def list_events(request: Request[Any, Any, Any]) -> Response[Any]:
    """``GET /api/v2/on-calls/{calendar_id}/events``: raw ``{"events": [...]}``."""
    state = state_of(request)
    calendar = find_calendar(state, request.path_params["calendar_id"])
    rows = sorted(
        state.store["on_call_events"].where(_calendar_id=calendar["id"]),
        key=lambda e: (e["starts_at"], e["id"]),
    )
    return json_response({"events": [_present_event(e) for e in rows]})


def _users(state: SandboxState, raw: Any) -> list[str]:
    if is_blank(raw):
        raise blank("users")
    if not isinstance(raw, list) or not all(isinstance(u, str) for u in raw):
        raise field_error("users", "must be an array of e-mails")
    known = {m["email"] for m in state.store["team_members"]}
    unknown = [u for u in raw if u not in known]
    if unknown:
        raise field_error("users", f"are not members of the team: {', '.join(unknown)}")
    return list(raw)


def _time(body: Mapping[str, Any], name: str) -> dt.datetime:
    if is_blank(body.get(name)):
        raise blank(name)
    value = clock.parse_time(body[name])
    if value is None:
        raise field_error(name, "is not a valid date")
    return value


async def create_event(request: Request[Any, Any, Any]) -> Response[Any]:
    """``POST /api/v2/on-calls/{calendar_id}/events``: 200 with the raw event."""
    state = state_of(request)
    calendar = find_calendar(state, request.path_params["calendar_id"])
    body = await read_body(request)
    starts_at, ends_at = _time(body, "starts_at"), _time(body, "ends_at")
    users = _users(state, body.get("users"))
    if starts_at < clock.start_of_day(state.now()):
        raise field_error("starts_at", "must be today (00:00 UTC) or later")
    if ends_at <= starts_at:
        raise field_error("ends_at", "must be after starts_at")
    event = add_event(
        state, calendar, users, starts_at, ends_at, override=bool(body.get("override", False))
    )
    return json_response(_present_event(event))


def add_event(
    state: SandboxState,
    calendar: Row,
    users: list[str],
    starts: dt.datetime,
    ends: dt.datetime,
    *,
    override: bool = False,
) -> Row:
    """Store one on-call event."""
    row = {
        "users": users,
        "starts_at": clock.iso(starts),
        "ends_at": clock.iso(ends),
        "override": override,
        "_calendar_id": calendar["id"],
    }
    return state.store["on_call_events"].insert(row)


async def get_rotation(request: Request[Any, Any, Any]) -> Response[Any]:
    """``GET /api/v2/on-calls/{calendar_id}/rotation``: raw rotation, 404 if none."""
    state = state_of(request)
    calendar = find_calendar(state, request.path_params["calendar_id"])
    if calendar.get("_rotation") is None:
        raise not_found()
    return json_response(calendar["_rotation"])


def generate_shifts(
    users: list[str], length: int, interval: str, start: dt.datetime, end: dt.datetime
) -> list[tuple[str, dt.datetime, dt.datetime]]:
    """Consecutive shifts of ``length`` x ``interval`` from ``start`` to ``end``, users in turn."""
    step = INTERVALS[interval] * length
    shifts = []
    moment, turn = start, 0
    while moment < end:
        shifts.append((users[turn % len(users)], moment, min(moment + step, end)))
        moment, turn = moment + step, turn + 1
    return shifts


def _rotation_body(body: Mapping[str, Any]) -> tuple[int, str, dt.datetime, dt.datetime]:
    length = body.get("rotation_length")
    if is_blank(length):
        raise blank("rotation_length")
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise field_error("rotation_length", "must be a positive integer")
    interval = body.get("rotation_interval") or body.get("rotation_period")
    if is_blank(interval):
        raise blank("rotation_period")
    if interval not in INTERVALS:
        raise field_error("rotation_period", "is not included in the list")
    start, end = _time(body, "start_rotations_at"), _time(body, "end_rotations_at")
    if end <= start:
        raise field_error("end_rotations_at", "must be after start_rotations_at")
    if (end - start) / (INTERVALS[interval] * length) > MAX_SHIFTS:
        raise field_error(
            "end_rotations_at", f"the rotation would create more than {MAX_SHIFTS} shifts"
        )
    return length, str(interval), start, end


@dataclass(frozen=True)
class Rotation:
    """A rotation request: ``users`` take turns in shifts of ``length`` x ``interval``."""

    users: list[str]
    length: int
    interval: str
    start: dt.datetime
    end: dt.datetime


def apply_rotation(state: SandboxState, calendar: Row, rotation: Rotation) -> dict[str, Any]:
    """Replace the non-override events from today on with shifts generated from the rotation."""
    users, length, interval = rotation.users, rotation.length, rotation.interval
    start, end = rotation.start, rotation.end
    cut = max(clock.start_of_day(state.now()), start)
    stamp = clock.iso(cut)
    table = state.store["on_call_events"]
    for event in table.where(_calendar_id=calendar["id"], override=False):
        if event["starts_at"] >= stamp:
            table.delete(event["id"])
        elif event["ends_at"] > stamp:
            event["ends_at"] = stamp
    for user, shift_start, shift_end in generate_shifts(users, length, interval, start, end):
        if shift_end > cut:
            add_event(state, calendar, [user], max(shift_start, cut), shift_end)
    answer = {
        "rotation_length": length,
        "rotation_interval": interval,
        "start_rotations_at": clock.iso(start),
        "end_rotations_at": clock.iso(end),
        "users": users,
    }
    calendar["_rotation"] = answer
    return answer


async def create_rotation(request: Request[Any, Any, Any]) -> Response[Any]:
    """``POST /api/v2/on-calls/{calendar_id}/rotation``: 201 with the raw rotation."""
    state = state_of(request)
    calendar = find_calendar(state, request.path_params["calendar_id"])
    body = await read_body(request)
    users = _users(state, body.get("users"))
    length, interval, start, end = _rotation_body(body)
    rotation = Rotation(users, length, interval, start, end)
    return json_response(apply_rotation(state, calendar, rotation), 201)


def on_call_routes() -> list[HTTPRouteHandler]:
    """Handlers of the on-call read, event and rotation endpoints."""
    item = BASE + "/{calendar_id}"
    return [
        route("GET", BASE, list_calendars),
        route("GET", item, get_calendar),
        route("GET", item + "/events", list_events),
        route("POST", item + "/events", create_event),
        route("GET", item + "/rotation", get_rotation),
        route("POST", item + "/rotation", create_rotation),
    ]
