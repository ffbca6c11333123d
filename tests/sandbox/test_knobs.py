"""Fault knobs (rate limit, latency, 5xx injection), their validation, and reset, over HTTP."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

RATE_LIMITED = {"errors": "Rate limit exceeded. Please retry later."}


def test_rate_limit_answers_429_with_retry_after_and_headers(client: httpx.Client) -> None:
    """With a burst of 3 and slow refill, the fourth call is limited; headers count down."""
    knobs = {"rate_limit": 0.2, "rate_limit_burst": 3, "rate_limit_headers": True}
    assert client.patch("/_sandbox/knobs", json=knobs).status_code == 200
    answers = [client.get("/api/v2/monitors") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["ratelimit-remaining"] for a in answers[:3]] == ["2", "1", "0"]
    limited = answers[3]
    assert limited.json() == RATE_LIMITED
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.headers["ratelimit-limit"] == "3"
    assert int(limited.headers["ratelimit-reset"]) >= 1
    assert client.get("/_sandbox/knobs").status_code == 200


def test_rate_limit_without_headers_still_sends_retry_after(client: httpx.Client) -> None:
    """``Retry-After`` is always sent on 429; ``RateLimit-*`` only when asked for."""
    client.patch("/_sandbox/knobs", json={"rate_limit": 0.2, "rate_limit_burst": 1})
    assert client.get("/api/v2/monitors").status_code == 200
    limited = client.get("/api/v2/monitors")
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert "ratelimit-limit" not in limited.headers


def test_latency_is_added_to_api_answers(client: httpx.Client) -> None:
    """A 250 ms latency knob delays each API answer by at least that much."""
    client.patch("/_sandbox/knobs", json={"latency_ms": 250})
    started = time.perf_counter()
    assert client.get("/api/v2/monitors/1").status_code == 200
    assert time.perf_counter() - started >= 0.25


def test_error_rate_one_fails_every_request_with_5xx(client: httpx.Client) -> None:
    """``error_rate=1`` answers 500, 502, 503 in turn with a JSON ``errors`` string."""
    client.patch("/_sandbox/knobs", json={"error_rate": 1})
    answers = [client.get("/api/v2/monitors") for _ in range(3)]
    assert [a.status_code for a in answers] == [500, 502, 503]
    assert all(isinstance(a.json()["errors"], str) for a in answers)
    assert client.get("/_sandbox/healthz").status_code == 200


def test_error_rate_half_fails_exactly_half(client: httpx.Client) -> None:
    """Injection is deterministic: half of the requests fail at rate 0.5."""
    client.patch("/_sandbox/knobs", json={"error_rate": 0.5})
    statuses = [client.get("/api/v2/monitors").status_code for _ in range(6)]
    assert statuses.count(200) == 3


def test_unauthenticated_requests_are_not_injected(
    client: httpx.Client, anonymous: httpx.Client
) -> None:
    """Errors are injected only into authenticated API requests."""
    client.patch("/_sandbox/knobs", json={"error_rate": 1})
    assert anonymous.get("/api/v2/monitors").status_code == 401


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"error_rate": 1.5}, "error_rate"),
        ({"latency_ms": -1}, "latency_ms"),
        ({"rate_limit": -2}, "rate_limit"),
        ({"rate_limit_burst": 0}, "rate_limit_burst"),
        ({"rate_limit_burst": "many"}, "knobs"),
        ({"surprise": True}, "knobs"),
    ],
)
def test_knob_validation(client: httpx.Client, patch: dict[str, Any], field: str) -> None:
    """Bad knob values are a 422 naming the field and change nothing."""
    before = client.get("/_sandbox/knobs").json()
    response = client.patch("/_sandbox/knobs", json=patch)
    assert response.status_code == 422
    assert field in response.json()["errors"]
    assert client.get("/_sandbox/knobs").json() == before


def test_knobs_read_back_and_survive_reset(client: httpx.Client) -> None:
    """PATCH changes only the sent knobs; reset reloads data but keeps knobs."""
    updated = client.patch("/_sandbox/knobs", json={"latency_ms": 5}).json()
    assert updated["latency_ms"] == 5
    assert updated["error_rate"] == 0
    client.delete("/api/v2/monitors/1")
    assert client.post("/_sandbox/reset").status_code == 200
    assert client.get("/api/v2/monitors/1").status_code == 200
    assert client.get("/_sandbox/knobs").json()["latency_ms"] == 5


def test_request_log_records_api_calls_and_is_cleared_on_reset(
    client: httpx.Client, sandbox: Any
) -> None:
    """Each ``/api`` request (refused ones too) is logged with its query and traceparent."""
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    client.get("/api/v3/incidents?per_page=2", headers={"traceparent": parent})
    httpx.get(f"{sandbox.base_url}/api/v2/monitors", timeout=5)  # no token: 401, still logged
    seen = client.get("/_sandbox/requests").json()
    assert seen["count"] == 2
    first, second = seen["requests"]
    assert first == {
        "method": "GET",
        "path": "/api/v3/incidents",
        "query": "per_page=2",
        "traceparent": parent,
    }
    assert (second["path"], second["traceparent"]) == ("/api/v2/monitors", None)
    assert client.post("/_sandbox/reset").status_code == 200
    assert client.get("/_sandbox/requests").json() == {"count": 0, "requests": []}
