"""Incident state machine, timeline, comments, filters and v2/v3 differences, over HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

V3 = "/api/v3/incidents"


def _titles(client: httpx.Client, incident_id: str) -> list[str]:
    items = client.get(f"{V3}/{incident_id}/timeline").json()["data"]
    return [item["attributes"]["data"].get("title") or "" for item in items]


def _create(client: httpx.Client, **body: Any) -> dict[str, Any]:
    response = client.post(V3, json={"summary": "Disk almost full", **body})
    assert response.status_code == 201
    return dict(response.json()["data"])


def test_lifecycle_records_every_transition_in_the_timeline(client: httpx.Client) -> None:
    """Create → acknowledge → resolve → reopen, each state visible and logged."""
    incident = _create(client, requester_email="carol@example.com")
    attributes = incident["attributes"]
    assert (attributes["status"], attributes["acknowledged_at"], attributes["resolved_at"]) == (
        "Started",
        None,
        None,
    )
    path = f"{V3}/{incident['id']}"
    acked = client.post(
        f"{path}/acknowledge", json={"acknowledged_by": "alice@example.com"}
    ).json()["data"]
    assert acked["attributes"]["status"] == "Acknowledged"
    assert acked["attributes"]["acknowledged_by"] == "alice@example.com"
    resolved = client.post(f"{path}/resolve", json={"resolved_by": "bob@example.com"}).json()[
        "data"
    ]
    assert resolved["attributes"]["status"] == "Resolved"
    assert resolved["attributes"]["resolved_at"] is not None
    reopened = client.post(f"{path}/reopen", json={"reopened_by": "dave@example.com"}).json()[
        "data"
    ]
    assert reopened["attributes"]["status"] == "Started"
    assert reopened["attributes"]["reopened_by"] == "dave@example.com"
    assert reopened["attributes"]["resolved_at"] is None
    assert _titles(client, incident["id"]) == [
        "Incident started by carol@example.com",
        "Incident acknowledged by alice@example.com",
        "Incident resolved by bob@example.com",
        "Incident reopened by dave@example.com",
    ]


def test_conflicting_transitions_are_409(client: httpx.Client) -> None:
    """Second acknowledge/resolve, escalating or reopening in the wrong state: exact 409s."""
    path = f"{V3}/{_create(client)['id']}"
    assert client.post(f"{path}/reopen").status_code == 409
    client.post(f"{path}/acknowledge")
    again = client.post(f"{path}/acknowledge")
    assert (again.status_code, again.json()) == (
        409,
        {"errors": "Incident was already acknowledged"},
    )
    client.post(f"{path}/resolve")
    again = client.post(f"{path}/resolve")
    assert (again.status_code, again.json()) == (409, {"errors": "Incident was already resolved"})
    escalated = client.post(f"{path}/escalate", json={"escalation_type": "Organization"})
    assert (escalated.status_code, escalated.json()) == (
        409,
        {"errors": "Cannot escalate a resolved incident."},
    )


def test_v2_actions_share_the_state_machine(client: httpx.Client) -> None:
    """The legacy v2 paths acknowledge and resolve the same incident."""
    assert (
        client.post("/api/v2/incidents/7/acknowledge").json()["data"]["attributes"]["status"]
        == "Acknowledged"
    )
    assert client.get(f"{V3}/7").json()["data"]["attributes"]["acknowledged_by"] == "API"
    assert client.post("/api/v2/incidents/7/resolve").status_code == 200
    assert client.post("/api/v2/incidents/7/resolve").status_code == 409


@pytest.mark.parametrize(
    ("body", "title"),
    [
        (
            {"escalation_type": "User", "user_email": "carol@example.com"},
            "Incident escalated to carol@example.com",
        ),
        (
            {"escalation_type": "User", "user_id": 2, "sms": True},
            "Incident escalated to bob@example.com via sms",
        ),
        (
            {"escalation_type": "Team", "team_name": "Stackmcp Demo"},
            "Incident escalated to team Stackmcp Demo",
        ),
        (
            {"escalation_type": "Schedule", "schedule_id": 2},
            "Incident escalated to on-call schedule Core Infrastructure",
        ),
        (
            {"escalation_type": "Policy", "policy_id": 2},
            "Incident escalated to escalation policy Payments escalation",
        ),
        ({"escalation_type": "Organization"}, "Incident escalated to the entire organization"),
    ],
)
def test_escalate_variants_are_logged(
    client: httpx.Client, body: dict[str, Any], title: str
) -> None:
    """Each escalation type reaches its target and adds a timeline item."""
    response = client.post(f"{V3}/7/escalate", json=body)
    assert response.status_code == 200
    assert response.json()["data"]["attributes"]["status"] == "Started"
    assert _titles(client, "7")[-1].startswith(title)


@pytest.mark.parametrize(
    ("body", "status", "errors"),
    [
        ({}, 422, {"escalation_type": ["Can't be blank."]}),
        ({"escalation_type": "User"}, 422, {"user_email": ["Can't be blank."]}),
        ({"escalation_type": "Schedule"}, 422, {"schedule_id": ["Can't be blank."]}),
        ({"escalation_type": "Policy"}, 422, {"policy_id": ["Can't be blank."]}),
        (
            {"escalation_type": "Schedule", "schedule_id": 999},
            404,
            "Resource with provided ID was not found",
        ),
        (
            {"escalation_type": "User", "user_email": "nobody@example.com"},
            404,
            "Resource with provided ID was not found",
        ),
    ],
)
def test_escalate_validates_its_target(
    client: httpx.Client, body: dict[str, Any], status: int, errors: Any
) -> None:
    """Missing or unknown targets are refused without a timeline item."""
    before = _titles(client, "7")
    response = client.post(f"{V3}/7/escalate", json=body)
    assert (response.status_code, response.json()) == (status, {"errors": errors})
    assert _titles(client, "7") == before


def test_escalate_rejects_an_unknown_type(client: httpx.Client) -> None:
    """``escalation_type`` must be one of the documented values."""
    response = client.post(f"{V3}/7/escalate", json={"escalation_type": "Everyone"})
    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["escalation_type"]


def test_single_incident_includes_its_monitor(client: httpx.Client) -> None:
    """The checkout incident links and includes the Checkout API monitor object."""
    body = client.get(f"{V3}/7").json()
    assert body["data"]["attributes"]["name"] == "Checkout API is down"
    assert body["data"]["relationships"]["monitor"]["data"] == {"id": "1", "type": "monitor"}
    assert body["included"]["type"] == "monitor"
    assert body["included"]["attributes"]["url"] == "https://api.example.com/checkout/health"


def test_metadata_shape_differs_between_v2_and_v3(client: httpx.Client) -> None:
    """v3 metadata is typed, v2 is flat."""
    v3 = client.get(f"{V3}/7").json()["data"]["attributes"]["metadata"]
    v2 = client.get("/api/v2/incidents/7").json()["data"]["attributes"]["metadata"]
    assert v3["Environment"] == [{"type": "String", "value": "production"}]
    assert v2["Environment"] == "production"


def test_created_incident_keeps_metadata_in_both_shapes(client: httpx.Client) -> None:
    """Metadata sent on create comes back typed (v3) and flat (v2)."""
    incident = _create(
        client, metadata={"Region": [{"type": "String", "value": "eu"}], "Tier": "gold"}
    )
    v2 = client.get(f"/api/v2/incidents/{incident['id']}").json()["data"]["attributes"]["metadata"]
    assert incident["attributes"]["metadata"]["Tier"] == [{"type": "String", "value": "gold"}]
    assert v2 == {"Region": "eu", "Tier": "gold"}


def test_create_needs_a_summary_or_name(client: httpx.Client) -> None:
    """An empty incident is a 422."""
    response = client.post(V3, json={"requester_email": "a@example.com"})
    assert response.status_code == 422
    assert response.json() == {"errors": {"summary": ["Can't be blank."]}}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"resolved": "false"}, {"Started", "Acknowledged"}),
        ({"resolved": "true"}, {"Resolved"}),
        ({"acknowledged": "false"}, {"Started"}),
        ({"monitor_id": "1"}, {"Started"}),
    ],
)
def test_list_filters(client: httpx.Client, params: dict[str, str], expected: set[str]) -> None:
    """Status filters return only matching incidents."""
    body = client.get(V3, params={**params, "per_page": 50}).json()
    assert body["data"]
    assert {i["attributes"]["status"] for i in body["data"]} == expected


def test_list_filters_by_heartbeat_metadata_and_dates(client: httpx.Client) -> None:
    """``heartbeat_id``, ``metadata[Key]`` and ``from``/``to`` narrow the list."""
    names = lambda p: [i["attributes"]["name"] for i in client.get(V3, params=p).json()["data"]]  # noqa: E731
    assert names({"heartbeat_id": "2"}) == ["Billing cron missed heartbeat"]
    assert names({"metadata[Service]": "checkout"}) == ["Checkout API is down"]
    assert names({"from": "2000-01-01", "to": "2000-01-02"}) == []
    assert client.get(V3, params={"from": "yesterday"}).status_code == 400


def test_list_is_newest_first(client: httpx.Client) -> None:
    """The most recently started incident comes first."""
    newest = _create(client)
    assert client.get(V3).json()["data"][0]["id"] == newest["id"]


def test_long_timeline_is_returned_whole(client: httpx.Client) -> None:
    """The flapping incident's timeline has more than 100 items and no pagination."""
    body = client.get(f"{V3}/3/timeline").json()
    assert set(body) == {"data"}
    assert len(body["data"]) > 100
    stamps = [item["attributes"]["at"] for item in body["data"]]
    assert stamps == sorted(stamps)
    assert {item["type"] for item in body["data"]} == {"timeline_item"}


