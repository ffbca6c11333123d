"""One URL for every client: the plain MCP URL serves the HTTP+SSE transport too, ``<url>/mcp``
is an alias, a session's GET stream behaves, and ``server/discover`` is answered in the
session era the way Claude Code probes it.

Real stack (two gateway replicas, worker, NATS, Valkey); clients are the official SDK's and raw
HTTP shaped like what the client in question sends.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from mcp import Client, ClientSession
from mcp.client.sse import sse_client

from tests.support.grants import mint_grant
from tests.support.stack import McpStack

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

READ_TOOL = "list_all_better_stack_incidents"
SESSION_VERSIONS = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"]
ACCEPT = "application/json, text/event-stream"
CLAUDE_CODE_INFO = {"name": "claude-code", "title": "Claude Code", "version": "2.1.332"}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """A raw HTTP client that never follows redirects and never waits long."""
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0), follow_redirects=False) as http:
        yield http


async def mint(stack: McpStack) -> str:
    """A read-only server for incidents; returns its URL token."""
    redis = stack.redis()
    try:
        token, _ = await mint_grant(
            redis, stack.keys, account_id=stack.account_id, methods=("read",), tags=("incidents",)
        )
    finally:
        await redis.aclose()
    return token


def discover_probe(*, modern: bool) -> dict[str, Any]:
    """Claude Code's probe (captured from 2.1.274, 2.1.280 and 2.1.332): a 2026-07-28
    request; its SDK builds the same probe without ``_meta`` for a handshake-era version."""
    params: dict[str, Any] = {}
    if modern:
        params["_meta"] = {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": CLAUDE_CODE_INFO,
            "io.modelcontextprotocol/clientCapabilities": {
                "roots": {"listChanged": True},
                "elicitation": {},
            },
        }
    return {
        "jsonrpc": "2.0",
        "id": "server-discover-probe-1",
        "method": "server/discover",
        **({"params": params} if params else {}),
    }


# --------------------------------------------------------------------------- the plain URL


async def test_sse_client_on_the_plain_url(mcp_stack: McpStack) -> None:
    """The SDK's ``sse_client`` given the plain URL: the stream opens there, its ``endpoint``
    event names the messages URL, and tools are listed and called."""
    token = await mint(mcp_stack)
    async with (
        asyncio.timeout(30),
        sse_client(mcp_stack.url(token)) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        listed = await session.list_tools()
        assert READ_TOOL in [tool.name for tool in listed.tools]
        result = await session.call_tool(READ_TOOL, {"resolved": False})
        assert not result.is_error


async def test_endpoint_event_of_the_plain_url_names_the_messages_url(
    mcp_stack: McpStack, client: httpx.AsyncClient
) -> None:
    """The plain URL's first event is the same ``endpoint`` as ``<url>/sse`` sends."""
    token = await mint(mcp_stack)
    async with (
        asyncio.timeout(30),
        client.stream(
            "GET", mcp_stack.url(token), headers={"Accept": "text/event-stream"}
        ) as stream,
    ):
        assert stream.status_code == 200
        assert stream.headers["x-accel-buffering"] == "no"
        lines = stream.aiter_lines()
        assert await anext(lines) == "event: endpoint"
        data = await anext(lines)
        assert data.startswith(f"data: /mcp/{token}/messages?session_id=")


async def test_get_without_session_or_event_stream_is_406(
    mcp_stack: McpStack, client: httpx.AsyncClient
) -> None:
    """A GET that reads no event stream (a browser, a probe) opens nothing."""
    token = await mint(mcp_stack)
    answer = await client.get(mcp_stack.url(token), headers={"Accept": "application/json"})
    assert answer.status_code == 406
    assert answer.json()["error"]["code"] == -32600


# --------------------------------------------------------------------------- <url>/mcp


@pytest.mark.parametrize("mode", ["auto", "legacy", "2026-07-28"])
async def test_sdk_client_on_the_mcp_alias(mcp_stack: McpStack, mode: str) -> None:
    """``<url>/mcp`` serves every era as ``<url>`` does."""
    token = await mint(mcp_stack)
    async with asyncio.timeout(30), Client(mcp_stack.url(token) + "/mcp", mode=mode) as mcp:  # type: ignore[arg-type]
        listed = await mcp.list_tools()
        assert READ_TOOL in [tool.name for tool in listed.tools]
        assert not (await mcp.call_tool(READ_TOOL, {"limit": 1})).is_error


