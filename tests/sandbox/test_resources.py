"""Metadata, status pages, team members, groups and reports over HTTP."""

from __future__ import annotations

from typing import Any

import httpx

SP = "/api/v2/status-pages/1"


def _positions(client: httpx.Client) -> list[tuple[str, int]]:
    data = client.get(f"{SP}/sections").json()["data"]
    return [(s["attributes"]["name"], s["attributes"]["position"]) for s in data]


def test_metadata_upsert_update_and_delete(client: httpx.Client) -> None:
    """Upsert creates (201), updates (200), and empty values remove the key (204)."""
    body: dict[str, Any] = {
        "owner_type": "Heartbeat",
        "owner_id": "1",
        "key": "Team",
        "values": [{"type": "String", "value": "ops"}],
    }
    assert client.post("/api/v3/metadata", json=body).status_code == 201
    updated = client.post(
        "/api/v3/metadata", json={**body, "values": [{"type": "String", "value": "sre"}]}
    )
    assert updated.status_code == 200
    assert updated.json()["data"]["attributes"]["values"] == [{"type": "String", "value": "sre"}]
    listed = client.get(
        "/api/v3/metadata", params={"owner_type": "Heartbeat", "owner_id": "1"}
    ).json()["data"]
    assert [m["attributes"]["key"] for m in listed] == ["Team"]
    assert client.post("/api/v3/metadata", json={**body, "values": []}).status_code == 204
    assert (
        client.get("/api/v3/metadata", params={"owner_type": "Heartbeat", "owner_id": "1"}).json()[
            "data"
        ]
        == []
    )


def test_metadata_validation(client: httpx.Client) -> None:
    """Missing fields, unknown owner types and unknown owners are refused."""
    missing = client.post("/api/v3/metadata", json={"owner_type": "Monitor"})
    assert missing.status_code == 422
    assert set(missing.json()["errors"]) == {"owner_id", "key", "values"}
    body = {"owner_type": "Spaceship", "owner_id": "1", "key": "k", "values": []}
    assert client.post("/api/v3/metadata", json=body).status_code == 422
    assert (
        client.post(
            "/api/v3/metadata", json={**body, "owner_type": "Monitor", "owner_id": "999"}
        ).status_code
        == 404
    )


def test_incident_metadata_upsert_shows_on_the_incident(client: httpx.Client) -> None:
    """Metadata written for an incident appears in its ``metadata`` attribute."""
    body = {"owner_type": "Incident", "owner_id": "7", "key": "Customer", "values": ["acme"]}
    assert client.post("/api/v3/metadata", json=body).status_code == 201
    assert client.get("/api/v3/incidents/7").json()["data"]["attributes"]["metadata"][
        "Customer"
    ] == [{"type": "String", "value": "acme"}]


def test_sections_shift_positions(client: httpx.Client) -> None:
    """Inserting, moving and deleting sections keeps positions dense."""
    assert _positions(client) == [("Core services", 0), ("Website", 1)]
    new = client.post(f"{SP}/sections", json={"name": "APIs", "position": 0}).json()["data"]
    assert _positions(client) == [("APIs", 0), ("Core services", 1), ("Website", 2)]
    client.patch(f"{SP}/sections/{new['id']}", json={"position": 2})
    assert _positions(client) == [("Core services", 0), ("Website", 1), ("APIs", 2)]
    client.delete(f"{SP}/sections/1")
    assert _positions(client) == [("Website", 0), ("APIs", 1)]


def test_resources_default_to_the_first_section_and_validate_targets(client: httpx.Client) -> None:
    """A new resource lands in the first section; a monitor target must exist."""
    created = client.post(
        f"{SP}/resources",
        json={"public_name": "Search", "resource_type": "Monitor", "resource_id": 6},
    )
    assert created.status_code == 201
    attributes = created.json()["data"]["attributes"]
    assert attributes["status_page_section_id"] == 1
    assert attributes["status"] == "maintenance"
    bad = client.post(
        f"{SP}/resources", json={"public_name": "X", "resource_type": "Monitor", "resource_id": 999}
    )
    assert bad.status_code == 422
    half = client.patch(f"{SP}/resources/1", json={"resource_id": 2})
    assert half.status_code == 422


def test_status_report_with_updates(client: httpx.Client) -> None:
    """A report includes its updates; a resolving update ends it."""
    report = client.post(
        f"{SP}/status-reports",
        json={"title": "Login slow", "message": "Investigating", "affected_resources": [{"status_page_resource_id": "3", "status": "degraded"}]},
    ).json()  # fmt: skip
    assert report["data"]["attributes"]["aggregate_state"] == "degraded"
    assert [u["attributes"]["message"] for u in report["included"]] == ["Investigating"]
    path = f"{SP}/status-reports/{report['data']['id']}"
    missing = client.post(f"{path}/status-updates", json={"message": "?"})
    assert (missing.status_code, missing.json()) == (
        422,
        {"errors": {"affected_resources": ["Can't be blank."]}},
    )
    resolved = [{"status_page_resource_id": "3", "status": "resolved"}]
    assert (
        client.post(
            f"{path}/status-updates", json={"message": "Fixed", "affected_resources": resolved}
        ).status_code
        == 201
    )
    body = client.get(path).json()
    assert len(body["data"]["relationships"]["status_updates"]["data"]) == 2
    assert body["data"]["attributes"]["aggregate_state"] == "operational"
    assert body["data"]["attributes"]["ends_at"] is not None
    assert len(client.get(f"{path}/status-updates").json()["data"]) == 2


