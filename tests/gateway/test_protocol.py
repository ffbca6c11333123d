"""The gateway's MCP wire protocol, checked with raw HTTP against the running stack.

One test per behaviour: JSON-RPC framing errors, the 2026-07-28 validation ladder, sessions
shared by two replicas, the 2024-11-05 HTTP+SSE transport across replicas, the gate (Origin,
URL token, API token), HTTP hygiene (body limit, no redirects, CORS, SSE buffering), hidden
tools, rate-limit signals, trace propagation and a worker that stops answering. Every request
has an httpx timeout, so nothing here can hang.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import pytest

from stackmcp.contracts import Grant
from stackmcp.contracts.tokens import SERVER_TOKEN_PREFIX, hash_token, new_token
from stackmcp.runtime.config import NatsConfig
from stackmcp.runtime.natsx import connect
from tests.support.grants import mint_api_token, mint_grant, revoke_grant
from tests.support.sandbox import RunningSandbox
from tests.support.stack import McpStack

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

MODERN = "2026-07-28"
LATEST_HANDSHAKE = "2025-11-25"
PROTOCOL_META = "io.modelcontextprotocol/protocolVersion"
CAPABILITIES_META = "io.modelcontextprotocol/clientCapabilities"
SERVER_INFO_META = "io.modelcontextprotocol/serverInfo"
ACCEPT = "application/json, text/event-stream"
READ_TOOL = "list_all_better_stack_incidents"
WRITE_TOOL = "better_stack_incidents_resolve"
TIMEOUT = httpx.Timeout(10.0)


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def stack(mcp_stack: McpStack, sandbox_api: RunningSandbox) -> McpStack:
    """The stack, with the sandbox reset to its seed data."""
    return mcp_stack


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """A raw HTTP client that never follows redirects and never waits long."""
    async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False) as http:
        yield http


async def mint(
    stack: McpStack,
    methods: tuple[str, ...] = ("read",),
    tags: tuple[str, ...] = (),
    *,
    require_api_token_auth: bool = False,
    expires_at: dt.datetime | None = None,
) -> tuple[str, Grant]:
    """Mint an MCP server on the stack's account; returns ``(token, grant)``."""
    redis = stack.redis()
    try:
        return await mint_grant(
            redis,
            stack.keys,
            account_id=stack.account_id,
            methods=methods,
            tags=tags,
            require_api_token_auth=require_api_token_auth,
            expires_at=expires_at,
        )
    finally:
        await redis.aclose()


def modern_body(
    method: str, params: dict[str, Any] | None = None, *, request_id: int = 1, version: str = MODERN
) -> dict[str, Any]:
    """A 2026-07-28 request with the per-request ``_meta`` envelope."""
    meta = {PROTOCOL_META: version, CAPABILITIES_META: {}}
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": method,
        "params": {**(params or {}), "_meta": meta},
    }


def modern_headers(
    method: str, name: str | None = None, *, version: str = MODERN, **extra: str
) -> dict[str, str]:
    """The headers a 2026-07-28 request carries."""
    headers = {
        "Accept": ACCEPT,
        "MCP-Protocol-Version": version,
        "Mcp-Method": method,
        **extra,
    }
    if name is not None:
        headers["Mcp-Name"] = name
    return headers


async def modern_call(
    client: httpx.AsyncClient,
    url: str,
    tool: str,
    arguments: dict[str, Any],
    *,
    request_id: int = 1,
    **extra: str,
) -> httpx.Response:
    """A stateless ``tools/call``."""
    return await client.post(
        url,
        json=modern_body(
            "tools/call", {"name": tool, "arguments": arguments}, request_id=request_id
        ),
        headers=modern_headers("tools/call", tool, **extra),
    )


def rpc(method: str, params: dict[str, Any] | None = None, request_id: int | None = 1) -> Any:
    """A session-era JSON-RPC message (a notification when ``request_id`` is None)."""
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        message["params"] = params
    if request_id is not None:
        message["id"] = request_id
    return message


def init_params(version: str = LATEST_HANDSHAKE) -> dict[str, Any]:
    """``initialize`` params."""
    return {
        "protocolVersion": version,
        "capabilities": {},
        "clientInfo": {"name": "test_protocol", "version": "1"},
    }


