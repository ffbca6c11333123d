"""Every endpoint of ``betterstack-endpoints.json`` answers with its documented status and shape."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

ENDPOINTS: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "betterstack-endpoints.json").read_text()
)
# Seed ids that exist (see stackmcp.sandbox.seed): comment 1 belongs to incident 7, section 1,
# resource 1 and report 1 belong to status page 1, update 1 to report 1.
PARAMS = {
    "monitor_id": "1", "monitor_group_id": "1", "heartbeat_group_id": "1", "heartbeat_id": "1",
    "incident_id": "7", "comment_id": "1", "calendar_id": "2", "policy_id": "1", "policy_group_id": "1",
    "urgency_id": "1", "urgency_group_id": "1", "status_page_id": "1", "status_page_group_id": "1",
    "section_id": "1", "resource_id": "1", "status_report_id": "1", "status_update_id": "1",
    "member_id": "2", "role_id": "3", "id": "1",
}  # fmt: skip
TOMORROW = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).replace(microsecond=0)
AFFECTED = [{"status_page_resource_id": "1", "status": "degraded"}]
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v2/monitors"): {"url": "https://new.example.com", "monitor_type": "status"},
    ("POST", "/api/v2/monitor-groups"): {"name": "New group"},
    ("POST", "/api/v2/heartbeat-groups"): {"name": "New group"},
    ("POST", "/api/v2/heartbeats"): {"name": "New beat", "period": 60, "grace": 10},
    ("POST", "/api/v3/incidents"): {"summary": "Disk full", "requester_email": "alice@example.com"},
    ("POST", "/api/v2/incidents"): {"summary": "Disk full"},
    ("POST", "/api/v3/incidents/{incident_id}/escalate"): {"escalation_type": "Organization"},
    ("POST", "/api/v2/incidents/{incident_id}/comments"): {"content": "hello"},
    ("PATCH", "/api/v2/incidents/{incident_id}/comments/{comment_id}"): {"content": "edited"},
    ("POST", "/api/v2/on-calls"): {"name": "Night shift"},
    ("PATCH", "/api/v2/on-calls/{calendar_id}"): {"name": "Renamed"},
    ("POST", "/api/v2/on-calls/{calendar_id}/events"): {
        "starts_at": TOMORROW.isoformat(), "ends_at": (TOMORROW + dt.timedelta(hours=8)).isoformat(),
        "users": ["carol@example.com"],
    },
    ("POST", "/api/v2/on-calls/{calendar_id}/rotation"): {
        "users": ["alice@example.com", "bob@example.com"], "rotation_length": 1, "rotation_period": "day",
        "start_rotations_at": TOMORROW.isoformat(),
        "end_rotations_at": (TOMORROW + dt.timedelta(days=14)).isoformat(),
    },
    ("POST", "/api/v3/policies"): {"name": "New policy", "steps": []},
    ("POST", "/api/v2/policy-groups"): {"name": "New group"},
    ("POST", "/api/v2/urgencies"): {"name": "Medium"},
    ("POST", "/api/v2/urgency-groups"): {"name": "Other"},
    ("POST", "/api/v2/status-pages"): {"company_name": "Acme", "subdomain": "acme-new"},
    ("POST", "/api/v2/status-page-groups"): {"name": "New group"},
    ("POST", "/api/v2/status-pages/{status_page_id}/sections"): {"name": "New section"},
    ("POST", "/api/v2/status-pages/{status_page_id}/resources"): {"public_name": "Thing"},
    ("POST", "/api/v2/status-pages/{status_page_id}/status-reports"): {
        "title": "Slow", "message": "Looking", "affected_resources": AFFECTED,
    },
    ("POST", "/api/v2/status-pages/{status_page_id}/status-reports/{status_report_id}/status-updates"): {
        "message": "Better", "affected_resources": AFFECTED,
    },
    ("POST", "/api/v3/metadata"): {
        "owner_type": "Monitor", "owner_id": "2", "key": "Tier", "values": [{"type": "String", "value": "1"}],
    },
    ("POST", "/api/v2/team-members"): {"email": "frank@example.com", "role": "member"},
    ("POST", "/api/v2/outgoing-webhooks"): {"url": "https://x.example.com", "trigger_type": "incident_change"},
    ("POST", "/api/v2/incoming-webhooks"): {"name": "Grafana"},
    ("PUT", "/api/v2/team-maintenance"): {"duration": 1800},
}  # fmt: skip
QUERIES = {
    ("GET", "/api/v2/team-members"): {"email": "bob@example.com"},
    ("DELETE", "/api/v2/team-members"): {"email": "dave@example.com"},
}
SPECIAL_PARAMS = {("POST", "/api/v3/incidents/{incident_id}/reopen"): {"incident_id": "1"}}
STATUS = {
    "create": 201,
    "delete": 204,
    "upsert": 201,
    "invite": 201,
    "create_rotation": 201,
    "remove": 204,
    "create_event": 200,
    "end": 204,
}
TYPES = {
    "monitors": "monitor", "monitor_groups": "monitor_group", "heartbeats": "heartbeat",
    "heartbeat_groups": "heartbeat_group", "incidents": "incident", "incident_comments": "incident_comment",
    "on_call": "on_call_calendar", "escalation_policies": "policy", "policy_groups": "policy_group",
    "severities": "urgency", "severity_groups": "urgency_group", "status_pages": "status_page",
    "status_page_groups": "status_page_group", "status_page_sections": "status_page_section",
    "status_page_resources": "status_page_resource", "status_page_reports": "status_report",
    "status_page_report_updates": "status_update", "metadata": "metadata", "roles": "role",
    "outgoing_webhooks": "outgoing_webhook", "incoming_webhooks": "incoming_webhook",
    "slack_integrations": "slack_integration", "team_maintenance": "team_maintenance",
}  # fmt: skip
SUB_LISTS = {
    "list_monitors": "monitor",
    "list_heartbeats": "heartbeat",
    "list_policies": "policy",
    "list_status_pages": "status_page",
}


def _url(endpoint: dict[str, Any]) -> str:
    key = (endpoint["method"], endpoint["path"])
    params = {**PARAMS, **SPECIAL_PARAMS.get(key, {})}
    return endpoint["path"].format(**params)


def _expected_type(endpoint: dict[str, Any]) -> str | None:
    if endpoint["operation"] in SUB_LISTS:
        return SUB_LISTS[endpoint["operation"]]
    if endpoint["operation"] == "timeline":
        return "timeline_item"
    if endpoint["operation"] in ("response_times", "availability"):
        return None
    return TYPES.get(endpoint["resource"])


def _check_shape(endpoint: dict[str, Any], body: Any) -> None:
    raw = endpoint["response_type"].startswith("RAW")
    if raw:
        assert "data" not in body
        return
    assert "data" in body
    if endpoint["paginated"]:
        assert set(body["pagination"]) == {"first", "last", "prev", "next"}
    items = body["data"] if isinstance(body["data"], list) else [body["data"]]
    expected = _expected_type(endpoint)
    for item in items:
        assert isinstance(item["id"], str)
        if expected is not None:
            assert item["type"] in (expected, "team_member_invitation", "team_member")


def test_the_endpoint_table_has_every_documented_endpoint() -> None:
    """The copied reference table still lists all 126 endpoints, plus team maintenance's 3."""
    assert len(ENDPOINTS) == 129


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e['method']} {e['path']}")
def test_endpoint_is_served_with_its_documented_status(
    client: httpx.Client, endpoint: dict[str, Any]
) -> None:
    """The endpoint answers its documented success status and envelope on seed data."""
    key = (endpoint["method"], endpoint["path"])
    response = client.request(
        endpoint["method"], _url(endpoint), params=QUERIES.get(key), json=BODIES.get(key)
    )
    expected = STATUS.get(endpoint["operation"], 200)
    assert response.status_code == expected, response.text
    if expected == 204:
        assert response.content == b""
        return
    _check_shape(endpoint, response.json())