def test_status_report_validation(client: httpx.Client) -> None:
    """Maintenance needs ``ends_at``; affected resources must belong to the page."""
    maintenance = client.post(
        f"{SP}/status-reports", json={"title": "DB", "report_type": "maintenance"}
    )
    assert maintenance.json() == {"errors": {"ends_at": ["Can't be blank."]}}
    foreign = [{"status_page_resource_id": "999", "status": "downtime"}]
    assert (
        client.post(
            f"{SP}/status-reports", json={"title": "x", "affected_resources": foreign}
        ).status_code
        == 422
    )
    assert client.get("/api/v2/status-pages/2/status-reports/1").status_code == 404


def test_status_page_subdomain_is_unique_and_aggregate_state_reflects_reports(
    client: httpx.Client,
) -> None:
    """Duplicate subdomains are 422; the demo page is down while its report is open."""
    duplicate = client.post(
        "/api/v2/status-pages", json={"company_name": "X", "subdomain": "stackmcp-demo"}
    )
    assert duplicate.json() == {"errors": {"subdomain": ["has already been taken"]}}
    assert client.get(SP).json()["data"]["attributes"]["aggregate_state"] == "downtime"
    assert (
        client.get("/api/v2/status-pages/2").json()["data"]["attributes"]["aggregate_state"]
        == "operational"
    )


def test_group_member_listings(client: httpx.Client) -> None:
    """Group endpoints list exactly their members."""
    monitors = client.get("/api/v2/monitor-groups/2/monitors").json()["data"]
    assert {m["attributes"]["monitor_group_id"] for m in monitors} == {2}
    beats = client.get("/api/v2/heartbeat-groups/1/heartbeats").json()["data"]
    assert [b["attributes"]["name"] for b in beats] == ["Nightly backup", "Billing cron"]
    policies = client.get("/api/v3/policy-groups/1/policies").json()["data"]
    assert [p["attributes"]["name"] for p in policies] == [
        "Default escalation",
        "Payments escalation",
    ]
    pages = client.get("/api/v2/status-page-groups/1/status-pages").json()["data"]
    assert [p["id"] for p in pages] == ["1"]


def test_escalation_policy_has_tiers(client: httpx.Client) -> None:
    """The default policy has several steps of different types with members."""
    steps = client.get("/api/v3/policies/1").json()["data"]["attributes"]["steps"]
    assert len(steps) >= 3
    assert {s["type"] for s in steps} >= {"escalation", "time_branching"}
    assert any(s["step_members"] for s in steps)
    bad = client.post("/api/v3/policies", json={"name": "x", "steps": [{"type": "teleport"}]})
    assert bad.status_code == 422


def test_sla_and_availability(client: httpx.Client) -> None:
    """SLA counts the monitor's incidents; bad ranges give the documented 400."""
    sla = client.get("/api/v2/monitors/3/sla").json()["data"]
    assert sla["type"] == "monitor_sla"
    assert sla["attributes"]["number_of_incidents"] == 1
    assert 0 < sla["attributes"]["availability"] < 100
    bad = client.get("/api/v2/monitors/3/sla", params={"from": "2026-13-45"})
    assert bad.status_code == 400
    assert bad.json()["errors"].startswith("The data range is invalid.")
    inverted = client.get(
        "/api/v2/heartbeats/2/availability", params={"from": "2020-01-10", "to": "2020-01-01"}
    )
    assert inverted.status_code == 400
    assert "before the start time" in inverted.json()["errors"]
    times = client.get("/api/v2/monitors/1/response-times").json()["data"]["attributes"]["regions"]
    assert times[0]["response_times"][0]["response_time"] > 0


def test_team_members(client: httpx.Client) -> None:
    """Find by e-mail, invite, change role and remove, with the documented 422 strings."""
    assert (
        client.get("/api/v2/team-members", params={"email": "carol@example.com"}).json()["data"][
            "type"
        ]
        == "team_member"
    )
    assert (
        client.get("/api/v2/team-members", params={"email": "zed@example.com"}).status_code == 404
    )
    assert client.post("/api/v2/team-members", json={}).json() == {"errors": "Email is required"}
    bad_role = client.post("/api/v2/team-members", json={"email": "z@example.com", "role": "admin"})
    assert bad_role.json() == {
        "errors": "Invalid role. Allowed roles: responder, member, team_lead, billing_admin"
    }
    invited = client.post(
        "/api/v2/team-members", json={"email": "zed@example.com", "role": "member"}
    )
    assert (invited.status_code, invited.json()["message"]) == (201, "Invitation sent")
    existing = client.post("/api/v2/team-members", json={"email": "bob@example.com"})
    assert (existing.status_code, existing.json()["data"]["type"]) == (200, "team_member")
    changed = client.post("/api/v2/team-members/4/change-role/2").json()["data"]
    assert changed["attributes"]["role"] == "team_lead"
    assert (
        client.delete("/api/v2/team-members", params={"email": "zed@example.com"}).status_code
        == 204
    )
    assert (
        client.delete("/api/v2/team-members", params={"email": "zed@example.com"}).status_code
        == 404
    )
