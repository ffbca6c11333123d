"""The gateway core in process, across the era and transport matrix.

The gateway's app runs in this test's own event loop (Granian embedded, on 127.0.0.1) on a real
NATS and a real Valkey; the worker's real catalogue is served on ``catalog.get``. Only the worker's
tool execution is replaced (by :class:`ScriptedRunner`, at the ``ToolRunner`` seam), so each
behaviour can be checked in every era: session JSON, session SSE (a client accepting only
``text/event-stream``), stateless 2026-07-28 and the 2024-11-05 HTTP+SSE transport.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
import pytest
import redis.asyncio as aioredis
from nats.aio.client import Client

from stackmcp.betterstack_worker.catalog import default_catalog
from stackmcp.contracts.grants import Grant
from stackmcp.contracts.keys import RedisKeys
from stackmcp.contracts.subjects import Subjects
from stackmcp.contracts.tools import CatalogRequest
from stackmcp.gateway.app import create_app
from stackmcp.gateway.catalog import ToolCatalog
from stackmcp.gateway.core import McpCore
from stackmcp.gateway.fastpath import FastMcpPost
from stackmcp.gateway.grants import GrantResolver
from stackmcp.gateway.http import McpTransport
from stackmcp.gateway.mcp import McpMethods
from stackmcp.gateway.ratelimit import RedisRateLimiter
from stackmcp.gateway.sessions import SessionStore
from stackmcp.runtime.config import NatsConfig
from stackmcp.runtime.errors import Unavailable
from stackmcp.runtime.natsx import Endpoint, connect
from stackmcp.runtime.serving import free_port, serve_until_stopped
from tests.support.grants import mint_grant
from tests.support.runner import ScriptedRunner

pytestmark = pytest.mark.integration

ERAS = ["session-json", "session-sse", "stateless", "http+sse"]
TOOL = "list_all_better_stack_incidents"
MODERN = "2026-07-28"
PROTOCOL_META = "io.modelcontextprotocol/protocolVersion"
CAPABILITIES_META = "io.modelcontextprotocol/clientCapabilities"


@dataclass
class Harness:
    client: httpx.AsyncClient
    runner: ScriptedRunner
    token: str
    grant: Grant
    nc: Client
    redis: aioredis.Redis
    keys: RedisKeys
    sessions: SessionStore
    core: McpCore
    app: FastMcpPost

    @property
    def url(self) -> str:
        return f"/mcp/{self.token}"


@pytest.fixture
async def harness(nats_url: str, redis_url: str) -> AsyncIterator[Harness]:
    prefix = f"core{secrets.token_hex(3)}"
    subjects, keys = Subjects(prefix), RedisKeys(prefix)
    nc = await connect(NatsConfig(url=nats_url), "core-test")
    redis = aioredis.Redis.from_url(redis_url)
    catalog_answer = default_catalog().response()

    async def serve_catalog(_: CatalogRequest) -> msgspec.Struct:
        return catalog_answer

    endpoint = Endpoint(nc, subjects.catalog_get, "w", CatalogRequest, serve_catalog)
    await endpoint.start()
    token, grant = await mint_grant(
        redis, keys, account_id="acc_core", methods=("read",), tags=("incidents",)
    )
    sessions = SessionStore(redis, keys, nc, subjects.gateway_session_closed, ttl=60)
    await sessions.start()
    runner = ScriptedRunner()
    limiter = RedisRateLimiter(redis, keys, per_server=3, per_account=0, window=60)
    methods = McpMethods(ToolCatalog(nc, subjects), runner, call_timeout=5, limiter=limiter)
    core = McpCore(methods, sessions)
    transport = McpTransport(
        core=core,
        grants=GrantResolver(redis, keys),
        nc=nc,
        subjects=subjects,
        allowed_origins=(),
        keepalive=0.2,
        body_timeout=1.0,
        max_sse_streams=2,
    )

    async def ready() -> dict[str, bool]:
        return {"ok": True}

    app = create_app(transport, ready, max_body_bytes=100_000)
    stop = asyncio.Event()
    port = free_port("127.0.0.1")
    server = asyncio.create_task(
        serve_until_stopped(
            app, name="core", host="127.0.0.1", port=port, stop=stop, drain_timeout=1
        )
    )
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        while True:
            try:
                if (await client.get("/healthz")).status_code == 200:
                    break
            except httpx.TransportError:
                await asyncio.sleep(0.02)
        yield Harness(client, runner, token, grant, nc, redis, keys, sessions, core, app)
    stop.set()
    await server
    await endpoint.drain()
    await nc.close()
    await redis.aclose()


# --------------------------------------------------------------------------- era clients


def _rpc(method: str, params: dict[str, Any] | None = None, request_id: int = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}}


class EraClient:
    """Sends one request the way a client of ``era`` does; returns (status, headers, message)."""

    def __init__(self, harness: Harness, era: str) -> None:
        self.h = harness
        self.era = era
        self.session_id = ""
        self._events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._endpoint = ""
        self._reader: asyncio.Task[None] | None = None

    async def open(self) -> None:
        if self.era in ("session-json", "session-sse"):
            answer = await self.h.client.post(
                self.h.url,
                json=_rpc("initialize", {"protocolVersion": "2025-06-18", "capabilities": {}}),
                headers={"Accept": "application/json, text/event-stream"},
            )
            assert answer.status_code == 200, answer.text
            self.session_id = answer.headers["mcp-session-id"]
        elif self.era == "http+sse":
            ready = asyncio.Event()
            self._reader = asyncio.create_task(self._read_stream(ready))
            await asyncio.wait_for(ready.wait(), 10)

    async def _read_stream(self, ready: asyncio.Event) -> None:
        async with self.h.client.stream("GET", f"{self.h.url}/sse") as stream:
            event = ""
            async for line in stream.aiter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "endpoint":
                    self._endpoint = line[6:]
                    ready.set()
                elif line.startswith("data: ") and event == "message":
                    self._events.put_nowait(msgspec.json.decode(line[6:]))

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)

    async def send(
        self, method: str, params: dict[str, Any] | None = None, request_id: int = 1
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        body = _rpc(method, params, request_id)
        if self.era == "http+sse":
            answer = await self.h.client.post(self._endpoint, json=body)
            assert answer.status_code == 202, answer.text
            message = await asyncio.wait_for(self._events.get(), 10)
            return 200, {}, message
        headers = {"Accept": "application/json, text/event-stream"}
        if self.era == "session-sse":
            headers["Accept"] = "text/event-stream"
        if self.session_id:
            headers["Mcp-Session-Id"] = self.session_id
        if self.era == "stateless":
            body["params"]["_meta"] = {PROTOCOL_META: MODERN, CAPABILITIES_META: {}}
            headers.update({"MCP-Protocol-Version": MODERN, "Mcp-Method": method})
            if "name" in body["params"]:
                headers["Mcp-Name"] = body["params"]["name"]
        answer = await self.h.client.post(self.h.url, json=body, headers=headers)
        if answer.headers.get("content-type", "").startswith("text/event-stream"):
            data = next(ln for ln in answer.text.splitlines() if ln.startswith("data: "))
            return answer.status_code, dict(answer.headers), msgspec.json.decode(data[6:])
        return answer.status_code, dict(answer.headers), answer.json()


@pytest.fixture(params=ERAS)
async def era_client(request: pytest.FixtureRequest, harness: Harness) -> AsyncIterator[EraClient]:
    client = EraClient(harness, request.param)
    await client.open()
    yield client
    await client.close()


# --------------------------------------------------------------------------- the matrix


async def test_tools_list_is_filtered_by_the_grant(era_client: EraClient) -> None:
    status, _, message = await era_client.send("tools/list")
    assert status == 200
    names = {tool["name"] for tool in message["result"]["tools"]}
    assert TOOL in names
    assert "better_stack_incidents_resolve" not in names  # a write: the grant reads only


async def test_rate_limit_headers_reach_the_client(era_client: EraClient) -> None:
    """Upstream rate-limit fields: in ``_meta`` in every era, and as HTTP headers wherever the
    reply has headers of its own (not on the HTTP+SSE stream)."""
    status, headers, message = await era_client.send("tools/call", {"name": TOOL, "arguments": {}})
    assert status == 200
    meta = message["result"]["_meta"]
    assert (meta["ratelimit-limit"], meta["ratelimit-remaining"]) == (100, 7)
    if era_client.era != "http+sse":
        assert headers["ratelimit-limit"] == "100"
        assert headers["ratelimit-remaining"] == "7"
        assert headers["ratelimit-reset"] == "30"


async def test_a_call_carries_a_deadline_and_a_call_id(era_client: EraClient) -> None:
    await era_client.send("tools/call", {"name": TOOL, "arguments": {"limit": 1}})
    call = era_client.h.runner.calls[-1]
    assert call.call_id
    assert call.deadline is not None
    assert call.arguments == {"limit": 1}


async def test_hidden_tool_is_unknown(era_client: EraClient) -> None:
    status, _, message = await era_client.send(
        "tools/call", {"name": "better_stack_incidents_resolve", "arguments": {"id": "1"}}
    )
    assert message["error"]["code"] == -32602
    assert (
        message["error"]["message"]
        == "better_stack_incidents_resolve is not available on this server — tools/list shows what is"
    )
    assert status == (400 if era_client.era == "stateless" else 200)
    assert era_client.h.runner.calls == []


async def test_inbound_rate_limit_answers_like_an_upstream_429(era_client: EraClient) -> None:
    """The per-server limit (3 per window here) refuses the 4th call with an isError result
    carrying the IETF fields and ``retry-after``, before any worker is asked."""
    for _ in range(3):
        _, _, ok = await era_client.send("tools/call", {"name": TOOL, "arguments": {}})
        assert ok["result"]["isError"] is False
    status, headers, message = await era_client.send("tools/call", {"name": TOOL, "arguments": {}})
    assert status == 200
    result = message["result"]
    assert result["isError"] is True
    assert "Try again in" in result["content"][0]["text"]
    assert result["_meta"]["ratelimit-remaining"] == 0
    assert result["_meta"]["ratelimit-limit"] == 3
    assert 1 <= result["_meta"]["retry-after"] <= 60
    if era_client.era != "http+sse":
        assert headers["retry-after"] == str(result["_meta"]["retry-after"])
    assert len(era_client.h.runner.calls) == 3


async def test_a_worker_failure_is_a_tool_error(era_client: EraClient) -> None:
    era_client.h.runner.error = Unavailable("The Better Stack worker is not available right now")
    status, _, message = await era_client.send("tools/call", {"name": TOOL, "arguments": {}})
    assert status == 200
    assert message["result"]["isError"] is True
    assert "not available" in message["result"]["content"][0]["text"]


async def test_ping_in_its_eras_only_and_discover_in_every_era(era_client: EraClient) -> None:
    """``ping`` is gone in 2026-07-28; ``server/discover`` is answered in every era (a probe
    before ``initialize`` must not stop a client), with the capabilities of the era it came in:
    list changes are announced only where a stream delivers them."""
    _, _, ping = await era_client.send("ping")
    _, _, discover = await era_client.send("server/discover", request_id=2)
    stateless = era_client.era == "stateless"
    if stateless:
        assert ping["error"]["code"] == -32601
    else:
        assert ping["result"] == {}
    assert discover["result"]["supportedVersions"] == [
        MODERN,
        "2025-11-25",
        "2025-06-18",
        "2025-03-26",
        "2024-11-05",
    ]
    assert discover["result"]["capabilities"] == {
        "tools": {"listChanged": not stateless},
        "prompts": {"listChanged": False},
    }


# --------------------------------------------------------------------------- session eras


@pytest.mark.parametrize("era", ["session-json", "http+sse"])
async def test_cancel_with_any_request_id_type_never_fails(harness: Harness, era: str) -> None:
    client = EraClient(harness, era)
    await client.open()
    try:
        headers = {"Mcp-Session-Id": client.session_id} if client.session_id else {}
        url = client._endpoint or harness.url
        for request_id in ([1, 2], {"a": 1}, None, 1.5, True, "x" * 300):
            note = {
                "jsonrpc": "2.0",
                "method": "notifications/cancelled",
                "params": {"requestId": request_id},
            }
            answer = await harness.client.post(url, json=note, headers=headers)
            assert answer.status_code == 202
    finally:
        await client.close()


async def test_cancel_ends_a_call_in_flight(harness: Harness) -> None:
    client = EraClient(harness, "session-json")
    await client.open()
    harness.runner.gate = asyncio.Event()
    harness.runner.started = asyncio.Event()
    call = asyncio.create_task(client.send("tools/call", {"name": TOOL, "arguments": {}}, 9))
    await asyncio.wait_for(harness.runner.started.wait(), 10)
    note = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 9}}
    await harness.client.post(harness.url, json=note, headers={"Mcp-Session-Id": client.session_id})
    _, _, message = await asyncio.wait_for(call, 10)
    assert message["error"]["code"] == -32800


async def test_sessions_over_the_cap_end_the_least_active(harness: Harness) -> None:
    store = SessionStore(
        harness.redis,
        harness.keys,
        harness.nc,
        Subjects("capped").gateway_session_closed,
        ttl=60,
        max_per_server=3,
        max_local=2,
    )
    opened = [await store.create("th", "srv_cap", "2025-06-18", "streamable") for _ in range(5)]
    members = harness.keys.server_sessions("srv_cap")

    async def settled() -> bool:
        return int(await harness.redis.zcard(members)) == 3

    for _ in range(200):
        if await settled():
            break
        await asyncio.sleep(0.02)
    assert await settled()
    assert store.local_count <= 2  # local copies are bounded too
    assert await store.get(opened[0].id, "th") is None
    assert await store.get(opened[1].id, "th") is None
    assert await store.get(opened[4].id, "th") is not None
    assert await harness.redis.ttl(harness.keys.session(opened[4].id)) <= 60


async def test_valkey_down_is_503_with_a_jsonrpc_error(harness: Harness) -> None:
    """Session storage away: every era answers 503 + Retry-After with a JSON-RPC body."""
    client = EraClient(harness, "session-json")
    await client.open()
    unreachable = aioredis.Redis(port=1, socket_connect_timeout=0.2)
    harness.core.sessions = SessionStore(
        unreachable, harness.keys, harness.nc, "unused.closed", ttl=60
    )
    answer = await harness.client.post(
        harness.url,
        json=_rpc("tools/list"),
        headers={"Mcp-Session-Id": client.session_id, "Accept": "application/json"},
    )
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "1"
    assert answer.json()["error"]["code"] == -32603
    initialize = await harness.client.post(
        harness.url, json=_rpc("initialize", {"protocolVersion": "2025-06-18"})
    )
    assert initialize.status_code == 503
    assert initialize.json()["jsonrpc"] == "2.0"


# --------------------------------------------------------------------------- hostile bodies


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"a":"\xff"}}', -32700),
        (b"[" * 10_000 + b"]" * 10_000, -32700),
        (
            b'{"jsonrpc":"2.0","id":1,"method":"ping","params":' + b"[" * 65 + b"]" * 65 + b"}",
            -32700,
        ),
        (b'{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/list"}', -32700),
        (b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"n":1e400}}', -32700),
        (b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"n":' + b"9" * 5000 + b"}}", -32700),
        (b'{"jsonrpc":"2.0","id":' + b"9" * 30 + b',"method":"ping"}', -32600),
        (b'{"jsonrpc":"2.0","id":[1],"method":"ping"}', -32600),
        (b'{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}', -32600),
        (b'{"jsonrpc":"2.0","id":null,"method":"ping"}', -32600),
        (b'{"jsonrpc":"2.0","id":1.5,"method":"ping"}', -32600),
        (b"", -32700),
    ],
)
@pytest.mark.parametrize("path", ["", "/messages?session_id=x"])
async def test_hostile_bodies_are_4xx_jsonrpc_errors(
    harness: Harness, body: bytes, code: int, path: str
) -> None:
    answer = await harness.client.post(
        harness.url + path, content=body, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == code
    assert answer.json()["id"] is None


async def test_sse_streams_per_server_are_capped(harness: Harness) -> None:
    clients = [EraClient(harness, "http+sse") for _ in range(2)]
    for client in clients:
        await client.open()
    try:
        third = await harness.client.get(f"{harness.url}/sse")
        assert third.status_code == 429
        assert "at most 2" in third.json()["error"]["message"]
    finally:
        for client in clients:
            await client.close()


async def test_a_body_that_never_arrives_is_408(harness: Harness) -> None:
    """The harness allows 1 s for a body; a client that sends one byte of ten gets 408."""
    url = httpx.URL(str(harness.client.base_url))
    reader, writer = await asyncio.open_connection(url.host, url.port)
    try:
        writer.write(
            f"POST {harness.url} HTTP/1.1\r\nHost: {url.host}\r\n"
            "Content-Type: application/json\r\nContent-Length: 10\r\n\r\n{".encode()
        )
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 10)
    finally:
        writer.close()
    assert status_line.split()[1] == b"408"
