"""Incidents (v2 and v3): list with filters, get with the triggering monitor, create, delete."""

from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import Request, Response

from stackmcp.sandbox import clock
from stackmcp.sandbox.catalog import spec_for
from stackmcp.sandbox.config import TEAM_NAME
from stackmcp.sandbox.crud import present
from stackmcp.sandbox.envelope import (
    Paging,
    list_response,
    no_content,
    query,
    read_body,
    resource,
    single_response,
)
from stackmcp.sandbox.errors import ApiError, field_error, not_found
from stackmcp.sandbox.fields import Field, apply_body, is_blank
from stackmcp.sandbox.metadata import flat_metadata, normalise_values, set_metadata, typed_metadata
from stackmcp.sandbox.state import SandboxState, state_of
from stackmcp.sandbox.store import Row
from stackmcp.sandbox.timeline import add_transition

__all__ = [
    "INCIDENT_PAGING",
    "create_incident",
    "delete_incident",
    "get_incident",
    "list_incidents",
    "new_incident",
    "present_incident",
]

INCIDENT_PAGING = Paging(default=10, maximum=50)
CREATE_FIELDS = {
    "name": Field("str"),
    "summary": Field("str"),
    "description": Field("str"),
    "requester_email": Field("str"),
    "call": Field("bool"),
    "sms": Field("bool"),
    "email": Field("bool"),
    "push": Field("bool"),
    "critical_alert": Field("bool"),
    "team_wait": Field("int"),
    "policy_id": Field("idstr"),
    "metadata": Field("dict"),
}


def version_of(request: Request[Any, Any, Any]) -> int:
    """2 or 3, from the path."""
    return 3 if request.url.path.startswith("/api/v3/") else 2


def _source(row: Row) -> tuple[str, str, int] | None:
    if row.get("_monitor_id") is not None:
        return "monitor", "monitors", row["_monitor_id"]
    if row.get("_heartbeat_id") is not None:
        return "heartbeat", "heartbeats", row["_heartbeat_id"]
    return None


def present_incident(state: SandboxState, row: Row, version: int) -> dict[str, Any]:
    """The incident object; ``metadata`` is typed in v3 and flat in v2."""
    attributes = {k: v for k, v in row.items() if k != "id" and not k.startswith("_")}
    if version == 3:
        attributes["metadata"] = typed_metadata(state, "Incident", row["id"])
    else:
        attributes.pop("slack_channels", None)
        attributes["metadata"] = flat_metadata(state, "Incident", row["id"])
    source = _source(row)
    relationships = {}
    if source is not None:
        relationships[source[0]] = {"data": {"id": str(source[2]), "type": source[0]}}
    return resource("incident", row["id"], attributes, relationships)


def _included(state: SandboxState, row: Row) -> Any:
    source = _source(row)
    target = state.store[source[1]].get(source[2]) if source else None
    return present(state, spec_for(source[1]), target) if source and target else None


def _bool_param(params: dict[str, str], name: str) -> bool | None:
    value = params.get(name)
    if value is None:
        return None
    if value.lower() not in ("true", "false", "1", "0"):
        raise ApiError(400, f"Parameter {name} must be true or false.")
    return value.lower() in ("true", "1")


def _day_param(params: dict[str, str], name: str) -> dt.date | None:
    if name not in params:
        return None
    day = clock.parse_day(params[name])
    if day is None:
        raise ApiError(400, f"Parameter {name} must be a date formatted YYYY-MM-DD.")
    return day


def _matches(state: SandboxState, row: Row, params: dict[str, str]) -> bool:
    started = row["started_at"][:10]
    since, until = _day_param(params, "from"), _day_param(params, "to")
    if (since and started < since.isoformat()) or (until and started > until.isoformat()):
        return False
    for param, key in (("monitor_id", "_monitor_id"), ("heartbeat_id", "_heartbeat_id")):
        if param in params and str(row.get(key)) != params[param]:
            return False
    resolved, acknowledged = _bool_param(params, "resolved"), _bool_param(params, "acknowledged")
    if resolved is not None and (row["status"] == "Resolved") != resolved:
        return False
    if acknowledged is not None and (row["acknowledged_at"] is not None) != acknowledged:
        return False
    if "team_name" in params and row["team_name"] != params["team_name"]:
        return False
    metadata = flat_metadata(state, "Incident", row["id"])
    wanted = {
        k[9:-1]: v for k, v in params.items() if k.startswith("metadata[") and k.endswith("]")
    }
    return all(value in metadata.get(key, "").split(", ") for key, value in wanted.items())