def test_comments_lifecycle_shows_in_timeline(client: httpx.Client) -> None:
    """Comments can be listed, created, edited and deleted; the timeline follows."""
    base = "/api/v2/incidents/7/comments"
    assert len(client.get(base).json()["data"]) == 2
    blank = client.post(base, json={"content": "  "})
    assert (blank.status_code, blank.json()) == (422, {"errors": {"content": ["Can't be blank."]}})
    created = client.post(base, json={"content": "Root cause found"}).json()["data"]
    assert created["attributes"]["content"] == "Root cause found"
    assert "user_email" not in created["attributes"]
    timeline = client.get(f"{V3}/7/timeline").json()["data"]
    assert timeline[-1]["attributes"]["item_type"] == "comment"
    assert timeline[-1]["attributes"]["data"]["content"]["text"] == "Root cause found"
    edited = client.patch(
        f"{base}/{created['id']}", json={"content": "Root cause: bad deploy"}
    ).json()
    assert edited["data"]["attributes"]["content"] == "Root cause: bad deploy"
    assert client.delete(f"{base}/{created['id']}").status_code == 204
    assert client.get(f"{base}/{created['id']}").status_code == 404
    assert len(client.get(base).json()["data"]) == 2


def test_comment_of_another_incident_is_404(client: httpx.Client) -> None:
    """Comment 1 belongs to incident 7 only."""
    assert client.get("/api/v2/incidents/3/comments/1").status_code == 404
    assert client.get("/api/v2/incidents/999/comments").status_code == 404


def test_delete_removes_the_incident(client: httpx.Client) -> None:
    """Deleted incidents are gone from both versions."""
    assert client.delete(f"{V3}/7").status_code == 204
    assert client.get("/api/v2/incidents/7").status_code == 404
    assert client.get(f"{V3}/7/timeline").status_code == 404
