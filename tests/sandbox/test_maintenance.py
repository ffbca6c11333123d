"""Team maintenance (``/api/v2/team-maintenance``) as Better Stack documents it, and read-only
tokens refused on writes."""

from __future__ import annotations

import datetime as dt

import httpx

from tests.sandbox.conftest import READ_ONLY_TOKEN

PATH = "/api/v2/team-maintenance"
EXACTLY_ONE = {"errors": "Pass exactly one of `duration` (seconds) or `until` (an ISO 8601 time)."}
READ_ONLY = {"errors": "This API token is read-only and cannot be used for write operations."}


def _state(client: httpx.Client) -> dict[str, object]:
    response = client.get(PATH)
    assert response.status_code == 200
    data: dict[str, object] = response.json()["data"]
    return data


def test_not_in_maintenance_after_reset(client: httpx.Client) -> None:
    data = _state(client)
    assert (data["id"], data["type"]) == ("t1", "team_maintenance")
    assert data["attributes"] == {
        "team_name": "Stackmcp Demo",
        "maintenance": False,
        "maintenance_to": None,
    }


def test_start_with_a_duration_then_move_the_end_then_end_it(client: httpx.Client) -> None:
    before = dt.datetime.now(dt.UTC)
    started = client.put(PATH, json={"duration": 1800})
    assert started.status_code == 200, started.text
    attributes = started.json()["data"]["attributes"]
    assert attributes["maintenance"] is True
    end = dt.datetime.fromisoformat(attributes["maintenance_to"].replace("Z", "+00:00"))
    assert dt.timedelta(minutes=29) < end - before < dt.timedelta(minutes=31)
    assert _state(client)["attributes"] == attributes
    until = (before + dt.timedelta(hours=2)).replace(microsecond=0)
    moved = client.put(PATH, json={"until": until.isoformat().replace("+00:00", "Z")})
    assert moved.status_code == 200
    assert moved.json()["data"]["attributes"]["maintenance_to"].startswith(
        until.strftime("%Y-%m-%dT%H:%M:%S")
    )
    assert client.delete(PATH).status_code == 204
    assert _state(client)["attributes"]["maintenance"] is False
    assert client.delete(PATH).status_code == 204  # also when not in maintenance


def test_exactly_one_of_duration_or_until(client: httpx.Client) -> None:
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    for body in ({}, {"duration": 60, "until": "2099-01-01T00:00:00Z"}, {"until": past}):
        response = client.put(PATH, json=body)
        assert (response.status_code, response.json()) == (422, EXACTLY_ONE), body
    too_long = client.put(PATH, json={"duration": 1001 * 365 * 86400})
    assert too_long.status_code == 422


def test_read_only_tokens_read_but_cannot_write(client: httpx.Client, sandbox: object) -> None:
    headers = {"Authorization": f"Bearer {READ_ONLY_TOKEN}"}
    assert client.get(PATH, headers=headers).status_code == 200
    for method, body in (("PUT", {"duration": 60}), ("DELETE", None)):
        response = client.request(method, PATH, headers=headers, json=body)
        assert (response.status_code, response.json()) == (403, READ_ONLY)
    refused = client.post("/api/v3/incidents/7/acknowledge", headers=headers)
    assert refused.status_code == 403
    assert _state(client)["attributes"]["maintenance"] is False
