"""URL rotation end to end: a leaked MCP server URL is replaced without a new server.

Real processes (NATS with JetStream, Valkey, the worker, two gateway replicas, provisioning, the
sandbox) and the official MCP SDK client: the old URL serves on both replicas (their grant
caches warm), ``POST …/rotate`` answers the new URL once, the old one is refused on both
replicas within a polled deadline and its open streams end (HTTP+SSE and a session's GET
stream), and the new URL serves the same
tools under the same server id. An OAuth sign-in made through the old URL stops working too: its
access token is refused on the old URL (gone) and on the new one (bound to another URL), and its
refresh token gets ``invalid_grant``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from mcp import Client

from tests.e2e.test_oauth_flow import create_api_token, sign_in_and_use, status_with
from tests.support.oauthstack import OAuthStack, oauth_stack
from tests.support.provisioning import Provisioning, refused_within

__all__ = ["oauth_stack"]

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

CONFIG = {"methods": ["read"], "tags": ["incidents"]}
READ_TOOL = "list_all_better_stack_incidents"
REFUSED_WITHIN = 3.0
"""Seconds both replicas have to refuse the old URL (the event takes milliseconds; the margin
is for a loaded machine)."""
SESSION_ERA = "2025-06-18"
"""A protocol version with sessions and their GET stream."""
STREAM_ENDS_WITHIN = 10.0
"""Seconds the old URL's streams have to end (their keep-alive check would take 15)."""


def _token(url: str) -> str:
    return url.rsplit("/", 1)[1]


def _server_path(provisioning: Provisioning, server_id: str) -> str:
    return f"/integrated-account/{provisioning.account_id}/mcp/{server_id}"


async def _tools(url: str) -> list[str]:
    async with Client(url) as client:
        names = [tool.name for tool in (await client.list_tools()).tools]
        result = await client.call_tool(READ_TOOL, {"resolved": False})
        assert not result.is_error, result.content
    return names


async def _open_stream(
    http: httpx.AsyncClient, url: str, headers: dict[str, str]
) -> tuple[Any, asyncio.Task[list[str]]]:
    """Open a server-to-client stream of the old URL; returns it and a task collecting its
    lines until it ends (an HTTP+SSE stream's ``endpoint`` event is read first)."""
    context = http.stream("GET", url, headers={"Accept": "text/event-stream", **headers})
    response = await context.__aenter__()
    assert response.status_code == 200, await response.aread()
    lines = response.aiter_lines()
    if url.endswith("/sse"):
        async for line in lines:
            if line.startswith("data:"):
                break

    async def rest() -> list[str]:
        return [line async for line in lines]

    return context, asyncio.create_task(rest())


async def _session(http: httpx.AsyncClient, url: str) -> dict[str, str]:
    """A Streamable HTTP session on ``url``: the headers its GET stream needs."""
    answer = await http.post(
        url,
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": SESSION_ERA,
                "capabilities": {},
                "clientInfo": {"name": "rotation-e2e", "version": "1"},
            },
        },
        headers={"Accept": "application/json, text/event-stream"},
    )
    assert answer.status_code == 200, answer.text
    headers = {"Mcp-Session-Id": answer.headers["mcp-session-id"]}
    headers["MCP-Protocol-Version"] = SESSION_ERA
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    await http.post(url, json=initialized, headers={**headers, "Accept": "application/json"})
    return headers


