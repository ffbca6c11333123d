"""Authentication, error bodies and pagination, over HTTP."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.sandbox.conftest import EXTRA_TOKEN, Sandbox

INVALID_TOKEN = {
    "errors": "Invalid Team API token. How to find your Team API token: "
    "https://betterstack.com/docs/uptime/api/getting-started-with-uptime-api/#get-an-uptime-api-token"
}
NOT_FOUND = {"errors": "Resource with provided ID was not found"}
SEE_DOCS = "https://betterstack.com/docs/uptime/api/getting-started-with-uptime-api/"


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}]
)
def test_missing_or_wrong_token_is_401_with_the_documented_body(
    anonymous: httpx.Client, headers: dict[str, str]
) -> None:
    """Any request without the right bearer token gets the exact 401 body."""
    response = anonymous.get("/api/v2/monitors", headers=headers)
    assert response.status_code == 401
    assert response.json() == INVALID_TOKEN


def test_extra_tokens_are_accepted(anonymous: httpx.Client) -> None:
    """Tokens from ``STACKMCP_SANDBOX_EXTRA_TOKENS`` see the same team data."""
    response = anonymous.get("/api/v2/monitors", headers={"Authorization": f"Bearer {EXTRA_TOKEN}"})
    assert response.status_code == 200
    assert response.json()["data"][0]["attributes"]["team_name"] == "Stackmcp Demo"


def test_admin_api_needs_the_token_but_healthz_does_not(anonymous: httpx.Client) -> None:
    """Knobs and reset are protected, health is public."""
    assert anonymous.get("/_sandbox/healthz").json() == {"status": "ok"}
    assert anonymous.get("/_sandbox/knobs").json() == INVALID_TOKEN
    assert anonymous.post("/_sandbox/reset").status_code == 401


@pytest.mark.parametrize(
    "path",
    [
        "/api/v2/monitors/999999",
        "/api/v2/monitors/abc",
        "/api/v3/incidents/424242",
        "/api/v2/status-pages/1/sections/3",
    ],
)
def test_unknown_id_is_404_with_the_documented_body(client: httpx.Client, path: str) -> None:
    """Unknown ids (and ids of another parent) give the exact 404 body."""
    response = client.get(path)
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v2/nonexistent-xyz"),
        ("PUT", "/api/v2/monitors/1"),
        ("POST", "/api/v2/roles"),
        ("GET", "/"),
    ],
)
def test_unknown_route_is_404_naming_method_and_path(
    anonymous: httpx.Client, method: str, path: str
) -> None:
    """Unknown routes and methods answer the API's own 404 body, even without a token."""
    response = anonymous.request(method, path)
    assert response.status_code == 404
    assert response.json() == {
        "errors": f"Endpoint {method} {path} does not exist.",
        "see_docs": SEE_DOCS,
    }


def test_missing_required_fields_are_422_per_field(client: httpx.Client) -> None:
    """Creating a heartbeat without fields lists each blank one."""
    response = client.post("/api/v2/heartbeats", json={"period": 60})
    assert response.status_code == 422
    assert response.json() == {
        "errors": {"name": ["Can't be blank."], "grace": ["Can't be blank."]}
    }


def test_wrong_attribute_type_is_422(client: httpx.Client) -> None:
    """A non-boolean flag is a field error."""
    response = client.patch("/api/v2/monitors/1", json={"verify_ssl": "maybe"})
    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["verify_ssl"]


def test_malformed_json_is_400_with_an_error_string(client: httpx.Client) -> None:
    """A body that is not JSON is rejected before any change."""
    response = client.post(
        "/api/v2/monitor-groups", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert isinstance(response.json()["errors"], str)


def test_create_update_delete_round_trip(client: httpx.Client) -> None:
    """A created monitor can be read, paused, and deleted; then it is gone."""
    created = client.post(
        "/api/v2/monitors", json={"url": "https://n.example.com", "monitor_group_id": 2}
    )
    assert created.status_code == 201
    monitor = created.json()["data"]
    assert monitor["attributes"]["status"] == "pending"
    assert monitor["attributes"]["monitor_group_id"] == 2
    path = f"/api/v2/monitors/{monitor['id']}"
    paused = client.patch(path, json={"paused": True}).json()["data"]["attributes"]
    assert paused["status"] == "paused"
    assert paused["paused_at"] is not None
    assert client.get(path).json()["data"]["attributes"]["status"] == "paused"
    assert client.delete(path).status_code == 204
    assert client.get(path).status_code == 404


def test_list_filters_by_attribute(client: httpx.Client) -> None:
    """``?url=`` narrows the monitor list."""
    body = client.get(
        "/api/v2/monitors", params={"url": "https://api.example.com/checkout/health"}
    ).json()
    assert [m["attributes"]["pronounceable_name"] for m in body["data"]] == ["Checkout API"]


def test_pagination_walks_every_page_and_keeps_other_params(
    client: httpx.Client, sandbox: Sandbox
) -> None:
    """Links are absolute, keep other query params, and ``next`` is null on the last page."""
    total = len(client.get("/api/v2/monitors").json()["data"])
    first = client.get(
        "/api/v2/monitors", params={"per_page": 3, "team_name": "Stackmcp Demo"}
    ).json()
    links = first["pagination"]
    assert links["first"].startswith(f"{sandbox.base_url}/api/v2/monitors?")
    assert links["prev"] is None
    assert _query(links["next"]) == {
        "per_page": ["3"],
        "team_name": ["Stackmcp Demo"],
        "page": ["2"],
    }
    seen = [m["id"] for m in first["data"]]
    url = links["next"]
    while url is not None:
        page = client.get(url).json()
        seen += [m["id"] for m in page["data"]]
        url = page["pagination"]["next"]
    assert len(seen) == len(set(seen)) == total
    assert _query(links["last"])["page"] == [str(-(-total // 3))]


def test_page_past_the_end_is_empty_with_links(client: httpx.Client) -> None:
    """A page beyond the last has no data, no next, and prev pointing at the last page."""
    body = client.get("/api/v2/monitors", params={"per_page": 5, "page": 9}).json()
    assert body["data"] == []
    assert body["pagination"]["next"] is None
    assert (
        _query(body["pagination"]["prev"])["page"]
        == _query(body["pagination"]["last"])["page"]
        == ["2"]
    )


def test_per_page_above_the_maximum_is_clamped(client: httpx.Client) -> None:
    """Incidents allow at most 50 per page; the links carry the clamped value."""
    for _ in range(45):
        assert client.post("/api/v3/incidents", json={"summary": "load"}).status_code == 201
    body = client.get("/api/v3/incidents", params={"per_page": 500}).json()
    assert len(body["data"]) == 50
    assert _query(body["pagination"]["next"])["per_page"] == ["50"]


def test_incident_default_page_size_is_ten(client: httpx.Client) -> None:
    """Without ``per_page`` incidents come ten at a time."""
    for _ in range(5):
        client.post("/api/v2/incidents", json={"summary": "load"})
    body = client.get("/api/v2/incidents").json()
    assert len(body["data"]) == 10
    assert body["pagination"]["next"] is not None


@pytest.mark.parametrize("value", ["0", "-3", "abc"])
def test_invalid_page_means_first_page(client: httpx.Client, value: str) -> None:
    """``page`` < 1 or not a number is treated as page 1."""
    body = client.get("/api/v2/monitors", params={"page": value, "per_page": 2}).json()
    assert body["data"][0]["id"] == "1"
    assert body["pagination"]["prev"] is None
