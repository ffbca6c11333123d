"""Status pages: sections with position shifting, resources, reports and their updates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from stackmcp.sandbox import clock
from stackmcp.sandbox.crud import Hooks
from stackmcp.sandbox.envelope import attributes_of, resource
from stackmcp.sandbox.errors import ApiError, blank, field_error
from stackmcp.sandbox.state import SandboxState
from stackmcp.sandbox.store import Row

__all__ = [
    "ReportHooks",
    "ResourceHooks",
    "SectionHooks",
    "StatusPageHooks",
    "UpdateHooks",
    "aggregate_state",
    "present_update",
]

RESOURCE_TYPES = {
    "ManuallyTrackedItem": None,
    "Monitor": "monitors",
    "MonitorGroup": "monitor_groups",
    "Heartbeat": "heartbeats",
    "HeartbeatGroup": "heartbeat_groups",
    "WebhookIntegration": None,
    "EmailIntegration": None,
    "IncomingWebhook": "incoming_webhooks",
    "ResourceGroup": None,
    "LogsChart": None,
    "CatalogReference": None,
}
WIDGET_TYPES = frozenset({"plain", "history", "intraday_history", "response_times", "chart_only"})
AFFECTED_STATUSES = frozenset({"resolved", "degraded", "downtime", "maintenance"})
_SEVERITY = ("downtime", "degraded", "maintenance")


def aggregate_state(statuses: list[str]) -> str:
    """The worst of several component states; ``operational`` when none is impaired."""
    for state in _SEVERITY:
        if state in statuses:
            return state
    return "operational"


def _open_reports(state: SandboxState, page_id: int) -> list[Row]:
    return [
        r
        for r in state.store["status_reports"].where(status_page_id=page_id)
        if r.get("ends_at") is None
    ]


class StatusPageHooks(Hooks):
    """Subdomains are unique; ``aggregate_state`` follows open reports and monitored resources."""

    def prepare(
        self, state: SandboxState, row: Row, body: Mapping[str, Any], creating: bool
    ) -> None:
        """Reject a subdomain another page already uses."""
        for other in state.store["status_pages"]:
            if other["id"] != row.get("id") and other["subdomain"] == row["subdomain"]:
                raise field_error("subdomain", "has already been taken")

    def computed(self, state: SandboxState, row: Row) -> dict[str, Any]:
        """Compute ``aggregate_state``."""
        reports = _open_reports(state, row["id"])
        statuses = [REPORT_HOOKS.computed(state, r)["aggregate_state"] for r in reports]
        statuses += [
            _resource_status(state, r)
            for r in state.store["status_page_resources"].where(status_page_id=row["id"])
        ]
        return {"aggregate_state": aggregate_state(statuses)}

    def before_delete(self, state: SandboxState, row: Row) -> None:
        """Delete the page's sections, resources, reports and updates."""
        for table in ("status_page_sections", "status_page_resources", "status_reports"):
            for child in state.store[table].where(status_page_id=row["id"]):
                state.store[table].delete(child["id"])
        for update in state.store["status_updates"].where(_status_page_id=row["id"]):
            state.store["status_updates"].delete(update["id"])


def _shift(rows: list[Row], start: int, delta: int) -> None:
    for other in rows:
        if other["position"] >= start:
            other["position"] += delta


def _siblings(state: SandboxState, table: str, row: Row, scope: str) -> list[Row]:
    return [r for r in state.store[table].where(**{scope: row[scope]}) if r["id"] != row.get("id")]


def _place(state: SandboxState, table: str, row: Row, scope: str, previous: int | None) -> None:
    """Insert ``row`` at its ``position`` among its siblings (0-based), shifting the others."""
    siblings = _siblings(state, table, row, scope)
    if previous is not None:
        _shift(siblings, previous + 1, -1)
    if row.get("position") is None or row["position"] > len(siblings):
        row["position"] = len(siblings)
    if row["position"] < 0:
        raise field_error("position", "must be greater than or equal to 0")
    _shift(siblings, row["position"], 1)


