"""The upstream client against the real sandbox: pooling, error mapping, no retries."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from stackmcp.betterstack_worker.upstream import UpstreamClient, UpstreamConfig, UpstreamHttpError
from stackmcp.embedded import free_port
from stackmcp.runtime.errors import (
    Conflict,
    DeadlineExceeded,
    InvalidArgument,
    NotFound,
    RateLimited,
    Unauthenticated,
    Unavailable,
    UpstreamError,
)
from tests.support.sandbox import RunningSandbox

pytestmark = pytest.mark.integration


@pytest.fixture(params=["aiohttp", "httpx"])
async def client(request: pytest.FixtureRequest) -> AsyncIterator[UpstreamClient]:
    """A client with short timeouts, on each HTTP engine."""
    upstream = UpstreamClient(UpstreamConfig(timeout=5, connect_timeout=1, client=request.param))
    yield upstream
    await upstream.aclose()


async def test_reads_decode_and_writes_send_json(
    client: UpstreamClient, sandbox_api: RunningSandbox
) -> None:
    """A list comes back decoded; a create sends its JSON body and gets 201."""
    listed = await client.send(
        "GET",
        sandbox_api.base_url,
        "/api/v3/incidents",
        token=sandbox_api.token,
        query={"per_page": 2, "resolved": False},
    )
    assert listed.status == 200
    assert len(listed.body["data"]) == 2
    assert "resolved=false" in listed.body["pagination"]["first"]
    created = await client.send(
        "POST",
        sandbox_api.base_url,
        "/api/v3/incidents",
        token=sandbox_api.token,
        body={
            "name": "Disk full on db-1",
            "requester_email": "alice@example.com",
            "summary": "disk",
        },
    )
    assert created.status == 201
    assert created.body["data"]["attributes"]["name"] == "Disk full on db-1"


async def test_upstream_errors_map_to_precise_tool_errors(
    client: UpstreamClient, sandbox_api: RunningSandbox
) -> None:
    """401, 404, 409 and 422 each become their own error with the upstream's reason."""
    base, token = sandbox_api.base_url, sandbox_api.token
    with pytest.raises(UpstreamHttpError) as auth:
        await client.send("GET", base, "/api/v2/monitors", token="wrong-token")
    assert isinstance(auth.value.error, Unauthenticated)
    assert auth.value.status == 401
    assert "wrong-token" not in str(auth.value.error)
    with pytest.raises(UpstreamHttpError) as missing:
        await client.send("GET", base, "/api/v2/monitors/987654", token=token)
    assert isinstance(missing.value.error, NotFound)
    assert "look the id up" in str(missing.value.error)
    incident = (
        await client.send(
            "POST", base, "/api/v3/incidents", token=token, body={"name": "x", "summary": "x"}
        )
    ).body["data"]["id"]
    await client.send(
        "POST", base, f"/api/v3/incidents/{incident}/acknowledge", token=token, body={}
    )
    with pytest.raises(UpstreamHttpError) as conflict:
        await client.send(
            "POST", base, f"/api/v3/incidents/{incident}/acknowledge", token=token, body={}
        )
    assert isinstance(conflict.value.error, Conflict)
    assert "Incident was already acknowledged" in str(conflict.value.error)
    with pytest.raises(UpstreamHttpError) as invalid:
        await client.send(
            "POST", base, f"/api/v2/incidents/{incident}/comments", token=token, body={}
        )
    assert isinstance(invalid.value.error, InvalidArgument)
    assert invalid.value.error.fields is not None
    assert "content" in invalid.value.error.fields


async def test_rate_limit_is_returned_at_once_with_signals(
    client: UpstreamClient, sandbox_api: RunningSandbox
) -> None:
    """A 429 is raised on the first refusal with retry_after; nothing is retried."""
    assert (
        sandbox_api.admin(
            "PATCH",
            "knobs",
            {"rate_limit": 0.01, "rate_limit_burst": 1, "rate_limit_headers": True},
        ).status_code
        == 200
    )
    first = await client.send(
        "GET", sandbox_api.base_url, "/api/v2/monitors", token=sandbox_api.token
    )
    assert first.rate_limit is not None
    assert first.rate_limit.remaining == 0
    with pytest.raises(UpstreamHttpError) as refused:
        await client.send("GET", sandbox_api.base_url, "/api/v2/monitors", token=sandbox_api.token)
    limited = refused.value.error
    assert isinstance(limited, RateLimited)
    assert limited.retry_after is not None
    assert limited.retry_after >= 1
    assert f"retry after {limited.retry_after} seconds" in str(limited)
    assert refused.value.rate_limit is not None
    assert refused.value.rate_limit.limit == 1


async def test_server_errors_timeouts_and_refused_connections(
    client: UpstreamClient, sandbox_api: RunningSandbox
) -> None:
    """Injected 5xx, added latency past the deadline and a closed port are distinct errors."""
    assert sandbox_api.admin("PATCH", "knobs", {"error_rate": 1}).status_code == 200
    with pytest.raises(UpstreamHttpError) as failed:
        await client.send("GET", sandbox_api.base_url, "/api/v2/monitors", token=sandbox_api.token)
    assert isinstance(failed.value.error, UpstreamError)
    assert re.search(r"error \(5\d\d\)", str(failed.value.error))
    assert (
        sandbox_api.admin("PATCH", "knobs", {"error_rate": 0, "latency_ms": 2000}).status_code
        == 200
    )
    with pytest.raises(DeadlineExceeded, match="check the current state"):
        await client.send(
            "GET", sandbox_api.base_url, "/api/v2/monitors", token=sandbox_api.token, timeout=0.3
        )
    with pytest.raises(Unavailable):
        await client.send("GET", f"http://127.0.0.1:{free_port()}", "/api/v2/monitors", token="t")


async def test_one_pool_per_origin_is_reused() -> None:
    """Successive calls to one origin reuse a single pooled client and connection."""
    connections: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        connections.append(request.url.host)
        return httpx.Response(204)

    upstream = UpstreamClient(UpstreamConfig(), transport=httpx.MockTransport(handler))
    for _ in range(3):
        answer = await upstream.send(
            "DELETE", "https://uptime.example", "/api/v2/monitors/1", token="t"
        )
        assert answer.body is None
    await upstream.send("GET", "https://team.example", "/api/v2/roles", token="t")
    assert connections == ["uptime.example"] * 3 + ["team.example"]
    assert len(upstream._clients) == 2
    await upstream.aclose()