async def initialize(
    client: httpx.AsyncClient, url: str, version: str = LATEST_HANDSHAKE
) -> tuple[str, dict[str, Any]]:
    """Open a session; returns ``(session id, initialize result)``."""
    answer = await client.post(
        url, json=rpc("initialize", init_params(version)), headers={"Accept": ACCEPT}
    )
    assert answer.status_code == 200, answer.text
    session_id = answer.headers.get("mcp-session-id")
    assert session_id, answer.headers
    return session_id, answer.json()["result"]


def session_headers(session_id: str, version: str = LATEST_HANDSHAKE) -> dict[str, str]:
    """Headers of a request inside a session."""
    return {"Accept": ACCEPT, "Mcp-Session-Id": session_id, "MCP-Protocol-Version": version}


def error_of(answer: httpx.Response) -> dict[str, Any]:
    """The JSON-RPC error object of an answer."""
    body = answer.json()
    assert body["jsonrpc"] == "2.0"
    assert "result" not in body, body
    error: dict[str, Any] = body["error"]
    return error


def result_of(answer: httpx.Response) -> dict[str, Any]:
    """The JSON-RPC result of a successful answer."""
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert "error" not in body, body
    result: dict[str, Any] = body["result"]
    return result


async def upstream_requests(sandbox: RunningSandbox) -> list[dict[str, Any]]:
    """The sandbox's log of API requests (oldest first)."""
    answer = await asyncio.to_thread(sandbox.admin, "GET", "requests")
    assert answer.status_code == 200
    requests: list[dict[str, Any]] = answer.json()["requests"]
    return requests


# --------------------------------------------------------------------------- 1. framing


async def test_bad_json_is_a_parse_error(stack: McpStack, client: httpx.AsyncClient) -> None:
    """A body that is not JSON → 400, -32700."""
    token, _ = await mint(stack)
    answer = await client.post(
        stack.url(token),
        content=b'{"jsonrpc": "2.0", "id": 1, "method": ',
        headers={"Accept": ACCEPT, "Content-Type": "application/json"},
    )
    assert answer.status_code == 400
    error = error_of(answer)
    assert error["code"] == -32700
    assert "Parse error" in error["message"]
    assert answer.json()["id"] is None


async def test_a_batch_is_refused(stack: McpStack, client: httpx.AsyncClient) -> None:
    """A JSON array (batch) → 400, -32600."""
    token, _ = await mint(stack)
    answer = await client.post(
        stack.url(token), json=[rpc("ping", request_id=1), rpc("ping", request_id=2)]
    )
    assert answer.status_code == 400
    error = error_of(answer)
    assert error["code"] == -32600
    assert "batches are not supported" in error["message"]


async def test_unknown_method_in_the_session_era_is_a_jsonrpc_error(
    stack: McpStack, client: httpx.AsyncClient
) -> None:
    """Inside a session an unknown method is a JSON-RPC -32601 on HTTP 200."""
    token, _ = await mint(stack)
    session_id, _ = await initialize(client, stack.url(token))
    answer = await client.post(
        stack.url(token),
        json=rpc("resources/list", {}, request_id=7),
        headers=session_headers(session_id),
    )
    assert answer.status_code == 200
    assert answer.json()["id"] == 7
    error = error_of(answer)
    assert error["code"] == -32601
    assert error["message"] == "Method not found: resources/list"


async def test_unknown_method_on_a_modern_request_is_404(
    stack: McpStack, client: httpx.AsyncClient
) -> None:
    """A 2026-07-28 request for an unknown method → HTTP 404 + -32601."""
    token, _ = await mint(stack)
    answer = await client.post(
        stack.url(token),
        json=modern_body("resources/list", request_id=3),
        headers=modern_headers("resources/list"),
    )
    assert answer.status_code == 404
    assert answer.json()["id"] == 3
    error = error_of(answer)
    assert error["code"] == -32601
    assert "resources/list" in error["message"]


@pytest.mark.parametrize("method", ["initialize", "ping"])
async def test_handshake_methods_do_not_exist_on_a_modern_request(
    stack: McpStack, client: httpx.AsyncClient, method: str
) -> None:
    """``initialize`` and ``ping`` were removed in 2026-07-28 → 404 + -32601."""
    token, _ = await mint(stack)
    params = init_params() if method == "initialize" else {}
    answer = await client.post(
        stack.url(token), json=modern_body(method, params), headers=modern_headers(method)
    )
    assert answer.status_code == 404
    error = error_of(answer)
    assert error["code"] == -32601
    assert error["message"] == f"Method not found: {method}"
    assert "mcp-session-id" not in answer.headers


# --------------------------------------------------------------------------- 2. modern ladder


