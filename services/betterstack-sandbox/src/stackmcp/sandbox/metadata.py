"""Metadata (v3): typed key/values attached to monitors, heartbeats, incidents and integrations."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.handlers import HTTPRouteHandler

from stackmcp.sandbox.config import TEAM_NAME
from stackmcp.sandbox.envelope import (
    attributes_of,
    list_response,
    no_content,
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
    "flat_metadata",
    "metadata_routes",
    "normalise_values",
    "owner_metadata",
    "set_metadata",
    "typed_metadata",
]

OWNER_TABLES = {
    "Monitor": "monitors",
    "Heartbeat": "heartbeats",
    "Incident": "incidents",
    "WebhookIntegration": None,
    "EmailIntegration": None,
    "IncomingWebhook": "incoming_webhooks",
    "CallRouting": None,
}
REFERENCE_TYPES = frozenset(
    [
        "User",
        "Team",
        "Policy",
        "Schedule",
        "SlackIntegration",
        "LinearIntegration",
        "JiraIntegration",
        "MicrosoftTeamsWebhook",
        "ZapierWebhook",
        "NativeWebhook",
        "PagerDutyWebhook",
    ]
)


def normalise_values(key: str, raw: Any) -> list[dict[str, Any]]:
    """Accept ``"v"``, ``["v"]`` or ``[{"type": "String", "value": "v"}]``; return typed values."""
    items = raw if isinstance(raw, list) else [raw]
    values = []
    for item in items:
        if isinstance(item, str | int | float) and not isinstance(item, bool):
            values.append({"type": "String", "value": str(item)})
        elif (
            isinstance(item, dict)
            and item.get("type") == "String"
            and isinstance(item.get("value"), str | int | float)
        ):
            values.append({"type": "String", "value": str(item["value"])})
        elif isinstance(item, dict) and item.get("type") in REFERENCE_TYPES:
            ref = {k: item[k] for k in ("item_id", "email", "name") if item.get(k) is not None}
            if not ref:
                raise field_error(
                    "values", f"{key}: a {item['type']} value needs item_id, email or name"
                )
            values.append({"type": item["type"], **ref})
        else:
            raise field_error("values", f"{key}: value is invalid")
    return values


def owner_metadata(state: SandboxState, owner_type: str, owner_id: int) -> list[Row]:
    """Metadata rows of one owner, in key order."""
    rows = state.store["metadata"].where(owner_type=owner_type, owner_id=str(owner_id))
    return sorted(rows, key=lambda r: r["key"])


def typed_metadata(
    state: SandboxState, owner_type: str, owner_id: int
) -> dict[str, list[dict[str, Any]]]:
    """v3 shape ``{"Key": [{"type": "String", "value": "…"}]}``."""
    return {r["key"]: r["values"] for r in owner_metadata(state, owner_type, owner_id)}


def _plain(value: dict[str, Any]) -> str:
    return str(
        value.get("value") or value.get("name") or value.get("email") or value.get("item_id") or ""
    )


def flat_metadata(state: SandboxState, owner_type: str, owner_id: int) -> dict[str, str]:
    """v2 shape ``{"Key": "value"}`` (several values are joined with ``", "``)."""
    return {
        r["key"]: ", ".join(_plain(v) for v in r["values"])
        for r in owner_metadata(state, owner_type, owner_id)
    }


def set_metadata(
    state: SandboxState, owner_type: str, owner_id: int, key: str, values: list[dict[str, Any]]
) -> tuple[Row | None, bool]:
    """Upsert by (owner_type, owner_id, key); empty ``values`` deletes. Returns (row, created)."""
    table = state.store["metadata"]
    existing = table.where(owner_type=owner_type, owner_id=str(owner_id), key=key)
    if not values:
        for row in existing:
            table.delete(row["id"])
        return None, False
    if existing:
        existing[0]["values"] = values
        return existing[0], False
    row = {
        "key": key,
        "values": values,
        "team_name": TEAM_NAME,
        "owner_id": str(owner_id),
        "owner_type": owner_type,
    }
    return table.insert(row), True


def _present(row: Row) -> dict[str, Any]:
    return resource("metadata", row["id"], attributes_of(row))


async def list_metadata(request: Request[Any, Any, Any]) -> Response[Any]:
    """``GET /api/v3/metadata`` filtered by ``owner_id``, ``owner_type`` and ``team_name``."""
    state = state_of(request)
    params = query(request)
    rows = [
        row
        for row in state.store["metadata"]
        if all(params.get(f) in (None, row[f]) for f in ("owner_id", "owner_type", "team_name"))
    ]
    return list_response(request, [_present(r) for r in rows])


def _owner(state: SandboxState, body: dict[str, Any]) -> tuple[str, int]:
    missing = {
        name: ["Can't be blank."]
        for name in ("owner_id", "owner_type", "key")
        if is_blank(body.get(name))
    }
    if "values" not in body:
        missing["values"] = ["Can't be blank."]
    if missing:
        raise ApiError(422, missing)
    owner_type = body["owner_type"]
    if owner_type not in OWNER_TABLES:
        raise field_error("owner_type", "is not included in the list")
    owner_id = str(body["owner_id"])
    if not owner_id.isdigit():
        raise field_error("owner_id", "is invalid")
    table = OWNER_TABLES[owner_type]
    if table and state.store[table].get(owner_id) is None:
        raise not_found()
    return owner_type, int(owner_id)


async def upsert_metadata(request: Request[Any, Any, Any]) -> Response[Any]:
    """``POST /api/v3/metadata``: 201 created, 200 updated, 204 removed (empty ``values``)."""
    state = state_of(request)
    body = await read_body(request)
    owner_type, owner_id = _owner(state, body)
    key = body["key"]
    if not isinstance(key, str):
        raise blank("key")
    if not isinstance(body["values"], list):
        raise field_error("values", "must be an array")
    row, created = set_metadata(
        state, owner_type, owner_id, key, normalise_values(key, body["values"])
    )
    if row is None:
        return no_content()
    return single_response(_present(row), 201 if created else 200)


def metadata_routes() -> list[HTTPRouteHandler]:
    """Handlers of the metadata endpoints."""
    return [
        route("GET", "/api/v3/metadata", list_metadata),
        route("POST", "/api/v3/metadata", upsert_metadata),
    ]