async def test_rotated_url_is_refused_on_both_replicas_and_the_new_one_serves_the_same_tools(
    provisioning: Provisioning,
) -> None:
    with provisioning.client() as admin:
        created = admin.post(
            f"/integrated-account/{provisioning.account_id}/mcp",
            json={"name": "rotate me", "config": CONFIG},
        )
    assert created.status_code == 201, created.text
    server = created.json()
    old = _token(server["url"])
    stack = provisioning.stack
    old_urls = [stack.url(old, replica) for replica in (0, 1)]
    before = [await _tools(url) for url in old_urls]  # both replicas' grant caches warm
    assert before[0] == before[1]
    assert READ_TOOL in before[0]

    async with httpx.AsyncClient(timeout=httpx.Timeout(5, read=30)) as http:
        opened = [
            await _open_stream(http, f"{old_urls[1]}/sse", {}),  # HTTP+SSE
            await _open_stream(http, old_urls[0], await _session(http, old_urls[0])),
        ]
        try:
            collecting = [lines for _, lines in opened]
            done, _ = await asyncio.wait(collecting, timeout=0.5)
            assert not done, "a stream of the old URL ended before the rotation"
            with provisioning.client() as admin:
                rotated = admin.post(f"{_server_path(provisioning, server['id'])}/rotate")
            assert rotated.status_code == 200, rotated.text
            took = await asyncio.gather(*(refused_within(u, REFUSED_WITHIN) for u in old_urls))
            started = time.monotonic()
            await asyncio.wait_for(asyncio.gather(*collecting), STREAM_ENDS_WITHIN)
            ended_after = time.monotonic() - started
        finally:
            for stream, _ in opened:
                await stream.__aexit__(None, None, None)
    print(
        f"rotation: old URL refused after {max(took):.3f}s, streams ended {ended_after:.3f}s later"
    )

    answer = rotated.json()
    assert rotated.headers["cache-control"] == "no-store"
    new = _token(answer["url"])
    assert new != old
    assert new.startswith("smcp_srv_")
    assert answer["id"] == server["id"]
    assert answer["name"] == server["name"]
    assert answer["config"] == server["config"]
    assert answer["fingerprint"] != server["fingerprint"]
    assert answer["client_config"]["connector_url"] == answer["url"]
    assert answer["warnings"] == []

    after = [await _tools(stack.url(new, replica)) for replica in (0, 1)]
    assert after == before

    with provisioning.client() as admin:
        shown = admin.get(_server_path(provisioning, server["id"]))
        listed = admin.get(f"/integrated-account/{provisioning.account_id}/mcp")
    assert shown.json()["fingerprint"] == answer["fingerprint"]
    assert shown.json()["status"] == "active"
    for reply in (shown, listed):
        assert new not in reply.text
        assert old not in reply.text


async def test_rotating_a_revoked_server_is_a_conflict_and_serves_nothing(
    provisioning: Provisioning,
) -> None:
    with provisioning.client() as admin:
        server = admin.post(
            f"/integrated-account/{provisioning.account_id}/mcp", json={"name": "revoked"}
        ).json()
        path = _server_path(provisioning, server["id"])
        assert admin.delete(path).status_code == 204
        refused = admin.post(f"{path}/rotate")
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["message"] == "this MCP server was revoked; create a new one"
    await refused_within(server["url"], REFUSED_WITHIN)


async def test_an_oauth_sign_in_through_the_old_url_stops_working(
    oauth_stack: OAuthStack, provisioning: Provisioning
) -> None:
    with provisioning.client() as admin:
        created = admin.post(
            f"/integrated-account/{provisioning.account_id}/mcp",
            json={"name": "rotate oauth", "config": {**CONFIG, "require_api_token_auth": True}},
        )
    assert created.status_code == 201, created.text
    server = created.json()
    old = _token(server["url"])
    api_token, _ = create_api_token(provisioning)
    storage, _ = await sign_in_and_use(oauth_stack, old, api_token)
    assert storage.tokens is not None
    assert storage.client_info is not None
    access = storage.tokens.access_token
    async with httpx.AsyncClient(timeout=10) as http:
        for replica in (0, 1):
            assert await status_with(http, oauth_stack.url(old, replica), access) == 200
        with provisioning.client() as admin:
            rotated = admin.post(f"{_server_path(provisioning, server['id'])}/rotate")
        assert rotated.status_code == 200, rotated.text
        new = _token(rotated.json()["url"])

        deadline = time.monotonic() + REFUSED_WITHIN
        while True:
            statuses = [
                await status_with(http, oauth_stack.url(url, replica), access)
                for url in (old, new)
                for replica in (0, 1)
            ]
            if statuses == [404, 404, 401, 401]:
                break
            assert time.monotonic() < deadline, statuses
            await asyncio.sleep(0.05)
        refresh = await http.post(
            f"{oauth_stack.gateways[0]}/oauth/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": storage.tokens.refresh_token or "",
                "client_id": storage.client_info.client_id,
            },
        )
    assert refresh.json()["error"] == "invalid_grant"
    assert "given a new URL" in refresh.json()["error_description"]