async def test_modern_request_without_meta_is_invalid_params(
    stack: McpStack, client: httpx.AsyncClient
) -> None:
    """No ``params._meta`` → 400 + -32602 naming the two required keys."""
    token, _ = await mint(stack)
    answer = await client.post(
        stack.url(token),
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}},
        headers=modern_headers("tools/list"),
    )
    assert answer.status_code == 400
    error = error_of(answer)
    assert error["code"] == -32602
    assert PROTOCOL_META in error["message"]
    assert CAPABILITIES_META in error["message"]


async def test_unsupported_modern_version_is_32022(
    stack: McpStack, client: httpx.AsyncClient
) -> None:
    """An unknown non-handshake version → 400 + -32022 with ``supported`` and ``requested``."""
    token, _ = await mint(stack)
    answer = await client.post(
        stack.url(token),
        json=modern_body("tools/list", version="2099-01-01"),
        headers=modern_headers("tools/list", version="2099-01-01"),
    )
    assert answer.status_code == 400
    error = error_of(answer)
    assert error["code"] == -32022
    assert "2099-01-01" in error["message"]
    assert MODERN in error["data"]["supported"]
    assert LATEST_HANDSHAKE in error["data"]["supported"]
    assert error["data"]["requested"] == "2099-01-01"


async def test_mcp_method_header_mismatch_is_32020(
    stack: McpStack, client: httpx.AsyncClient
) -> None:
    """``Mcp-Method`` different from the body's method → 400 + -32020."""
    token, _ = await mint(stack)
    answer = await client.post(
        stack.url(token), json=modern_body("tools/list"), headers=modern_headers("server/discover")
    )
    assert answer.status_code == 400
    error = error_of(answer)
    assert error["code"] == -32020
    assert "Mcp-Method" in error["message"]


async def test_mcp_name_header_mismatch_is_32020(
    stack: McpStack, sandbox_api: RunningSandbox, client: httpx.AsyncClient
) -> None:
    """A ``tools/call`` whose ``Mcp-Name`` names another tool → 400 + -32020, nothing called."""
    token, _ = await mint(stack)
    answer = await client.post(
        stack.url(token),
        json=modern_body("tools/call", {"name": READ_TOOL, "arguments": {"limit": 1}}),
        headers=modern_headers("tools/call", "list_all_better_stack_monitors"),
    )
    assert answer.status_code == 400
    error = error_of(answer)
    assert error["code"] == -32020
    assert "Mcp-Name" in error["message"]
    assert await upstream_requests(sandbox_api) == []


async def test_server_discover(stack: McpStack, client: httpx.AsyncClient) -> None:
    """``server/discover`` answers versions, capabilities, caching hints and serverInfo."""
    token, _ = await mint(stack)
    answer = await client.post(
        stack.url(token),
        json=modern_body("server/discover"),
        headers=modern_headers("server/discover"),
    )
    result = result_of(answer)
    assert answer.headers["content-type"].startswith("application/json")
    assert MODERN in result["supportedVersions"]
    assert LATEST_HANDSHAKE in result["supportedVersions"]
    assert result["capabilities"] == {
        "tools": {"listChanged": False},
        "prompts": {"listChanged": False},
    }
    assert result["resultType"] == "complete"
    assert isinstance(result["ttlMs"], int)
    assert result["ttlMs"] >= 0
    assert result["cacheScope"] in ("public", "private")
    info = result["_meta"][SERVER_INFO_META]
    assert info["name"] == "stackmcp"
    assert info["version"]


@pytest.mark.parametrize("verb", ["GET", "DELETE"])
async def test_get_and_delete_are_405_on_a_modern_request(
    stack: McpStack, client: httpx.AsyncClient, verb: str
) -> None:
    """2026-07-28 is POST only: GET and DELETE → 405 with ``Allow: POST``."""
    token, _ = await mint(stack)
    answer = await client.request(
        verb, stack.url(token), headers={"MCP-Protocol-Version": MODERN, "Accept": ACCEPT}
    )
    assert answer.status_code == 405
    assert answer.headers["allow"] == "POST"


# --------------------------------------------------------------------------- 3. sessions


async def test_initialize_returns_a_session_id(stack: McpStack, client: httpx.AsyncClient) -> None:
    """``initialize`` answers with a visible-ASCII ``Mcp-Session-Id`` and the server's info."""
    token, _ = await mint(stack)
    session_id, result = await initialize(client, stack.url(token))
    assert len(session_id) >= 16
    assert all(0x21 <= ord(c) <= 0x7E for c in session_id)
    assert result["protocolVersion"] == LATEST_HANDSHAKE
    assert result["serverInfo"]["name"] == "stackmcp"
    assert result["capabilities"]["tools"] == {"listChanged": True}  # the GET stream says so


