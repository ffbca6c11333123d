"""``GET /status`` on the real stack: the worker, two gateways, provisioning and two expiry
replicas answer the ping; tool calls made here move the figures by exactly what they were; a
stopped service drops out of the answer (and comes back when started again).

The audit stream is shared by the session's tests, so call figures are compared before and
after this test's calls over a 60-minute window, never as absolute values.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from mcp import Client

from stackmcp.contracts.status import SERVICE_NAMES
from tests.support.provisioning import ExpiryReplicas, Provisioning

pytestmark = pytest.mark.e2e

TOOL = "list_all_better_stack_incidents"
MISSING_INCIDENT = {"incident_id": "999999999"}


def _status(provisioning: Provisioning, minutes: int = 60) -> dict[str, Any]:
    with provisioning.client() as client:
        answer = client.get("/status", params={"minutes": minutes})
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


def _service(status: dict[str, Any], name: str) -> dict[str, Any]:
    return next(view for view in status["services"] if view["service"] == name)


def _wait_for(provisioning: Provisioning, check: Any, seconds: float = 15) -> dict[str, Any]:
    """Ask ``GET /status`` until ``check(status)`` holds; return that status."""
    deadline = time.monotonic() + seconds
    while True:
        status = _status(provisioning)
        if check(status):
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.2)


@pytest.fixture
def rate_limited_sandbox(provisioning: Provisioning) -> Iterator[None]:
    """The shared sandbox answering 429 once its single token is spent; reset afterwards."""
    sandbox = provisioning.stack.sandbox
    knobs = {"rate_limit": 0.001, "rate_limit_burst": 1}
    assert sandbox.admin("PATCH", "knobs", knobs).status_code == 200
    try:
        yield
    finally:
        reset = {"rate_limit": 0, "rate_limit_burst": 10}
        assert sandbox.admin("PATCH", "knobs", reset).status_code == 200


def _create_server(provisioning: Provisioning, expires_in: float) -> dict[str, Any]:
    expires_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=expires_in)
    with provisioning.client() as client:
        answer = client.post(
            f"/integrated-account/{provisioning.account_id}/mcp",
            json={
                "name": "status",
                "config": {"methods": ["read"], "tags": ["incidents"]},
                "expires_at": expires_at.isoformat(),
            },
        )
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


async def test_every_service_answers_and_tool_calls_move_the_figures(
    provisioning: Provisioning, expiry_replicas: ExpiryReplicas
) -> None:
    """Each service is listed with its replicas, all ready; 4 good calls, 1 tool error and
    calls answered 429 upstream add exactly that to the figures."""
    server = _create_server(provisioning, expires_in=3600)
    before = _status(provisioning)
    outcomes: list[bool] = []
    async with Client(server["url"]) as client:
        for _ in range(4):
            outcomes.append((await client.call_tool(TOOL, {})).is_error)
        missing = await client.call_tool("get_single_better_stack_incident_by_id", MISSING_INCIDENT)
        outcomes.append(missing.is_error)
    assert outcomes == [False, False, False, False, True]

    def counted(status: dict[str, Any]) -> bool:
        return bool(status["calls"]["calls"] >= before["calls"]["calls"] + 5)

    after = _wait_for(provisioning, counted)
    assert after["calls"]["calls"] == before["calls"]["calls"] + 5
    assert after["calls"]["errors"] == before["calls"]["errors"] + 1
    assert after["calls"]["upstream_429"] == before["calls"]["upstream_429"]
    figures = after["calls"]
    assert figures["complete"] is True
    assert figures["minutes"] == pytest.approx(60, abs=0.1)
    assert figures["per_minute"] == pytest.approx(figures["calls"] / figures["minutes"], abs=1e-3)
    assert figures["error_rate"] == pytest.approx(figures["errors"] / figures["calls"], abs=1e-3)
    assert 0 < figures["p50_ms"] <= figures["p99_ms"]
    listed = {tool["tool"]: tool for tool in figures["tools"]}
    assert listed[TOOL]["calls"] >= 4

    assert after["healthy"] is True, after["problems"]
    assert after["problems"] == []
    assert [view["service"] for view in after["services"]][:4] == list(SERVICE_NAMES)
    assert _service(after, "gateway")["replicas"] == 2
    assert _service(after, "betterstack-worker")["replicas"] == 1
    assert _service(after, "expiry")["replicas"] == expiry_replicas.count
    assert _service(after, "provisioning")["replicas"] >= 1
    for view in after["services"]:
        assert view["ready"] == view["replicas"], view
        assert view["versions"] == ["0.1.0"], view
        for instance in view["instances"]:
            assert instance["ready"] is True
            assert all(instance["checks"].values()), instance
    assert after["expiry_scheduled"] >= 1
    expiry = _service(after, "expiry")["instances"]
    assert all(instance["details"]["scheduled"] >= 1 for instance in expiry)


async def test_upstream_429s_are_counted(
    provisioning: Provisioning, rate_limited_sandbox: None
) -> None:
    """Calls Better Stack answers 429 are errors, and counted as upstream 429s."""
    server = _create_server(provisioning, expires_in=3600)
    before = _status(provisioning)
    async with Client(server["url"]) as client:
        results = [await client.call_tool(TOOL, {}) for _ in range(3)]
    errors = sum(result.is_error for result in results)
    assert errors >= 2  # the bucket held at most one token

    def counted(status: dict[str, Any]) -> bool:
        return bool(status["calls"]["calls"] >= before["calls"]["calls"] + 3)

    after = _wait_for(provisioning, counted)
    assert after["calls"]["errors"] == before["calls"]["errors"] + errors
    assert after["calls"]["upstream_429"] == before["calls"]["upstream_429"] + errors
    listed = {tool["tool"]: tool for tool in after["calls"]["tools"]}
    assert listed[TOOL]["upstream_429"] >= errors


def test_a_stopped_service_drops_out_of_the_answer(
    provisioning: Provisioning, expiry_replicas: ExpiryReplicas
) -> None:
    """Both expiry replicas stopped: expiry has no replica, the answer is not healthy and says
    why in words; started again, it is back."""
    expiry_replicas.stop()
    try:
        status = _status(provisioning)
        assert _service(status, "expiry")["replicas"] == 0
        assert _service(status, "expiry")["instances"] == []
        assert status["healthy"] is False
        assert "expiry: no replica answered" in status["problems"]
        assert _service(status, "gateway")["replicas"] == 2  # the others still answer
    finally:
        expiry_replicas.start()
    status = _wait_for(
        provisioning, lambda s: _service(s, "expiry")["ready"] == expiry_replicas.count
    )
    assert status["healthy"] is True, status["problems"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("minutes=0", "minutes must be a whole number from 1 to 60"),
        ("minutes=61", "minutes must be a whole number from 1 to 60"),
        ("minutes=five", "minutes must be a whole number from 1 to 60"),
        ("minutes=5&minutes=6", "minutes is given more than once"),
        ("window=5", "unknown query parameter 'window'"),
    ],
)
def test_bad_queries_say_what_to_send(provisioning: Provisioning, query: str, message: str) -> None:
    with provisioning.client() as client:
        answer = client.get(f"/status?{query}")
    assert answer.status_code == 400
    assert message in answer.json()["error"]["message"]


def test_status_needs_the_admin_token(provisioning: Provisioning) -> None:
    answer = httpx.get(f"{provisioning.url}/status", timeout=10)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthenticated"


def test_the_window_follows_minutes(provisioning: Provisioning) -> None:
    status = _status(provisioning, minutes=1)
    assert status["calls"]["minutes"] == pytest.approx(1, abs=0.05)
    since = dt.datetime.fromisoformat(status["calls"]["since"])
    now = dt.datetime.fromisoformat(status["time"])
    assert now - since == pytest.approx(dt.timedelta(minutes=1), abs=dt.timedelta(seconds=1))


def test_metrics_need_no_admin_token_and_count_changes_and_requests(
    provisioning: Provisioning,
) -> None:
    """``/metrics`` is open like the probes; it holds the admin changes (by action) and the
    request durations by route template, never a path holding an id."""
    _create_server(provisioning, expires_in=3600)
    _status(provisioning)
    answer = httpx.get(f"{provisioning.url}/metrics", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    lines = answer.text.splitlines()
    created = [line for line in lines if line.startswith("stackmcp_admin_changes_total{")]
    assert any('stackmcp_action="mcp_server.created"' in line for line in created), created
    durations = [line for line in lines if line.startswith("http_server_request_duration_seconds")]
    assert any('http_route="/integrated-account/{account_id}/mcp"' in line for line in durations)
    assert any('http_route="/status"' in line for line in durations)
    assert provisioning.account_id not in answer.text
