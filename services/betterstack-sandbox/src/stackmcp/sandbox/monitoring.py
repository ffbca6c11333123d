"""Monitors and heartbeats: status bookkeeping, SLA/availability and response-time reports."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Any

from litestar import Request, Response

from stackmcp.sandbox import clock
from stackmcp.sandbox.crud import Hooks
from stackmcp.sandbox.envelope import query, resource, single_response
from stackmcp.sandbox.errors import ApiError, blank, field_error
from stackmcp.sandbox.secrets import ping_url
from stackmcp.sandbox.state import SandboxState, state_of
from stackmcp.sandbox.store import Row

__all__ = [
    "HeartbeatHooks",
    "MonitorHooks",
    "downtime_summary",
    "heartbeat_availability",
    "monitor_response_times",
    "monitor_sla",
]

MONITOR_TYPES = frozenset(
    [
        "status",
        "expected_status_code",
        "keyword",
        "keyword_absence",
        "ping",
        "tcp",
        "udp",
        "smtp",
        "pop",
        "imap",
        "dns",
        "playwright",
    ]
)
MONITOR_RANGE_ERROR = (
    "The data range is invalid. The date format could not be parsed, the start time is in the "
    "future, or the end time is after the start time."
)
HEARTBEAT_RANGE_ERROR = (
    "The data range is invalid. The date format could not be parsed, the start time is in the "
    "future, or the end time is before the start time."
)


def _apply_paused(state: SandboxState, row: Row, body: Mapping[str, Any], creating: bool) -> None:
    """Keep ``status``/``paused_at`` in line with the write-only ``paused`` flag."""
    if creating:
        row.setdefault("status", "pending")
        row.setdefault("paused_at", None)
    if "paused" not in body:
        return
    if row["paused"] and row["status"] != "paused":
        row["status"] = "paused"
        row["paused_at"] = clock.iso(state.now())
    elif not row["paused"] and row["status"] == "paused":
        row["status"] = "pending"
        row["paused_at"] = None


def _merge_headers(row: Row, body: Mapping[str, Any], previous: list[dict[str, Any]]) -> None:
    """Apply request-header edits: new entries get ids, ``{"id", "_destroy": true}`` removes one."""
    if "request_headers" not in body:
        return
    headers = {str(h["id"]): h for h in previous}
    next_id = max((int(k) for k in headers), default=0) + 1
    for entry in row.get("request_headers") or []:
        if not isinstance(entry, dict):
            raise field_error("request_headers", "is invalid")
        key = str(entry.get("id", ""))
        if entry.get("_destroy"):
            headers.pop(key, None)
        elif key in headers:
            headers[key].update({k: v for k, v in entry.items() if k in ("name", "value")})
        else:
            headers[str(next_id)] = {
                "id": next_id,
                "name": entry.get("name"),
                "value": entry.get("value"),
            }
            next_id += 1
    row["request_headers"] = list(headers.values())


class MonitorHooks(Hooks):
    """Monitor validation (``url`` unless playwright, known ``monitor_type``) and pausing."""

    def prepare(
        self, state: SandboxState, row: Row, body: Mapping[str, Any], creating: bool
    ) -> None:
        """Validate the monitor and derive status fields."""
        if row.get("monitor_type") not in MONITOR_TYPES:
            raise field_error("monitor_type", "is not included in the list")
        if not row.get("url") and not (
            row["monitor_type"] == "playwright" and row.get("scenario_name")
        ):
            raise blank("url")
        if isinstance(row.get("http_method"), str):
            row["http_method"] = row["http_method"].lower()
        if not row.get("pronounceable_name"):
            row["pronounceable_name"] = row["url"] or row.get("scenario_name")
        previous = [] if creating else list(row.get("_headers") or [])
        _merge_headers(row, body, previous)
        row["_headers"] = row["request_headers"]
        row.setdefault("last_checked_at", None)
        _apply_paused(state, row, body, creating)


class HeartbeatHooks(Hooks):
    """Heartbeats get a ping URL and follow the ``paused`` flag."""

    def prepare(
        self, state: SandboxState, row: Row, body: Mapping[str, Any], creating: bool
    ) -> None:
        """Derive status fields."""
        row.setdefault("url", None)
        _apply_paused(state, row, body, creating)

    def after_create(self, state: SandboxState, row: Row, body: Mapping[str, Any]) -> None:
        """Assign the ping URL once the id is known."""
        row["url"] = ping_url(row["id"])


def _range(
    request: Request[Any, Any, Any], row: Row, message: str
) -> tuple[dt.datetime, dt.datetime]:
    """The ``from``/``to`` window (whole days, ``to`` inclusive) clipped to now; 400 if invalid."""
    now = state_of(request).now()
    params = query(request)
    start = clock.parse_time(row.get("created_at")) or now
    end = now
    if "from" in params:
        day = clock.parse_day(params["from"])
        if day is None:
            raise ApiError(400, message)
        start = dt.datetime.combine(day, dt.time(), dt.UTC)
    if "to" in params:
        day = clock.parse_day(params["to"])
        if day is None:
            raise ApiError(400, message)
        end = min(now, dt.datetime.combine(day, dt.time(), dt.UTC) + dt.timedelta(days=1))
    if start > now or end < start:
        raise ApiError(400, message)
    return start, end


def downtime_summary(
    state: SandboxState, incidents: list[Row], start: dt.datetime, end: dt.datetime
) -> dict[str, Any]:
    """SLA attributes from the incidents overlapping ``[start, end]``; durations in seconds."""
    durations: list[int] = []
    for incident in incidents:
        began = clock.parse_time(incident["started_at"]) or end
        finished = clock.parse_time(incident.get("resolved_at")) or state.now()
        overlap = (min(finished, end) - max(began, start)).total_seconds()
        if began <= end and finished >= start:
            durations.append(max(0, round(overlap)))
    window = max(1.0, (end - start).total_seconds())
    total = sum(durations)
    return {
        "availability": round(max(0.0, 100.0 * (1 - total / window)), 4),
        "total_downtime": total,
        "number_of_incidents": len(durations),
        "longest_incident": max(durations, default=0),
        "average_incident": round(total / len(durations)) if durations else 0,
    }


async def monitor_sla(request: Request[Any, Any, Any]) -> Response[Any]:
    """``GET /api/v2/monitors/{monitor_id}/sla``."""
    state = state_of(request)
    monitor = state.store["monitors"].require(request.path_params["monitor_id"])
    start, end = _range(request, monitor, MONITOR_RANGE_ERROR)
    incidents = state.store["incidents"].where(_monitor_id=monitor["id"])
    summary = downtime_summary(state, incidents, start, end)
    return single_response(resource("monitor_sla", monitor["id"], summary))


async def heartbeat_availability(request: Request[Any, Any, Any]) -> Response[Any]:
    """``GET /api/v2/heartbeats/{heartbeat_id}/availability``."""
    state = state_of(request)
    heartbeat = state.store["heartbeats"].require(request.path_params["heartbeat_id"])
    start, end = _range(request, heartbeat, HEARTBEAT_RANGE_ERROR)
    incidents = state.store["incidents"].where(_heartbeat_id=heartbeat["id"])
    summary = downtime_summary(state, incidents, start, end)
    return single_response(resource("heartbeat_availability", heartbeat["id"], summary))


def _sample(monitor_id: int, region: str, slot: int) -> float:
    digest = hashlib.sha256(f"{monitor_id}:{region}:{slot}".encode()).digest()
    return 0.08 + digest[0] / 255 * 0.4


async def monitor_response_times(request: Request[Any, Any, Any]) -> Response[Any]:
    """``GET /api/v2/monitors/{monitor_id}/response-times``: 24 h of half-hourly samples."""
    state = state_of(request)
    monitor = state.store["monitors"].require(request.path_params["monitor_id"])
    now = state.now().replace(second=0, microsecond=0)
    now -= dt.timedelta(minutes=now.minute % 30)
    regions = []
    for region in monitor.get("regions") or ["us", "eu", "as", "au"]:
        samples = []
        for step in range(48, 0, -1):
            at = now - dt.timedelta(minutes=30 * (step - 1))
            total = _sample(monitor["id"], region, int(at.timestamp()) // 1800)
            samples.append(
                {
                    "at": clock.iso(at),
                    "response_time": round(total, 5),
                    "name_lookup_time": round(total * 0.1, 5),
                    "connection_time": round(total * 0.2, 5),
                    "tls_handshake_time": round(total * 0.25, 5),
                    "data_transfer_time": round(total * 0.45, 5),
                }
            )
        regions.append({"region": region, "response_times": samples})
    return single_response(resource("monitor_response_times", monitor["id"], {"regions": regions}))