@pytest.mark.parametrize("suffix", ["/", "/mcp/"])
async def test_trailing_slashes_are_lenient(
    mcp_stack: McpStack, client: httpx.AsyncClient, suffix: str
) -> None:
    """``<url>/`` and ``<url>/mcp/`` answer directly (no redirect)."""
    token = await mint(mcp_stack)
    answer = await client.post(
        mcp_stack.url(token) + suffix, json=discover_probe(modern=False), headers={"Accept": ACCEPT}
    )
    assert answer.status_code == 200, answer.text


async def test_routes_never_name_the_token_in_metrics(
    mcp_stack: McpStack, client: httpx.AsyncClient
) -> None:
    """The alias and the plain-URL stream are labelled by their route templates."""
    token = await mint(mcp_stack)
    url = mcp_stack.url(token, 1)
    await client.post(url + "/mcp", json=discover_probe(modern=False), headers={"Accept": ACCEPT})
    async with client.stream("GET", url, headers={"Accept": "text/event-stream"}) as stream:
        assert stream.status_code == 200
    text = (await client.get(mcp_stack.gateways[1] + "/metrics")).text
    assert token not in text
    assert 'http_route="/mcp/{token}/mcp"' in text


# --------------------------------------------------------------------------- server/discover


async def test_claude_codes_probe_is_answered_with_every_version(
    mcp_stack: McpStack, client: httpx.AsyncClient
) -> None:
    """Claude Code's probe as it sends it (a 2026-07-28 request) gets the versions it needs."""
    token = await mint(mcp_stack)
    answer = await client.post(
        mcp_stack.url(token),
        json=discover_probe(modern=True),
        headers={
            "Accept": ACCEPT,
            "MCP-Protocol-Version": "2026-07-28",
            "Mcp-Method": "server/discover",
        },
    )
    assert answer.status_code == 200, answer.text
    result = answer.json()["result"]
    assert result["supportedVersions"] == ["2026-07-28", *SESSION_VERSIONS]
    assert result["capabilities"] == {
        "tools": {"listChanged": False},
        "prompts": {"listChanged": False},
    }


async def test_discover_in_the_session_era_lets_the_client_initialize(
    mcp_stack: McpStack, client: httpx.AsyncClient
) -> None:
    """The same probe in the session era (no modern headers, no ``_meta``; no session yet) is
    answered, not refused: it lists the session versions, and ``initialize`` follows."""
    token = await mint(mcp_stack)
    url = mcp_stack.url(token)
    answer = await client.post(url, json=discover_probe(modern=False), headers={"Accept": ACCEPT})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["id"] == "server-discover-probe-1"
    assert body["result"]["supportedVersions"][1:] == SESSION_VERSIONS
    assert body["result"]["capabilities"] == {
        "tools": {"listChanged": True},
        "prompts": {"listChanged": False},
    }
    init = {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "claude-code", "version": "2.1.274"},
    }
    initialized = await client.post(
        url,
        json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init},
        headers={"Accept": ACCEPT},
    )
    assert initialized.status_code == 200
    session_id = initialized.headers["mcp-session-id"]
    again = await client.post(
        url,
        json=discover_probe(modern=False),
        headers={"Accept": ACCEPT, "Mcp-Session-Id": session_id},
    )
    assert again.json()["result"]["supportedVersions"][1:] == SESSION_VERSIONS


# --------------------------------------------------------------------------- session GET stream


async def test_session_get_stream_ends_when_the_session_is_deleted_elsewhere(
    mcp_stack: McpStack, client: httpx.AsyncClient
) -> None:
    """A GET stream on replica 1 ends soon after replica 0 deletes its
    session; another replica's unknown session id is 404."""
    token = await mint(mcp_stack)
    headers = {"Accept": ACCEPT, "MCP-Protocol-Version": "2025-11-25"}
    init = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t"}}
    opened = await client.post(
        mcp_stack.url(token, 0),
        json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init},
        headers=headers,
    )
    session = {**headers, "Mcp-Session-Id": opened.headers["mcp-session-id"]}
    unknown = await client.get(
        mcp_stack.url(token, 1), headers={**session, "Mcp-Session-Id": "0" * 32}
    )
    assert unknown.status_code == 404
    async with (
        asyncio.timeout(30),
        client.stream("GET", mcp_stack.url(token, 1), headers=session) as stream,
    ):
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        deleted = await client.delete(mcp_stack.url(token, 0), headers=session)
        assert deleted.status_code == 200
        started = time.monotonic()
        async for _ in stream.aiter_lines():
            pass  # the stream ends: the loop finishes
        assert time.monotonic() - started < 5