async def test_request_without_session_id_is_400(
    stack: McpStack, client: httpx.AsyncClient
) -> None:
    """After initialize, a request without ``Mcp-Session-Id`` → 400."""
    token, _ = await mint(stack)
    await initialize(client, stack.url(token))
    answer = await client.post(
        stack.url(token),
        json=rpc("tools/list", {}),
        headers={"Accept": ACCEPT, "MCP-Protocol-Version": LATEST_HANDSHAKE},
    )
    assert answer.status_code == 400
    error = error_of(answer)
    assert error["code"] == -32600
    assert "Mcp-Session-Id" in error["message"]


async def test_unknown_session_id_is_404(stack: McpStack, client: httpx.AsyncClient) -> None:
    """An ``Mcp-Session-Id`` the gateway never issued → 404."""
    token, _ = await mint(stack)
    answer = await client.post(
        stack.url(token), json=rpc("tools/list", {}), headers=session_headers("0" * 32)
    )
    assert answer.status_code == 404
    error = error_of(answer)
    assert error["code"] == -32600
    assert error["message"] == "Session not found"


async def test_session_of_another_url_is_404(stack: McpStack, client: httpx.AsyncClient) -> None:
    """A session is bound to its URL token: another server's URL does not know it."""
    token, _ = await mint(stack)
    other, _ = await mint(stack)
    session_id, _ = await initialize(client, stack.url(token))
    answer = await client.post(
        stack.url(other), json=rpc("ping", {}), headers=session_headers(session_id)
    )
    assert answer.status_code == 404
    assert error_of(answer)["message"] == "Session not found"


async def test_deleted_session_is_gone_on_both_replicas(
    stack: McpStack, client: httpx.AsyncClient
) -> None:
    """DELETE ends a session (200); within a second both replicas answer 404 for it."""
    token, _ = await mint(stack)
    session_id, _ = await initialize(client, stack.url(token, 0))
    for replica in (0, 1):  # both replicas now hold the session (replica 1 caches it)
        answer = await client.post(
            stack.url(token, replica), json=rpc("ping", {}), headers=session_headers(session_id)
        )
        assert result_of(answer) == {}
    ended = await client.delete(stack.url(token, 0), headers=session_headers(session_id))
    assert ended.status_code == 200
    deadline = time.monotonic() + 1.0
    statuses: list[int] = []
    while True:
        statuses = []
        for replica in (0, 1):
            answer = await client.post(
                stack.url(token, replica), json=rpc("ping", {}), headers=session_headers(session_id)
            )
            statuses.append(answer.status_code)
        if statuses == [404, 404] or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert statuses == [404, 404]
    again = await client.delete(stack.url(token, 1), headers=session_headers(session_id))
    assert again.status_code == 404


@pytest.mark.parametrize(
    ("requested", "answered"),
    [
        ("2024-11-05", "2024-11-05"),
        ("2025-03-26", "2025-03-26"),
        ("2025-06-18", "2025-06-18"),
        ("2025-11-25", "2025-11-25"),
        ("1999-01-01", LATEST_HANDSHAKE),
    ],
)
async def test_version_negotiation(
    stack: McpStack, client: httpx.AsyncClient, requested: str, answered: str
) -> None:
    """A supported requested version is echoed; an unknown one gets the latest handshake."""
    token, _ = await mint(stack)
    _, result = await initialize(client, stack.url(token), requested)
    assert result["protocolVersion"] == answered


async def test_initialized_notification_is_202_empty(
    stack: McpStack, client: httpx.AsyncClient
) -> None:
    """``notifications/initialized`` → 202 with an empty body."""
    token, _ = await mint(stack)
    session_id, _ = await initialize(client, stack.url(token))
    answer = await client.post(
        stack.url(token),
        json=rpc("notifications/initialized", request_id=None),
        headers=session_headers(session_id),
    )
    assert answer.status_code == 202
    assert answer.content == b""


# --------------------------------------------------------------------------- 4. two replicas