async def list_incidents(request: Request[Any, Any, Any]) -> Response[Any]:
    """``GET /api/v{2,3}/incidents``: newest first, default 10 and at most 50 per page."""
    state = state_of(request)
    params = query(request)
    rows = [row for row in state.store["incidents"] if _matches(state, row, params)]
    rows.sort(key=lambda r: (r["started_at"], r["id"]), reverse=True)
    version = version_of(request)
    return list_response(
        request, [present_incident(state, r, version) for r in rows], INCIDENT_PAGING
    )


async def get_incident(request: Request[Any, Any, Any]) -> Response[Any]:
    """``GET /api/v{2,3}/incidents/{incident_id}`` with ``included`` = the monitor object."""
    state = state_of(request)
    row = state.store["incidents"].require(request.path_params["incident_id"])
    return single_response(
        present_incident(state, row, version_of(request)), 200, _included(state, row)
    )


def new_incident(
    state: SandboxState, name: str, cause: str, started_at: dt.datetime, **attributes: Any
) -> Row:
    """Store a ``Started`` incident and its first timeline item; kwargs set e.g. ``_monitor_id``."""
    row: Row = {
        "name": name,
        "url": None,
        "http_method": None,
        "cause": cause,
        "incident_group_id": None,
        "started_at": clock.iso(started_at),
        "acknowledged_at": None,
        "acknowledged_by": None,
        "resolved_at": None,
        "resolved_by": None,
        "reopened_at": None,
        "reopened_by": None,
        "status": "Started",
        "team_name": TEAM_NAME,
        "response_content": None,
        "response_options": None,
        "response_url": None,
        "screenshot_url": None,
        "origin_url": None,
        "escalation_policy_id": None,
        "call": False,
        "sms": False,
        "email": True,
        "push": True,
        "critical_alert": False,
        "regions": [],
        "slack_channels": [],
        "_monitor_id": None,
        "_heartbeat_id": None,
    }
    row.update(attributes)
    state.store["incidents"].insert(row)
    starter = row.pop("_started_by", None)
    title = f"Incident started by {starter}" if starter else f"Incident started: {cause}"
    add_transition(state, row, title, row["started_at"])
    return row


async def create_incident(request: Request[Any, Any, Any]) -> Response[Any]:
    """``POST /api/v{2,3}/incidents``: 201 with a new ``Started`` incident."""
    state = state_of(request)
    body = await read_body(request)
    values: dict[str, Any] = {}
    apply_body(values, body, CREATE_FIELDS)
    if is_blank(values.get("summary")) and is_blank(values.get("name")):
        raise field_error("summary", "Can't be blank.")
    if (
        values.get("policy_id") is not None
        and state.store["policies"].get(values["policy_id"]) is None
    ):
        raise not_found()
    metadata = {
        key: normalise_values(key, raw) for key, raw in (values.get("metadata") or {}).items()
    }
    name = values.get("name") or values["summary"]
    flags = {
        k: values[k]
        for k in ("call", "sms", "email", "push", "critical_alert")
        if values.get(k) is not None
    }
    row = new_incident(
        state,
        name,
        values.get("summary") or values.get("description") or name,
        state.now(),
        team_name=body.get("team_name") or TEAM_NAME,
        _started_by=values.get("requester_email") or "API",
        escalation_policy_id=int(values["policy_id"]) if values.get("policy_id") else None,
        **flags,
    )
    for key, typed in metadata.items():
        set_metadata(state, "Incident", row["id"], key, typed)
    return single_response(present_incident(state, row, version_of(request)), 201)


async def delete_incident(request: Request[Any, Any, Any]) -> Response[Any]:
    """``DELETE /api/v{2,3}/incidents/{incident_id}``: removes it with comments and timeline."""
    state = state_of(request)
    row = state.store["incidents"].require(request.path_params["incident_id"])
    for table, key in (("incident_comments", "_incident_id"), ("timeline_items", "_incident_id")):
        for child in state.store[table].where(**{key: row["id"]}):
            state.store[table].delete(child["id"])
    for meta in state.store["metadata"].where(owner_type="Incident", owner_id=str(row["id"])):
        state.store["metadata"].delete(meta["id"])
    state.store["incidents"].delete(row["id"])
    return no_content()