class SectionHooks(Hooks):
    """Sections keep dense 0-based positions per page."""

    def prepare(
        self, state: SandboxState, row: Row, body: Mapping[str, Any], creating: bool
    ) -> None:
        """Place the section; moving it shifts the others."""
        if creating or "position" in body:
            old = (
                None
                if creating
                else state.store["status_page_sections"].rows[row["id"]]["position"]
            )
            _place(state, "status_page_sections", row, "status_page_id", old)

    def before_delete(self, state: SandboxState, row: Row) -> None:
        """Close the gap and drop the section's resources."""
        _shift(
            _siblings(state, "status_page_sections", row, "status_page_id"), row["position"] + 1, -1
        )
        for item in state.store["status_page_resources"].where(status_page_section_id=row["id"]):
            state.store["status_page_resources"].delete(item["id"])

    def sort_key(self, row: Row) -> Any:
        """Sections list in position order."""
        return (row["position"], row["id"])


def _resource_status(state: SandboxState, row: Row) -> str:
    table = RESOURCE_TYPES.get(row.get("resource_type") or "")
    target = state.store[table].get(row.get("resource_id")) if table else None
    status = (target or {}).get("status")
    return {"down": "downtime", "maintenance": "maintenance"}.get(str(status), "operational")


class ResourceHooks(Hooks):
    """Resources default to the first section and report the status of what they track."""

    def prepare(
        self, state: SandboxState, row: Row, body: Mapping[str, Any], creating: bool
    ) -> None:
        """Validate type, target and section; place the resource in its section."""
        if not creating and ("resource_id" in body) != ("resource_type" in body):
            raise field_error(
                "resource_type", "resource_id and resource_type must be sent together"
            )
        if row.get("resource_type") not in RESOURCE_TYPES:
            raise field_error("resource_type", "is not included in the list")
        if row.get("widget_type") not in WIDGET_TYPES:
            raise field_error("widget_type", "is not included in the list")
        table = RESOURCE_TYPES[row["resource_type"]]
        if table and state.store[table].get(row.get("resource_id")) is None:
            raise field_error("resource_id", "is invalid")
        self._section(state, row)
        if creating or "position" in body or "status_page_section_id" in body:
            old = (
                None
                if creating
                else state.store["status_page_resources"].rows[row["id"]]["position"]
            )
            _place(state, "status_page_resources", row, "status_page_section_id", old)

    @staticmethod
    def _section(state: SandboxState, row: Row) -> None:
        sections = sorted(
            state.store["status_page_sections"].where(status_page_id=row["status_page_id"]),
            key=lambda s: s["position"],
        )
        if row.get("status_page_section_id") is None:
            if not sections:
                raise blank("status_page_section_id")
            row["status_page_section_id"] = sections[0]["id"]
        elif row["status_page_section_id"] not in {s["id"] for s in sections}:
            raise field_error("status_page_section_id", "is invalid")

    def before_delete(self, state: SandboxState, row: Row) -> None:
        """Close the gap in the section."""
        siblings = _siblings(state, "status_page_resources", row, "status_page_section_id")
        _shift(siblings, row["position"] + 1, -1)

    def computed(self, state: SandboxState, row: Row) -> dict[str, Any]:
        """Availability, current status and a week of status history."""
        status = _resource_status(state, row)
        today = state.now().date()
        history = [
            {
                "day": (today - dt.timedelta(days=back)).isoformat(),
                "status": status if back == 0 else "operational",
                "downtime_duration": 0,
                "maintenance_duration": 0,
            }
            for back in range(6, -1, -1)
        ]
        return {
            "availability": 0.9987 if status == "downtime" else 1.0,
            "status": status,
            "status_history": history,
        }

    def sort_key(self, row: Row) -> Any:
        """Resources list by section, then position."""
        return (row["status_page_section_id"], row["position"], row["id"])


def _check_affected(
    state: SandboxState, page_id: int, affected: Any, maintenance: bool
) -> list[dict[str, Any]]:
    """Validate ``affected_resources`` entries against the page's resources."""
    if not isinstance(affected, list):
        raise field_error("affected_resources", "must be an array")
    allowed = AFFECTED_STATUSES if maintenance else AFFECTED_STATUSES - {"maintenance"}
    page_resources = {
        r["id"] for r in state.store["status_page_resources"].where(status_page_id=page_id)
    }
    cleaned = []
    for entry in affected:
        if not isinstance(entry, dict) or entry.get("status") not in allowed:
            raise field_error("affected_resources", "status is not included in the list")
        resource_id = str(entry.get("status_page_resource_id", ""))
        if not resource_id.isdigit() or int(resource_id) not in page_resources:
            raise field_error("affected_resources", "status_page_resource_id is invalid")
        cleaned.append({"status_page_resource_id": resource_id, "status": entry["status"]})
    return cleaned