async def test_replicas_serve_one_session_alternately(
    stack: McpStack, client: httpx.AsyncClient
) -> None:
    """initialize on replica 0, tools/list on 1, tools/call on 0, ping on 1: all succeed."""
    token, _ = await mint(stack, ("read",), ("incidents",))
    session_id, _ = await initialize(client, stack.url(token, 0))
    headers = session_headers(session_id)
    listed = result_of(
        await client.post(stack.url(token, 1), json=rpc("tools/list", {}, 2), headers=headers)
    )
    assert READ_TOOL in {t["name"] for t in listed["tools"]}
    called = result_of(
        await client.post(
            stack.url(token, 0),
            json=rpc("tools/call", {"name": READ_TOOL, "arguments": {"resolved": False}}, 3),
            headers=headers,
        )
    )
    assert called["isError"] is False
    assert "7" in {i["id"] for i in called["structuredContent"]["result"]}
    pinged = await client.post(stack.url(token, 1), json=rpc("ping", {}, 4), headers=headers)
    assert result_of(pinged) == {}
    assert pinged.headers["mcp-session-id"] == session_id


# --------------------------------------------------------------------------- 5. HTTP+SSE


class SseEvents:
    """Parse a ``text/event-stream`` response into ``(event, data)`` pairs on a queue."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()

    async def pump(self) -> None:
        """Read until the stream ends (run as a task; cancelled at the end of the test)."""
        event = "message"
        data: list[str] = []
        async for line in self.response.aiter_lines():
            if line == "":
                if data:
                    await self.queue.put((event, "\n".join(data)))
                event, data = "message", []
            elif line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))

    async def next(self, timeout: float = 10.0) -> tuple[str, str]:
        """The next event, or fail after ``timeout`` seconds."""
        return await asyncio.wait_for(self.queue.get(), timeout)


async def test_http_sse_replies_travel_across_replicas(
    stack: McpStack, client: httpx.AsyncClient
) -> None:
    """Stream on replica 0, POST to replica 1: each POST is 202, replies arrive on the stream."""
    token, _ = await mint(stack, ("read",), ("incidents",))
    async with (
        asyncio.timeout(30),
        client.stream(
            "GET", stack.url(token, 0) + "/sse", headers={"Accept": "text/event-stream"}
        ) as stream,
    ):
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.headers["x-accel-buffering"] == "no"
        events = SseEvents(stream)
        pump = asyncio.create_task(events.pump())
        try:
            kind, endpoint = await events.next()
            assert kind == "endpoint"
            assert endpoint.startswith(f"/mcp/{token}/messages?session_id=")
            messages_url = stack.gateways[1] + endpoint
            posts = [
                rpc("initialize", init_params("2024-11-05"), 1),
                rpc("notifications/initialized", request_id=None),
                rpc("tools/list", {}, 2),
                rpc("tools/call", {"name": READ_TOOL, "arguments": {"resolved": False}}, 3),
            ]
            for message in posts:
                answer = await client.post(messages_url, json=message)
                assert answer.status_code == 202, answer.text
                if "id" not in message:
                    continue
                kind, data = await events.next()
                assert kind == "message"
                reply = msgspec.json.decode(data)
                assert reply["id"] == message["id"]
                assert "error" not in reply, reply
                if message["method"] == "initialize":
                    assert reply["result"]["protocolVersion"] == "2024-11-05"
                elif message["method"] == "tools/list":
                    assert READ_TOOL in {t["name"] for t in reply["result"]["tools"]}
                else:
                    assert reply["result"]["isError"] is False
                    ids = {i["id"] for i in reply["result"]["structuredContent"]["result"]}
                    assert "7" in ids
            assert events.queue.empty()  # the notification got no reply
        finally:
            pump.cancel()
            with pytest.raises(asyncio.CancelledError):
                await pump


async def test_http_sse_messages_for_an_unknown_session_are_404(
    stack: McpStack, client: httpx.AsyncClient
) -> None:
    """A messages POST naming no open SSE session → 404."""
    token, _ = await mint(stack)
    answer = await client.post(
        stack.url(token, 1) + "/messages?session_id=" + "0" * 32, json=rpc("ping", {})
    )
    assert answer.status_code == 404
    assert error_of(answer)["message"] == "Session not found"


# --------------------------------------------------------------------------- 6. the gate


async def test_foreign_origin_is_403_before_the_token_is_looked_up(
    stack: McpStack, client: httpx.AsyncClient
) -> None:
    """A foreign ``Origin`` → 403, for a real token and for one that does not exist."""
    token, _ = await mint(stack)
    unknown = new_token(SERVER_TOKEN_PREFIX)
    for url in (stack.url(token), stack.url(unknown)):
        answer = await client.post(
            url,
            json=modern_body("server/discover"),
            headers=modern_headers("server/discover", Origin="http://evil.example"),
        )
        assert answer.status_code == 403
        assert b"Origin" in answer.content


async def test_localhost_origin_is_accepted(stack: McpStack, client: httpx.AsyncClient) -> None:
    """A localhost ``Origin`` passes the gate (no allow-list configured)."""
    token, _ = await mint(stack)
    for origin in ("http://localhost:6274", "http://127.0.0.1"):
        answer = await client.post(
            stack.url(token),
            json=modern_body("server/discover"),
            headers=modern_headers("server/discover", Origin=origin),
        )
        assert result_of(answer)["resultType"] == "complete"


async def test_unknown_revoked_and_expired_tokens_look_the_same(
    stack: McpStack, client: httpx.AsyncClient
) -> None:
    """Unknown, malformed, revoked and expired (key not purged yet) tokens → identical 404s."""

    async def discover(token: str, replica: int = 0) -> httpx.Response:
        return await client.post(
            stack.url(token, replica),
            json=modern_body("server/discover"),
            headers=modern_headers("server/discover"),
        )

    unknown = await discover(new_token(SERVER_TOKEN_PREFIX))
    assert unknown.status_code == 404
    assert error_of(unknown)["code"] == -32600
    malformed = await discover("x")
    assert (malformed.status_code, malformed.content) == (404, unknown.content)

    redis = stack.redis()
    nc = await connect(NatsConfig(url=stack.nats_url), "test-protocol")
    try:
        revoked, revoked_grant = await mint(stack)
        expiring, expiring_grant = await mint(
            stack, expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1.5)
        )
        key = stack.keys.grant(hash_token(expiring))
        assert await redis.persist(key)  # Redis will not purge it: only the clock check is left
        assert await redis.ttl(key) == -1
        for replica in (0, 1):  # both replicas resolve (and cache) both grants
            assert (await discover(revoked, replica)).status_code == 200
            assert (await discover(expiring, replica)).status_code == 200

        await revoke_grant(redis, nc, stack.subjects, stack.keys, revoked, revoked_grant)
        deadline = time.monotonic() + 1.0
        while True:  # the event reaches every replica long before their cache TTL (30 s)
            answers = [await discover(revoked, replica) for replica in (0, 1)]
            if all(a.status_code == 404 for a in answers) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        for answer in answers:
            assert (answer.status_code, answer.content) == (404, unknown.content)

        assert expiring_grant.expires_at is not None
        wait = (expiring_grant.expires_at - dt.datetime.now(dt.UTC)).total_seconds() + 0.1
        await asyncio.sleep(max(0.0, wait))
        for replica in (0, 1):
            answer = await discover(expiring, replica)
            assert (answer.status_code, answer.content) == (404, unknown.content)
        assert await redis.exists(key) == 1
    finally:
        await nc.close()
        await redis.aclose()


# --------------------------------------------------------------------------- 7. API tokens


async def test_api_token_second_factor(stack: McpStack, client: httpx.AsyncClient) -> None:
    """``require_api_token_auth``: 401 + ``WWW-Authenticate`` without a valid API token."""
    token, _ = await mint(stack, require_api_token_auth=True)
    url = stack.url(token)
    body = modern_body("server/discover")

    missing = await client.post(url, json=body, headers=modern_headers("server/discover"))
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer ")
    assert error_of(missing)["code"] == -32600
    assert "requires an API token" in error_of(missing)["message"]

    wrong = await client.post(
        url,
        json=body,
        headers=modern_headers("server/discover", Authorization="Bearer smcp_api_" + "a" * 43),
    )
    assert wrong.status_code == 401
    assert "www-authenticate" in wrong.headers
    assert "not accepted" in error_of(wrong)["message"]

    redis = stack.redis()
    try:
        api_token = await mint_api_token(redis, stack.keys)
    finally:
        await redis.aclose()
    accepted = await client.post(
        url,
        json=body,
        headers=modern_headers("server/discover", Authorization=f"Bearer {api_token}"),
    )
    assert result_of(accepted)["resultType"] == "complete"
    session = await client.post(
        url,
        json=rpc("initialize", init_params()),
        headers={"Accept": ACCEPT, "Authorization": f"Bearer {api_token}"},
    )
    assert result_of(session)["protocolVersion"] == LATEST_HANDSHAKE


# --------------------------------------------------------------------------- 8. HTTP hygiene


async def test_oversized_body_is_413(stack: McpStack, client: httpx.AsyncClient) -> None:
    """A body above 1 MiB → 413 with a JSON-RPC error."""
    token, _ = await mint(stack)
    body = modern_body("tools/list", {"pad": "x" * (1_048_576 + 1)})
    answer = await client.post(
        stack.url(token), content=msgspec.json.encode(body), headers=modern_headers("tools/list")
    )
    assert answer.status_code == 413
    error = error_of(answer)
    assert error["code"] == -32600
    assert "too large" in error["message"]


async def test_no_redirect_on_a_trailing_slash(stack: McpStack, client: httpx.AsyncClient) -> None:
    """``/mcp/x`` and ``/mcp/x/`` both answer directly (no 3xx)."""
    token, _ = await mint(stack)
    for url in (stack.url(token), stack.url(token) + "/"):
        answer = await client.post(
            url, json=modern_body("server/discover"), headers=modern_headers("server/discover")
        )
        assert answer.status_code == 200, (url, answer.status_code, answer.headers)
        assert "location" not in answer.headers
        assert result_of(answer)["resultType"] == "complete"
    for url in (stack.url("x"), stack.url("x") + "/"):
        answer = await client.post(url, json=rpc("ping", {}))
        assert answer.status_code == 404, (url, answer.status_code, answer.headers)


async def test_cors_exposes_the_session_id(stack: McpStack, client: httpx.AsyncClient) -> None:
    """A preflight from an allowed origin allows the MCP request headers; the answer to the
    request itself exposes ``Mcp-Session-Id`` to the page."""
    token, _ = await mint(stack)
    origin = "http://localhost:6274"
    preflight = await client.options(
        stack.url(token),
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, mcp-session-id, mcp-protocol-version",
        },
    )
    assert preflight.status_code in (200, 204)
    assert preflight.headers["access-control-allow-origin"] in (origin, "*")
    allowed = preflight.headers["access-control-allow-headers"].lower()
    for header in ("mcp-session-id", "mcp-protocol-version", "mcp-method", "mcp-name"):
        assert header in allowed
    # Browsers read Access-Control-Expose-Headers from the actual response (Fetch standard),
    # not from the preflight: that is where the session id must be exposed.
    answer = await client.post(
        stack.url(token),
        json=rpc("initialize", init_params()),
        headers={"Accept": ACCEPT, "Origin": origin},
    )
    assert answer.status_code == 200
    assert "mcp-session-id" in answer.headers["access-control-expose-headers"].lower()


async def test_sse_answers_disable_proxy_buffering(
    stack: McpStack, client: httpx.AsyncClient
) -> None:
    """A Streamable HTTP answer sent as SSE carries ``X-Accel-Buffering: no``."""
    token, _ = await mint(stack)
    answer = await client.post(
        stack.url(token),
        json=modern_body("server/discover"),
        headers={**modern_headers("server/discover"), "Accept": "text/event-stream"},
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert answer.headers["x-accel-buffering"] == "no"
    assert answer.headers["cache-control"].startswith("no-cache")
    assert answer.text.startswith("event: message\ndata: ")
    reply = msgspec.json.decode(answer.text.split("data: ", 1)[1].strip())
    assert reply["result"]["resultType"] == "complete"


# --------------------------------------------------------------------------- 9. hidden tools


async def test_hidden_tool_is_refused_like_an_unknown_tool(
    stack: McpStack, sandbox_api: RunningSandbox, client: httpx.AsyncClient
) -> None:
    """A write tool on a read-only server is exactly as absent as a made-up name, in both eras,
    and nothing reaches Better Stack."""
    token, _ = await mint(stack, ("read",))
    url = stack.url(token)

    def shape(answer: httpx.Response, name: str) -> tuple[int, int, str]:
        error = error_of(answer)
        return answer.status_code, error["code"], error["message"].replace(name, "<tool>")

    args = {"incident_id": "7"}
    hidden = await modern_call(client, url, WRITE_TOOL, args)
    unknown = await modern_call(client, url, "no_such_tool", args)
    assert (
        shape(hidden, WRITE_TOOL)
        == shape(unknown, "no_such_tool")
        == (
            400,
            -32602,
            "<tool> is not available on this server — tools/list shows what is",
        )
    )

    session_id, _ = await initialize(client, url)
    legacy = []
    for name in (WRITE_TOOL, "no_such_tool"):
        answer = await client.post(
            url,
            json=rpc("tools/call", {"name": name, "arguments": args}),
            headers=session_headers(session_id),
        )
        legacy.append(shape(answer, name))
    assert (
        legacy[0]
        == legacy[1]
        == (200, -32602, "<tool> is not available on this server — tools/list shows what is")
    )
    assert await upstream_requests(sandbox_api) == []


# --------------------------------------------------------------------------- 10. rate limits


async def test_rate_limit_fields_and_retry(
    stack: McpStack, sandbox_api: RunningSandbox, client: httpx.AsyncClient
) -> None:
    """Upstream rate-limit headers reach the client as HTTP headers and ``_meta``; a 429 becomes
    an ``isError`` result with ``retry-after`` saying when to retry."""
    token, _ = await mint(stack, ("read",), ("incidents",))
    knobs = {"rate_limit": 0.01, "rate_limit_burst": 1, "rate_limit_headers": True}
    assert sandbox_api.admin("PATCH", "knobs", knobs).status_code == 200
    try:
        first = await modern_call(client, stack.url(token), READ_TOOL, {"limit": 1})
        result = result_of(first)
        assert result["isError"] is False
        assert first.headers["ratelimit-limit"] == "1"
        assert first.headers["ratelimit-remaining"] == "0"
        meta = result["_meta"]
        assert meta["ratelimit-limit"] == 1
        assert meta["ratelimit-remaining"] == 0
        assert str(meta["ratelimit-reset"]) == first.headers["ratelimit-reset"]

        second = await modern_call(client, stack.url(token), READ_TOOL, {"limit": 1}, request_id=2)
        refused = result_of(second)
        assert refused["isError"] is True
        retry_after = int(second.headers["retry-after"])
        assert 1 <= retry_after <= 100
        assert refused["_meta"]["retry-after"] == retry_after
        text = refused["content"][0]["text"]
        assert "rate limit" in text
        assert f"retry after {retry_after} seconds" in text
    finally:
        sandbox_api.admin("PATCH", "knobs", {"rate_limit_burst": 10})


# --------------------------------------------------------------------------- 11. one trace


async def test_trace_context_reaches_upstream(
    stack: McpStack, sandbox_api: RunningSandbox, client: httpx.AsyncClient
) -> None:
    """The caller's trace id travels gateway → NATS → worker → Better Stack."""
    token, _ = await mint(stack, ("read",), ("incidents",))
    trace_id = os.urandom(16).hex()
    parent = f"00-{trace_id}-{os.urandom(8).hex()}-01"
    answer = await modern_call(
        client, stack.url(token, 1), READ_TOOL, {"limit": 1}, traceparent=parent
    )
    assert result_of(answer)["isError"] is False
    requests = await upstream_requests(sandbox_api)
    assert requests, "the tool call reached no upstream API"
    last = requests[-1]
    assert last["path"].startswith("/api/")
    upstream = last["traceparent"]
    assert upstream is not None
    version, upstream_trace, span_id, _ = upstream.split("-")
    assert (version, upstream_trace) == ("00", trace_id)
    assert span_id != parent.split("-")[2]  # a child span, not the caller's


