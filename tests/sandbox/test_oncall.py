"""On-call: who is on call now and at ``?date=``, raw events and rotations, over HTTP."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

NOW = dt.datetime.now(dt.UTC)
TODAY = NOW.replace(hour=0, minute=0, second=0, microsecond=0)


def _on_call(body: dict[str, Any]) -> list[str]:
    return [ref["meta"]["email"] for ref in body["relationships"]["on_call_users"]["data"]]


def test_everyone_on_call_now_is_listed_and_included(client: httpx.Client) -> None:
    """Each seeded calendar has someone on call; ``included`` carries their user objects."""
    body = client.get("/api/v2/on-calls").json()
    calendars = {c["attributes"]["name"]: _on_call(c) for c in body["data"]}
    assert set(calendars) == {None, "Core Infrastructure", "Payments"}
    assert all(calendars.values())
    assert calendars["Payments"] == ["carol@example.com", "dave@example.com"]
    included = {u["attributes"]["email"] for u in body["included"]}
    assert included == {email for emails in calendars.values() for email in emails}
    assert body["data"][0]["attributes"]["default_calendar"] is True


def test_default_alias_and_date_parameter(client: httpx.Client) -> None:
    """``/on-calls/default`` is the default calendar; ``?date=`` asks about another time."""
    now = client.get("/api/v2/on-calls/default").json()
    assert now["data"]["id"] == "1"
    assert _on_call(now["data"]) == ["alice@example.com"]
    assert now["included"][0]["attributes"]["email"] == "alice@example.com"
    later = (NOW + dt.timedelta(hours=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert _on_call(
        client.get("/api/v2/on-calls/default", params={"date": later}).json()["data"]
    ) == ["bob@example.com"]
    long_ago = client.get("/api/v2/on-calls/1", params={"date": "2001-01-01T00:00:00Z"}).json()
    assert _on_call(long_ago["data"]) == []
    assert client.get("/api/v2/on-calls/1", params={"date": "soon"}).status_code == 400


def test_events_are_raw_and_new_events_change_who_is_on_call(client: httpx.Client) -> None:
    """Events answer un-enveloped with numeric ids; an override wins at its time."""
    events = client.get("/api/v2/on-calls/2/events").json()
    assert set(events) == {"events"}
    assert all(isinstance(e["id"], int) for e in events["events"])
    starts = TODAY + dt.timedelta(days=5)
    created = client.post(
        "/api/v2/on-calls/2/events",
        json={"starts_at": starts.isoformat(), "ends_at": (starts + dt.timedelta(hours=4)).isoformat(),
              "users": ["alice@example.com"], "override": True},
    )  # fmt: skip
    assert created.status_code == 200
    event = created.json()
    assert set(event) == {"id", "users", "starts_at", "ends_at", "override"}
    at = (starts + dt.timedelta(hours=1)).isoformat()
    during = client.get("/api/v2/on-calls/2", params={"date": at}).json()["data"]
    assert _on_call(during) == ["alice@example.com"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"ends_at": "2099-01-01T00:00:00Z", "users": ["bob@example.com"]}, "starts_at"),
        (
            {
                "starts_at": "2001-01-01T00:00:00Z",
                "ends_at": "2099-01-01T00:00:00Z",
                "users": ["bob@example.com"],
            },
            "starts_at",
        ),
        (
            {
                "starts_at": "2099-01-02T00:00:00Z",
                "ends_at": "2099-01-01T00:00:00Z",
                "users": ["bob@example.com"],
            },
            "ends_at",
        ),
        (
            {"starts_at": "2099-01-01T00:00:00Z", "ends_at": "2099-01-02T00:00:00Z", "users": []},
            "users",
        ),
        (
            {
                "starts_at": "2099-01-01T00:00:00Z",
                "ends_at": "2099-01-02T00:00:00Z",
                "users": ["x@y.z"],
            },
            "users",
        ),
    ],
)
def test_event_validation(client: httpx.Client, body: dict[str, Any], field: str) -> None:
    """Past starts, inverted ranges, and missing or unknown users are 422s naming the field."""
    response = client.post("/api/v2/on-calls/3/events", json=body)
    assert response.status_code == 422
    assert list(response.json()["errors"]) == [field]


def test_rotation_is_raw_and_replaces_future_regular_events(client: httpx.Client) -> None:
    """Creating a rotation regenerates shifts; reading it back returns the same object."""
    assert client.get("/api/v2/on-calls/3/rotation").status_code == 404
    start = TODAY + dt.timedelta(days=1)
    body = {"users": ["alice@example.com", "dave@example.com"], "rotation_length": 12, "rotation_period": "hour",
            "start_rotations_at": start.isoformat(), "end_rotations_at": (start + dt.timedelta(days=2)).isoformat()}  # fmt: skip
    created = client.post("/api/v2/on-calls/3/rotation", json=body)
    assert created.status_code == 201
    rotation = created.json()
    assert rotation["rotation_interval"] == "hour"
    assert rotation["rotation_length"] == 12
    assert client.get("/api/v2/on-calls/3/rotation").json() == rotation
    events = client.get("/api/v2/on-calls/3/events").json()["events"]
    future = [e for e in events if e["starts_at"] >= start.strftime("%Y-%m-%dT%H:%M:%S")]
    assert [e["users"] for e in future] == [["alice@example.com"], ["dave@example.com"]] * 2
    at = (start + dt.timedelta(hours=13)).isoformat()
    assert _on_call(client.get("/api/v2/on-calls/3", params={"date": at}).json()["data"]) == [
        "dave@example.com"
    ]


def test_seeded_rotation_and_interval_alias(client: httpx.Client) -> None:
    """Core Infrastructure has a weekly rotation; ``rotation_interval`` is accepted as input."""
    assert client.get("/api/v2/on-calls/2/rotation").json()["rotation_interval"] == "week"
    body = {"users": ["bob@example.com"], "rotation_length": 1, "rotation_interval": "day",
            "start_rotations_at": TODAY.isoformat(), "end_rotations_at": (TODAY + dt.timedelta(days=3)).isoformat()}  # fmt: skip
    assert client.post("/api/v2/on-calls/default/rotation", json=body).status_code == 201
    bad = client.post(
        "/api/v2/on-calls/default/rotation", json={**body, "rotation_interval": "month"}
    )
    assert bad.status_code == 422


def test_calendar_crud_and_default_protection(client: httpx.Client) -> None:
    """Calendars can be created, renamed and deleted, except the default one."""
    created = client.post("/api/v2/on-calls", json={"name": "Night"}).json()["data"]
    assert created["attributes"] == {
        "name": "Night",
        "default_calendar": False,
        "team_name": "Stackmcp Demo",
    }
    assert (
        client.patch(f"/api/v2/on-calls/{created['id']}", json={"name": "Nights"}).status_code
        == 200
    )
    assert (
        client.get(f"/api/v2/on-calls/{created['id']}").json()["data"]["attributes"]["name"]
        == "Nights"
    )
    assert client.delete(f"/api/v2/on-calls/{created['id']}").status_code == 204
    assert client.delete("/api/v2/on-calls/default").status_code == 422