def present_update(row: Row) -> dict[str, Any]:
    """The resource object of a status update."""
    return resource("status_update", row["id"], attributes_of(row))


class ReportHooks(Hooks):
    """Reports carry their updates; creating one posts its first update."""

    def prepare(
        self, state: SandboxState, row: Row, body: Mapping[str, Any], creating: bool
    ) -> None:
        """Validate type, window and affected resources."""
        if row.get("report_type") not in ("manual", "maintenance", "automatic"):
            raise field_error("report_type", "is not included in the list")
        maintenance = row["report_type"] == "maintenance"
        if maintenance and creating and not row.get("ends_at"):
            raise blank("ends_at")
        for name in ("starts_at", "ends_at", "published_at"):
            if row.get(name) is not None:
                parsed = clock.parse_time(row[name])
                if parsed is None:
                    raise field_error(name, "is not a valid date")
                row[name] = clock.iso(parsed)
        row["starts_at"] = row.get("starts_at") or clock.iso(state.now())
        row["affected_resources"] = _check_affected(
            state, row["status_page_id"], row.get("affected_resources") or [], maintenance
        )

    def after_create(self, state: SandboxState, row: Row, body: Mapping[str, Any]) -> None:
        """Post the first update from ``message``."""
        state.store["status_updates"].insert(
            {
                "message": body.get("message") or row["title"],
                "published_at": row.get("published_at") or clock.iso(state.now()),
                "published_at_timezone": "UTC",
                "notify_subscribers": bool(body.get("notify_subscribers", True)),
                "status_report_id": row["id"],
                "affected_resources": row["affected_resources"],
                "_status_page_id": row["status_page_id"],
            }
        )

    def _updates(self, state: SandboxState, row: Row) -> list[Row]:
        return state.store["status_updates"].where(status_report_id=row["id"])

    def computed(self, state: SandboxState, row: Row) -> dict[str, Any]:
        """``aggregate_state`` from the affected resources (operational once the report ended)."""
        if row.get("ends_at") and (clock.parse_time(row["ends_at"]) or state.now()) <= state.now():
            return {"aggregate_state": "operational"}
        return {
            "aggregate_state": aggregate_state([a["status"] for a in row["affected_resources"]])
        }

    def relationships(self, state: SandboxState, row: Row) -> dict[str, Any]:
        """``status_updates`` links."""
        data = [{"id": str(u["id"]), "type": "status_update"} for u in self._updates(state, row)]
        return {"status_updates": {"data": data}}

    def included(self, state: SandboxState, row: Row) -> Any:
        """The report's updates."""
        return [present_update(u) for u in self._updates(state, row)]

    def before_delete(self, state: SandboxState, row: Row) -> None:
        """Delete the report's updates."""
        for update in self._updates(state, row):
            state.store["status_updates"].delete(update["id"])


class UpdateHooks(Hooks):
    """Updates require ``affected_resources``; the newest one sets the report's state."""

    def prepare(
        self, state: SandboxState, row: Row, body: Mapping[str, Any], creating: bool
    ) -> None:
        """Validate and copy the affected resources onto the report."""
        if creating and "affected_resources" not in body:
            raise blank("affected_resources")
        report = state.store["status_reports"].rows[row["status_report_id"]]
        maintenance = report["report_type"] == "maintenance"
        row["affected_resources"] = _check_affected(
            state, report["status_page_id"], row.get("affected_resources") or [], maintenance
        )
        published = (
            clock.parse_time(row.get("published_at")) if row.get("published_at") else state.now()
        )
        if published is None:
            raise ApiError(422, {"published_at": ["is not a valid date"]})
        row["published_at"] = clock.iso(published)
        if creating or "affected_resources" in body:
            report["affected_resources"] = row["affected_resources"]
            statuses = {a["status"] for a in row["affected_resources"]}
            if statuses == {"resolved"} and report.get("ends_at") is None:
                report["ends_at"] = row["published_at"]


REPORT_HOOKS = ReportHooks()