# --------------------------------------------------------------------------- 12. stuck worker


async def test_a_worker_that_does_not_answer_gives_a_timeout_result(
    stack: McpStack, client: httpx.AsyncClient
) -> None:
    """With the worker paused, a tool call ends after the call timeout (5 s) with an ``isError``
    result saying it did not finish: no hang, no protocol error. Kept last: it pauses the
    shared worker."""
    assert stack.worker_pid > 0
    token, _ = await mint(stack, ("read",), ("incidents",))
    # The catalogue is already loaded on the gateway, so only the call itself needs the worker.
    warm = await modern_call(client, stack.url(token), READ_TOOL, {"limit": 1})
    assert result_of(warm)["isError"] is False
    call_timeout = float(stack.env["STACKMCP_GATEWAY_CALL_TIMEOUT"])
    os.kill(stack.worker_pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        answer = await modern_call(
            client,
            stack.url(token),
            READ_TOOL,
            {"limit": 1},
            request_id=2,
        )
        elapsed = time.monotonic() - started
    finally:
        os.kill(stack.worker_pid, signal.SIGCONT)
    result = result_of(answer)
    assert result["isError"] is True
    assert "did not finish in time" in result["content"][0]["text"]
    assert "structuredContent" not in result
    assert call_timeout <= elapsed <= call_timeout + 2.0
    recovered = await modern_call(client, stack.url(token), READ_TOOL, {"limit": 1}, request_id=3)
    assert result_of(recovered)["isError"] is False
