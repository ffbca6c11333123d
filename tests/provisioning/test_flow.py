"""The operator's path end to end, through real processes: the admin API mints, changes,
revokes and expires MCP servers, and the official MCP client on the minted URL sees it at once.

Stack: NATS (JetStream) + Valkey, the worker, two gateway replicas, provisioning, two expiry
replicas, the sandbox. Nothing here touches Redis or NATS directly except to observe.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
import msgspec
import nats
import pytest
from mcp import Client, ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

from stackmcp.betterstack_worker.catalog import default_catalog
from stackmcp.contracts.events import LifecycleEvent, McpServerExpired
from stackmcp.contracts.filters import filter_tools
from tests.support.provisioning import ExpiryReplicas, Provisioning, refused_within

pytestmark = pytest.mark.e2e

EVENTS = msgspec.json.Decoder(LifecycleEvent)
SHOWN_ONCE: list[str] = []
"""Every URL token and API token the tests below were shown (checked at the end)."""


def expected(methods: Sequence[str], tags: Sequence[str]) -> list[str]:
    """Names the worker's catalogue exposes under a filter."""
    return [t.name for t in filter_tools(default_catalog().tools, methods, tags)]


def create_server(admin: Provisioning, **body: Any) -> dict[str, Any]:
    """POST a server through the admin API; returns the answer (with the one-time URL)."""
    with admin.client() as client:
        answer = client.post(f"/integrated-account/{admin.account_id}/mcp", json=body)
    assert answer.status_code == 201, answer.text
    result: dict[str, Any] = answer.json()
    SHOWN_ONCE.append(result["url"].rsplit("/", 1)[1])
    return result


def in_seconds(seconds: float) -> str:
    """An ``expires_at`` value ``seconds`` from now."""
    return (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)).isoformat()


async def test_rest_minted_url_serves_exactly_the_filtered_tools(
    provisioning: Provisioning,
) -> None:
    """The URL from the create answer lists exactly the filter's tools and runs one of them."""
    server = create_server(
        provisioning, name="triage", config={"methods": ["read"], "tags": ["incidents"]}
    )
    assert server["tool_count"] == len(expected(["read"], ["incidents"]))
    async with Client(server["url"]) as client:
        listed = await client.list_tools()
        assert [t.name for t in listed.tools] == expected(["read"], ["incidents"])
        result = await client.call_tool("list_all_better_stack_incidents", {"resolved": False})
        assert not result.is_error
        assert {"id": "7"}.items() <= next(
            i for i in result.structured_content["result"] if i["id"] == "7"
        ).items()
        with pytest.raises(
            MCPError, match="not available on this server"
        ):  # hidden is exactly unknown
            await client.call_tool("list_all_better_stack_monitors", {})


async def test_patch_changes_what_a_live_session_lists_and_calls(
    provisioning: Provisioning,
) -> None:
    """One open (stateful) session: a PATCH widening the filter shows the write tool, which
    runs; a PATCH narrowing it again makes that tool unknown at once."""
    server = create_server(
        provisioning, name="live", config={"methods": ["read"], "tags": ["on_call"]}
    )
    path = f"/integrated-account/{provisioning.account_id}/mcp/{server['id']}"
    comment = {"incident_id": "7", "content": "looking into it (flow test)"}
    async with Client(server["url"], mode="legacy") as client:
        before = [t.name for t in (await client.list_tools()).tools]
        assert before == expected(["read"], ["on_call"])
        with provisioning.client() as admin:
            widened = {"config": {"methods": ["read", "write"], "tags": ["incidents"]}}
            assert admin.patch(path, json=widened).status_code == 200
        deadline = time.monotonic() + 2
        while (names := [t.name for t in (await client.list_tools()).tools]) == before:
            assert time.monotonic() < deadline, "the live session still lists the old tools"
            await asyncio.sleep(0.05)
        assert names == expected(["read", "write"], ["incidents"])
        result = await client.call_tool("create_a_better_stack_incident_comment", comment)
        assert not result.is_error, result.content
        with pytest.raises(
            MCPError, match="not available on this server"
        ):  # on-call left the filter
            await client.call_tool("list_all_better_stack_on_call_schedules", {})

        with provisioning.client() as admin:
            narrowed = {"config": {"methods": ["read"]}}
            assert admin.patch(path, json=narrowed).status_code == 200
        deadline = time.monotonic() + 1
        while True:
            try:
                await client.call_tool("create_a_better_stack_incident_comment", comment)
            except MCPError as exc:
                refusal = str(exc)
                break
            assert time.monotonic() < deadline, "a write tool still runs after narrowing"
            await asyncio.sleep(0.05)
        assert "not available on this server" in refusal


