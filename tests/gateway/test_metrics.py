"""The gateway's ``/metrics``: a real gateway app in this loop, on real NATS and Valkey.

Only tool execution is scripted. The process has one meter provider, so each check compares a
series before and after the calls (other tests in the process count too).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
import pytest
import redis.asyncio as aioredis

from stackmcp.betterstack_worker.catalog import default_catalog
from stackmcp.contracts.errors import ErrorBody, ErrorCode
from stackmcp.contracts.keys import RedisKeys
from stackmcp.contracts.subjects import Subjects
from stackmcp.contracts.tools import CatalogRequest, ToolCallResult
from stackmcp.gateway import metrics
from stackmcp.gateway.app import create_app
from stackmcp.gateway.audit import AuditTrail
from stackmcp.gateway.catalog import ToolCatalog
from stackmcp.gateway.core import McpCore
from stackmcp.gateway.grants import GrantResolver
from stackmcp.gateway.http import McpTransport
from stackmcp.gateway.mcp import McpMethods
from stackmcp.gateway.metrics import ToolCallCounter
from stackmcp.gateway.publisher import AuditPublisher
from stackmcp.gateway.ratelimit import RedisRateLimiter
from stackmcp.gateway.sessions import SessionStore
from stackmcp.runtime.config import AuditConfig, NatsConfig
from stackmcp.runtime.events import ensure_audit_stream
from stackmcp.runtime.natsx import Endpoint, connect
from stackmcp.runtime.serving import free_port, serve_until_stopped
from tests.support.grants import mint_grant
from tests.support.metrics import installed_metrics, sample, samples
from tests.support.runner import ScriptedRunner

pytestmark = pytest.mark.integration

TOOL = "list_all_better_stack_incidents"
HIDDEN = "better_stack_incidents_resolve"  # a write: the test grant reads only
VERSION = "2025-06-18"
HEADERS = {"Accept": "application/json, text/event-stream"}
PER_SERVER = 2
"""Tool calls the test server may make per window (the third is rate limited)."""


@dataclass
class Gateway:
    client: httpx.AsyncClient
    runner: ScriptedRunner
    token: str
    publisher: AuditPublisher

    async def scrape(self) -> bytes:
        answer = await self.client.get("/metrics")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
        return answer.content

    async def post(self, body: dict[str, Any], session_id: str | None = None) -> httpx.Response:
        headers = {**HEADERS, **({"Mcp-Session-Id": session_id} if session_id else {})}
        return await self.client.post(f"/mcp/{self.token}", json=body, headers=headers)

    async def session(self) -> str:
        params = {"protocolVersion": VERSION, "capabilities": {}, "clientInfo": {"name": "m"}}
        answer = await self.post(_rpc("initialize", params))
        assert answer.status_code == 200, answer.text
        return answer.headers["mcp-session-id"]

    async def call(self, session_id: str, tool: str = TOOL) -> dict[str, Any]:
        answer = await self.post(_rpc("tools/call", {"name": tool, "arguments": {}}), session_id)
        body: dict[str, Any] = answer.json()
        return body


def _rpc(method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}


@pytest.fixture
async def gateway(nats_url: str, redis_url: str) -> AsyncIterator[Gateway]:
    installed_metrics()
    prefix = f"met{os.urandom(3).hex()}"
    subjects, keys = Subjects(prefix), RedisKeys(prefix)
    nc = await connect(NatsConfig(url=nats_url), "metrics-test")
    await ensure_audit_stream(nc.jetstream(), subjects, AuditConfig(max_bytes=1_048_576))
    redis = aioredis.Redis.from_url(redis_url)
    catalog_answer = default_catalog().response()

    async def serve_catalog(_: CatalogRequest) -> msgspec.Struct:
        return catalog_answer

    endpoint = Endpoint(nc, subjects.catalog_get, "w", CatalogRequest, serve_catalog)
    await endpoint.start()
    token, _ = await mint_grant(redis, keys, account_id="acc_metrics", tags=("incidents",))
    sessions = SessionStore(redis, keys, nc, subjects.gateway_session_closed, ttl=60)
    await sessions.start()
    publisher = AuditPublisher(nc, subjects, buffer=100)
    publisher.start()
    catalog = ToolCatalog(nc, subjects)
    runner = ScriptedRunner()
    methods = McpMethods(
        catalog,
        runner,
        call_timeout=5,
        limiter=RedisRateLimiter(redis, keys, per_server=PER_SERVER, per_account=0, window=60),
        audit=AuditTrail([publisher.offer, ToolCallCounter(catalog.exists)]),
    )
    transport = McpTransport(
        core=McpCore(methods, sessions),
        grants=GrantResolver(redis, keys),
        nc=nc,
        subjects=subjects,
        allowed_origins=(),
        keepalive=0.2,
    )
    metrics.observe(sessions=sessions.live_counts, audit=publisher.counters)

    async def ready() -> dict[str, bool]:
        return {"ok": True}

    app = create_app(transport, ready, max_body_bytes=100_000)
    stop = asyncio.Event()
    port = free_port("127.0.0.1")
    server = asyncio.create_task(
        serve_until_stopped(
            app, name="metrics", host="127.0.0.1", port=port, stop=stop, drain_timeout=1
        )
    )
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10)
    try:
        await _until_serving(client)
        yield Gateway(client, runner, token, publisher)
    finally:
        stop.set()
        await server
        await client.aclose()
        await publisher.close(1)
        await endpoint.drain()
        await nc.close()
        await redis.aclose()


async def _until_serving(client: httpx.AsyncClient) -> None:
    deadline = time.monotonic() + 10
    while True:
        with contextlib.suppress(httpx.TransportError):
            if (await client.get("/healthz")).status_code == 200:
                return
        assert time.monotonic() < deadline, "the gateway did not start"
        await asyncio.sleep(0.02)


def _calls(tool: str | None, outcome: str, error: str | None = None) -> dict[str, str]:
    labels = {"stackmcp_outcome": outcome}
    if tool is not None:
        labels["gen_ai_tool_name"] = tool
    if error is not None:
        labels["error_type"] = error
    return labels


def _operations(tool: str | None = None, error: str | None = None) -> dict[str, str]:
    labels = {"mcp_method_name": "tools/call", "mcp_protocol_version": VERSION}
    if tool is not None:
        labels["gen_ai_tool_name"] = tool
    if error is not None:
        labels["error_type"] = error
    return labels


TOOL_CALLS = {
    "ok": _calls(TOOL, "ok"),
    "tool error": _calls(TOOL, "tool_error", "upstream_error"),
    "hidden": _calls(HIDDEN, "refused", "tool_hidden"),
    "rate limited": _calls(TOOL, "refused", "rate_limited"),
    "unknown": _calls(None, "protocol_error", "unknown_tool"),
}
OPERATIONS = {
    "ok": _operations(TOOL),
    "tool error": _operations(TOOL, "tool_error"),
    "rate limited": _operations(TOOL, "refused"),
    "hidden or unknown": _operations(error="-32602"),
}
POSTS = {"http_request_method": "POST", "http_route": "/mcp/{token}"}


async def test_tool_calls_are_counted_by_tool_outcome_and_error(gateway: Gateway) -> None:
    before = await gateway.scrape()
    sid = await gateway.session()
    assert (await gateway.call(sid))["result"]["isError"] is False
    gateway.runner.result = ToolCallResult(
        text="Better Stack said 500",
        is_error=True,
        error=ErrorBody(code=ErrorCode.UPSTREAM_ERROR, message="boom"),
        upstream_status=500,
    )
    assert (await gateway.call(sid))["result"]["isError"] is True
    assert "error" in await gateway.call(sid, HIDDEN)
    assert "error" in await gateway.call(sid, "made_up_tool_name")
    limited = await gateway.call(sid)  # the third call to run in this window
    assert "Too many tool calls" in limited["result"]["content"][0]["text"]
    after = await gateway.scrape()

    def grew(name: str, labels: dict[str, str]) -> float:
        return sample(after, name, labels) - sample(before, name, labels)

    for case, labels in TOOL_CALLS.items():
        assert grew("stackmcp_tool_calls_total", labels) == 1, case
    for case, labels in OPERATIONS.items():
        expected = 2 if case == "hidden or unknown" else 1
        assert grew("mcp_server_operation_duration_seconds_count", labels) == expected, case
    initialize = {"mcp_method_name": "initialize", "mcp_protocol_version": VERSION}
    assert grew("mcp_server_operation_duration_seconds_count", initialize) == 1
    status_200 = {**POSTS, "http_response_status_code": "200"}
    assert grew("http_server_request_duration_seconds_count", status_200) == 6
    assert b"made_up_tool_name" not in after
    assert gateway.token.encode() not in after
    hits = {"stackmcp_cache": "grant", "stackmcp_result": "hit"}
    assert grew("stackmcp_cache_lookups_total", hits) >= 5
    session_hits = {"stackmcp_cache": "session", "stackmcp_result": "hit"}
    assert grew("stackmcp_cache_lookups_total", session_hits) == 5


async def test_sessions_and_the_audit_trail_are_observed(gateway: Gateway) -> None:
    sid = await gateway.session()
    await gateway.call(sid)
    text = await gateway.scrape()
    assert sample(text, "stackmcp_sessions_live", {"stackmcp_transport": "streamable"}) == 1
    assert samples(text, "stackmcp_audit_buffered") == [{}]
    published = {"stackmcp_result": "published"}
    deadline = time.monotonic() + 10
    while sample(text, "stackmcp_audit_records_total", published) < 1:
        assert time.monotonic() < deadline, "the audit record was not published"
        await asyncio.sleep(0.05)
        text = await gateway.scrape()
    ended = {"mcp_protocol_version": VERSION, "stackmcp_transport": "streamable"}
    before = sample(text, "mcp_server_session_duration_seconds_count", ended)
    headers = {"Mcp-Session-Id": sid, "MCP-Protocol-Version": VERSION}
    assert (await gateway.client.delete(f"/mcp/{gateway.token}", headers=headers)).is_success
    after = await gateway.scrape()
    assert sample(after, "mcp_server_session_duration_seconds_count", ended) == before + 1
    assert sample(after, "stackmcp_sessions_live", {"stackmcp_transport": "streamable"}) == 0