async def test_revoked_url_is_refused_within_a_second_on_every_replica(
    provisioning: Provisioning,
) -> None:
    """DELETE → both gateway replicas answer 404 within a second, cached grants or not."""
    server = create_server(provisioning, name="revoke me")
    token = server["url"].rsplit("/", 1)[1]
    urls = [provisioning.stack.url(token, replica) for replica in (0, 1)]
    for url in urls:  # warm both replicas' grant caches
        async with Client(url) as client:
            await client.list_tools()
    with provisioning.client() as admin:
        answer = admin.delete(f"/integrated-account/{provisioning.account_id}/mcp/{server['id']}")
    assert answer.status_code == 204
    took = await asyncio.gather(*(refused_within(url, 1.0) for url in urls))
    assert max(took) < 1.0


@asynccontextmanager
async def session_with(url: str, headers: dict[str, str]) -> AsyncIterator[ClientSession]:
    """An initialised SDK session sending ``headers`` on every request."""
    async with (
        create_mcp_http_client(headers=headers) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


async def test_require_api_token_auth_with_missing_wrong_and_right_tokens(
    provisioning: Provisioning,
) -> None:
    """The second factor: 401 without or with a wrong API token, tools with the right one, 401
    again after the token is revoked through the admin API."""
    with provisioning.client() as admin:
        created = admin.post("/api-token", json={"name": "flow"}).json()
    SHOWN_ONCE.append(created["token"])
    server = create_server(provisioning, name="guarded", config={"require_api_token_auth": True})
    assert "x-api-key: <API token>" in server["client_config"]["claude_code_header"]
    initialize = {
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "t", "version": "1"}},
    }  # fmt: skip
    accept = {"Accept": "application/json, text/event-stream"}
    async with httpx.AsyncClient(timeout=5) as http:
        missing = await http.post(server["url"], json=initialize, headers=accept)
        wrong = await http.post(
            server["url"],
            json=initialize,
            headers={**accept, "Authorization": f"Bearer smcp_api_{'x' * 43}"},
        )
    for answer in (missing, wrong):
        assert answer.status_code == 401
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    async with session_with(server["url"], {"Authorization": f"Bearer {created['token']}"}) as s:
        assert [t.name for t in (await s.list_tools()).tools] == expected(["read"], [])
    with provisioning.client() as admin:
        assert admin.delete(f"/api-token/{created['id']}").status_code == 204
    async with httpx.AsyncClient(timeout=5) as http:
        deadline = time.monotonic() + 1
        while True:
            answer = await http.post(
                server["url"],
                json=initialize,
                headers={**accept, "Authorization": f"Bearer {created['token']}"},
            )
            if answer.status_code == 401:
                break
            assert time.monotonic() < deadline, "a revoked API token is still accepted"
            await asyncio.sleep(0.05)


class ExpiredEvents:
    """Core-NATS subscriber counting ``expired`` events per server id."""

    def __init__(self) -> None:
        self.by_server: dict[str, int] = {}

    async def on_message(self, msg: Any) -> None:
        event = EVENTS.decode(msg.data)
        if isinstance(event, McpServerExpired):
            self.by_server[event.server_id] = self.by_server.get(event.server_id, 0) + 1


async def _wait_purged(provisioning: Provisioning, server_id: str, seconds: float) -> None:
    """Wait until expiry has purged the server: it stays listed, ended by ``expiry``."""
    deadline = time.monotonic() + seconds
    path = f"/integrated-account/{provisioning.account_id}/mcp/{server_id}"
    with provisioning.client() as admin:
        while (shown := admin.get(path).json()).get("ended_by") != "expiry":
            assert time.monotonic() < deadline, f"the expired server was not purged: {shown}"
            await asyncio.sleep(0.1)
    assert shown["status"] == "expired", shown
    assert shown["ended_at"] is not None, shown
    assert shown["expires_at"] is not None, shown


async def test_server_expiring_in_2s_is_refused_then_purged_once_by_two_replicas(
    fast_provisioning: Provisioning, expiry_replicas: ExpiryReplicas
) -> None:
    """Refused from expires_at on (gateway clock), purged shortly after, one ``expired`` event
    although two expiry replicas watch the schedule."""
    stack = fast_provisioning.stack
    nc = await nats.connect(stack.nats_url)
    counter = ExpiredEvents()
    await nc.subscribe(stack.subjects.mcp_server_event("expired"), cb=counter.on_message)
    try:
        server = create_server(fast_provisioning, name="short", expires_at=in_seconds(2))
        expires_at = dt.datetime.fromisoformat(server["expires_at"])
        async with Client(server["url"]) as client:
            assert (await client.list_tools()).tools
        took = await refused_within(server["url"], 4.0)
        assert dt.datetime.now(dt.UTC) >= expires_at, f"refused too early ({took:.2f}s)"
        await _wait_purged(fast_provisioning, server["id"], 5)
        await asyncio.sleep(1.0)  # room for a duplicate to show up, if any
        assert counter.by_server.get(server["id"]) == 1
        redis = stack.redis()
        try:
            token_hash = hashlib.sha256(server["url"].rsplit("/", 1)[1].encode()).hexdigest()
            assert not await redis.exists(stack.keys.grant(token_hash))
            assert await redis.exists(stack.keys.ended_grant(token_hash))
            assert await redis.ttl(stack.keys.mcp_server(server["id"])) > 0  # kept for history
            assert not await redis.zscore(stack.keys.expiry_schedule, server["id"])
        finally:
            await redis.aclose()
    finally:
        await nc.drain()


async def test_servers_expiring_while_expiry_is_down_are_purged_when_it_starts(
    fast_provisioning: Provisioning, expiry_replicas: ExpiryReplicas
) -> None:
    """With every expiry replica stopped, servers fall due unpurged (yet refused); started again,
    expiry purges each exactly once."""
    stack = fast_provisioning.stack
    nc = await nats.connect(stack.nats_url)
    counter = ExpiredEvents()
    await nc.subscribe(stack.subjects.mcp_server_event("expired"), cb=counter.on_message)
    expiry_replicas.stop()
    try:
        servers = [
            create_server(fast_provisioning, name=f"down {i}", expires_at=in_seconds(1.5))
            for i in range(2)
        ]
        await asyncio.gather(*(refused_within(s["url"], 4.0) for s in servers))
        await asyncio.sleep(0.5)
        with fast_provisioning.client() as admin:
            listed = admin.get(f"/integrated-account/{fast_provisioning.account_id}/mcp").json()
        statuses = {s["id"]: s["status"] for s in listed["items"]}
        assert all(statuses[s["id"]] == "expired" for s in servers), "purged with expiry down?"
        assert not counter.by_server
    finally:
        expiry_replicas.start()
    try:
        for server in servers:
            await _wait_purged(fast_provisioning, server["id"], 10)
        await asyncio.sleep(1.0)
        assert {s["id"]: counter.by_server.get(s["id"]) for s in servers} == {
            s["id"]: 1 for s in servers
        }
    finally:
        await nc.drain()


async def _redis_dump(stack: Any) -> bytes:
    redis = stack.redis()
    dump = []
    try:
        async for key in redis.scan_iter(match=f"{stack.prefix}:*"):
            kind = (await redis.type(key)).decode()
            if kind == "string":
                dump.append(await redis.get(key) or b"")
            elif kind == "hash":
                dump += [k + v for k, v in (await redis.hgetall(key)).items()]
            elif kind == "set":
                dump += list(await redis.smembers(key))
            elif kind == "zset":
                dump += [m for m, _ in await redis.zrange(key, 0, -1, withscores=True)]
            dump.append(key)
    finally:
        await redis.aclose()
    return b"\n".join(dump)


async def test_no_secret_is_at_rest_or_in_any_log(provisioning: Provisioning) -> None:
    """After the flows above: no URL token, API token, admin token or Better Stack token in
    Redis (any type of key under the stack's prefix) or in any service's log."""
    assert SHOWN_ONCE, "run with the flow tests above"
    stack = provisioning.stack
    secrets = [*SHOWN_ONCE, provisioning.admin_token, stack.sandbox.token]
    dump = await _redis_dump(stack)
    assert b"acc_" in dump, "the dump must hold the records"
    assert b"srv_" in dump
    for secret in secrets:
        assert secret.encode() not in dump
    for log in stack.logs:
        text = log.read_text()
        for secret in secrets:
            assert secret not in text, f"a secret is in {log.name}"
