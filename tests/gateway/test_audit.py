"""The gateway's audit trail: one record per ``tools/call`` (and per refusal of a known server).

The gateway's app runs in this test's event loop on a real NATS (JetStream) and a real Valkey, as
in ``test_core.py``; only tool execution is scripted. Records are read back from the audit stream
itself, raw bytes included, so a token that leaked into any field would be found.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import redis.asyncio as aioredis
from nats.aio.client import Client
from nats.js.client import JetStreamContext

from stackmcp.betterstack_worker.catalog import default_catalog
from stackmcp.contracts.audit import AuditEntry, ToolCallCompleted
from stackmcp.contracts.errors import ErrorBody, ErrorCode
from stackmcp.contracts.grants import Grant
from stackmcp.contracts.keys import RedisKeys
from stackmcp.contracts.servers import EndedGrant
from stackmcp.contracts.subjects import Subjects
from stackmcp.contracts.tokens import SERVER_TOKEN_PREFIX, hash_token, new_token
from stackmcp.contracts.tools import CatalogRequest, ToolCallResult
from stackmcp.embedded import NatsServer
from stackmcp.gateway.app import create_app
from stackmcp.gateway.audit import (
    MAX_ITEMS,
    MAX_STRING,
    TOO_DEEP,
    AuditTrail,
    client_info,
    meta_client_info,
    redact_arguments,
)
from stackmcp.gateway.catalog import ToolCatalog
from stackmcp.gateway.core import McpCore
from stackmcp.gateway.grants import GrantResolver
from stackmcp.gateway.http import McpTransport
from stackmcp.gateway.mcp import McpMethods
from stackmcp.gateway.publisher import AuditPublisher
from stackmcp.gateway.ratelimit import RedisRateLimiter
from stackmcp.gateway.sessions import SessionStore
from stackmcp.gateway.usage import UsageCounter
from stackmcp.runtime.config import AuditConfig, NatsConfig
from stackmcp.runtime.errors import NotFound, Unavailable
from stackmcp.runtime.events import ensure_audit_stream
from stackmcp.runtime.natsx import Endpoint, connect
from stackmcp.runtime.redaction import REDACTED
from stackmcp.runtime.serving import free_port, serve_until_stopped
from tests.support.grants import mint_api_token, mint_grant
from tests.support.runner import LIMITS, ScriptedRunner

pytestmark = pytest.mark.integration

TOOL = "list_all_better_stack_incidents"
HIDDEN = "better_stack_incidents_resolve"  # a write: the test grant reads only
MODERN = "2026-07-28"
PROTOCOL_META = "io.modelcontextprotocol/protocolVersion"
CAPABILITIES_META = "io.modelcontextprotocol/clientCapabilities"
CLIENT_META = "io.modelcontextprotocol/clientInfo"
CLIENT = {"name": "audit-test-client", "version": "1.2.3"}
_DECODER = msgspec.json.Decoder(AuditEntry)


# --------------------------------------------------------------------------- pure functions


def test_arguments_are_redacted_and_bounded() -> None:
    token = new_token(SERVER_TOKEN_PREFIX)
    deep: dict[str, Any] = {"v": 1}
    for _ in range(10):
        deep = {"d": deep}
    arguments = {
        "incident_id": "42",
        "limit": 3,
        "password": "hunter2",
        "API_Key": "k",
        "Authorization": "Bearer abc",
        "sessionToken": {"nested": "x"},
        "note": f"see {token} and Bearer abcdef",
        "long": "x" * 1000,
        "many": list(range(200)),
        "deep": deep,
        "author": "Ann",
    }
    safe = redact_arguments(arguments)
    assert safe is not None
    assert (safe["incident_id"], safe["limit"], safe["author"]) == ("42", 3, "Ann")
    for key in ("password", "API_Key", "Authorization", "sessionToken"):
        assert safe[key] == REDACTED
    assert token not in safe["note"]
    assert "abcdef" not in safe["note"]
    assert safe["long"] == "x" * MAX_STRING + "…"
    assert len(safe["many"]) == MAX_ITEMS + 1
    assert safe["many"][-1] == "150 more"
    assert TOO_DEEP in msgspec.json.encode(safe).decode()
    assert redact_arguments(None) is None
    assert redact_arguments({f"k{i}": i for i in range(80)})["…"] == "30 more"  # type: ignore[index]


def test_client_info_is_clipped_and_typed() -> None:
    assert client_info({"name": "n" * 500, "version": 3}).name == "n" * 100
    assert client_info({"name": "n", "version": 3}).version is None
    assert client_info("junk").name is None
    assert meta_client_info({"_meta": {CLIENT_META: CLIENT}}).version == "1.2.3"
    assert meta_client_info({"_meta": "x"}).name is None


async def test_an_expired_grant_is_refused_as_server_expired(redis_url: str) -> None:
    """A grant past ``expires_at`` on the gateway's clock is refused like an unknown URL; the
    resolver then names the server for the audit trail."""
    redis = aioredis.Redis.from_url(redis_url)
    try:
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        token, grant = await mint_grant(redis, account_id="acc", expires_at=expires)
        later = GrantResolver(redis, RedisKeys(), clock=lambda: expires + dt.timedelta(seconds=1))
        with pytest.raises(NotFound) as refused:
            await later.resolve(token)
        assert type(refused.value) is NotFound  # exactly like an unknown URL
        ended = later.ended(token)
        assert ended is not None
        assert (ended.refusal, ended.server_id) == ("server_expired", grant.server_id)
        assert later.ended(new_token(SERVER_TOKEN_PREFIX)) is None
    finally:
        await redis.aclose()


# --------------------------------------------------------------------------- the harness


@dataclass
class Harness:
    client: httpx.AsyncClient
    runner: ScriptedRunner
    token: str
    grant: Grant
    nc: Client
    js: JetStreamContext
    redis: aioredis.Redis
    keys: RedisKeys
    subjects: Subjects
    publisher: AuditPublisher
    usage: UsageCounter
    secrets: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"/mcp/{self.token}"

    async def settled(self) -> None:
        """Wait until the publisher holds nothing more (every record offered is on the stream)."""
        await until(lambda: _true(self.publisher.buffered == 0))

    async def records(self) -> list[ToolCallCompleted]:
        await self.settled()
        return [r for r in await self._read() if isinstance(r, ToolCallCompleted)]

    async def raw(self) -> bytes:
        await self.settled()
        stream = self.subjects.audit_stream
        info = await self.js.stream_info(stream)
        chunks = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await self.js.get_msg(stream, seq)
            chunks.append(msg.data or b"")
            chunks.append(msgspec.json.encode(msg.headers or {}))
        return b"\n".join(chunks)

    async def _read(self) -> list[Any]:
        stream = self.subjects.audit_stream
        info = await self.js.stream_info(stream)
        if not info.state.messages:
            return []
        return [
            _DECODER.decode((await self.js.get_msg(stream, seq)).data or b"")
            for seq in range(info.state.first_seq, info.state.last_seq + 1)
        ]

    async def one(self) -> ToolCallCompleted:
        """The only record on the stream so far."""
        records = await self.records()
        assert len(records) == 1, records
        return records[0]


async def _true(value: bool) -> bool:
    return value


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


@dataclass
class Served:
    """A gateway app served in this loop, with its audit wiring."""

    harness: Harness
    stop: asyncio.Event
    server: asyncio.Task[None]
    endpoint: Endpoint[Any]
    usage_task: asyncio.Task[None]


async def serve(
    nats_url: str,
    redis_url: str,
    *,
    buffer: int = 1000,
    per_server: int = 0,
    ack_timeout: float = 5.0,
    sink: Callable[[ToolCallCompleted], None] | None = None,
) -> Served:
    prefix = f"aud{os.urandom(3).hex()}"
    subjects, keys = Subjects(prefix), RedisKeys(prefix)
    nc = await connect(NatsConfig(url=nats_url), "audit-test")
    js = nc.jetstream()
    await ensure_audit_stream(js, subjects, AuditConfig(max_bytes=1_048_576))
    redis = aioredis.Redis.from_url(redis_url)
    catalog_answer = default_catalog().response()

    async def serve_catalog(_: CatalogRequest) -> msgspec.Struct:
        return catalog_answer

    endpoint = Endpoint(nc, subjects.catalog_get, "w", CatalogRequest, serve_catalog)
    await endpoint.start()
    token, grant = await mint_grant(
        redis, keys, account_id="acc_audit", methods=("read",), tags=("incidents",), name="ops"
    )
    sessions = SessionStore(redis, keys, nc, subjects.gateway_session_closed, ttl=60)
    await sessions.start()
    publisher = AuditPublisher(nc, subjects, buffer=buffer, ack_timeout=ack_timeout)
    publisher.start()
    usage = UsageCounter(redis, keys)
    runner = ScriptedRunner()
    limiter = RedisRateLimiter(redis, keys, per_server=per_server, per_account=0, window=60)
    methods = McpMethods(
        ToolCatalog(nc, subjects),
        runner,
        call_timeout=5,
        limiter=limiter if limiter.enabled else None,
        audit=AuditTrail([publisher.offer, usage.count, *([sink] if sink else [])]),
    )
    transport = McpTransport(
        core=McpCore(methods, sessions),
        grants=GrantResolver(redis, keys),
        nc=nc,
        subjects=subjects,
        allowed_origins=(),
        keepalive=0.2,
        body_timeout=1.0,
    )

    async def ready() -> dict[str, bool]:
        return {"ok": True}

    app = create_app(transport, ready, max_body_bytes=100_000, audit_counters=publisher.counters)
    stop = asyncio.Event()
    usage_task = asyncio.create_task(usage.run(stop))
    port = free_port("127.0.0.1")
    server = asyncio.create_task(
        serve_until_stopped(
            app, name="audit", host="127.0.0.1", port=port, stop=stop, drain_timeout=1
        )
    )
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10)
    while True:
        try:
            if (await client.get("/healthz")).status_code == 200:
                break
        except httpx.TransportError:
            await asyncio.sleep(0.02)
    harness = Harness(
        client, runner, token, grant, nc, js, redis, keys, subjects, publisher, usage, [token]
    )
    return Served(harness, stop, server, endpoint, usage_task)


async def shutdown(served: Served) -> None:
    served.stop.set()
    await served.server
    await served.usage_task
    await served.harness.publisher.close(1.0)
    await served.harness.client.aclose()
    await served.endpoint.drain()
    await served.harness.nc.close()
    await served.harness.redis.aclose()


@pytest.fixture
async def harness(nats_url: str, redis_url: str) -> AsyncIterator[Harness]:
    served = await serve(nats_url, redis_url, per_server=3)
    try:
        yield served.harness
    finally:
        await shutdown(served)


def _rpc(method: str, params: dict[str, Any] | None = None, request_id: int = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}}


HEADERS = {"Accept": "application/json, text/event-stream"}


async def initialize(h: Harness, url: str | None = None, **headers: str) -> httpx.Response:
    params = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": CLIENT}
    return await h.client.post(
        url or h.url, json=_rpc("initialize", params), headers={**HEADERS, **headers}
    )


async def session(h: Harness) -> str:
    answer = await initialize(h)
    assert answer.status_code == 200, answer.text
    return answer.headers["mcp-session-id"]


async def call(
    h: Harness, session_id: str, tool: str = TOOL, arguments: dict[str, Any] | None = None
) -> dict[str, Any]:
    answer = await h.client.post(
        h.url,
        json=_rpc("tools/call", {"name": tool, "arguments": arguments or {}}),
        headers={**HEADERS, "Mcp-Session-Id": session_id},
    )
    body: dict[str, Any] = answer.json()
    return body


# --------------------------------------------------------------------------- outcomes


async def test_an_ok_call_is_one_record(harness: Harness) -> None:
    sid = await session(harness)
    secret = new_token(SERVER_TOKEN_PREFIX)
    harness.secrets.append(secret)
    answer = await call(harness, sid, arguments={"limit": 1, "api_key": "k1", "q": secret})
    assert answer["result"]["isError"] is False
    record = await harness.one()
    assert record.outcome == "ok"
    assert record.error_code is None
    assert (record.account_id, record.server_id) == ("acc_audit", harness.grant.server_id)
    assert record.server_name == "ops"
    assert (record.client_name, record.client_version) == ("audit-test-client", "1.2.3")
    assert (record.session_id, record.protocol_version) == (sid, "2025-06-18")
    assert (record.method, record.tool) == ("tools/call", TOOL)
    assert record.arguments is not None
    assert record.arguments["limit"] == 1
    assert record.arguments["api_key"] == REDACTED
    assert record.upstream_status == 200
    assert record.ratelimit == LIMITS
    assert record.duration_ms >= 0
    assert record.decision is None
    assert abs((dt.datetime.now(dt.UTC) - record.time).total_seconds()) < 60
    raw = await harness.raw()
    assert f'"Nats-Msg-Id":"{record.id}"'.encode() in raw
    for secret_text in harness.secrets:
        assert secret_text.encode() not in raw
    assert b"k1" not in raw


async def test_tool_errors_are_records_with_their_code(harness: Harness) -> None:
    sid = await session(harness)
    harness.runner.result = ToolCallResult(
        text="Better Stack said 500",
        is_error=True,
        error=ErrorBody(code=ErrorCode.UPSTREAM_ERROR, message="boom"),
        upstream_status=500,
    )
    assert (await call(harness, sid))["result"]["isError"] is True
    harness.runner.error = Unavailable("The Better Stack worker is not available right now")
    assert (await call(harness, sid))["result"]["isError"] is True
    first, second = await harness.records()
    assert (first.outcome, first.error_code, first.upstream_status) == (
        "tool_error",
        "upstream_error",
        500,
    )
    assert (second.outcome, second.error_code) == ("tool_error", "unavailable")


async def test_hidden_and_unknown_tools_are_told_apart(harness: Harness) -> None:
    sid = await session(harness)
    hidden = await call(harness, sid, HIDDEN, {"incident_id": "1"})
    unknown = await call(harness, sid, "no_such_tool")
    assert (
        hidden["error"]["message"]
        == f"{HIDDEN} is not available on this server — tools/list shows what is"
    )  # the answer is unchanged
    assert (
        unknown["error"]["message"]
        == "no_such_tool is not available on this server — tools/list shows what is"
    )
    first, second = await harness.records()
    assert (first.outcome, first.error_code, first.tool) == ("refused", "tool_hidden", HIDDEN)
    assert first.arguments == {"incident_id": "1"}
    assert (second.outcome, second.error_code) == ("protocol_error", "unknown_tool")
    assert harness.runner.calls == []


async def test_a_rate_limited_call_is_refused_with_the_limit(harness: Harness) -> None:
    sid = await session(harness)
    for _ in range(4):  # the harness allows 3 per window
        answer = await call(harness, sid)
    assert answer["result"]["isError"] is True
    records = await harness.records()
    assert [r.outcome for r in records] == ["ok", "ok", "ok", "refused"]
    refused = records[-1]
    assert refused.error_code == "rate_limited"
    assert refused.ratelimit is not None
    assert (refused.ratelimit.limit, refused.ratelimit.remaining) == (3, 0)


async def test_only_tool_calls_are_recorded(harness: Harness) -> None:
    sid = await session(harness)
    headers = {**HEADERS, "Mcp-Session-Id": sid}
    await harness.client.post(harness.url, json=_rpc("tools/list"), headers=headers)
    await harness.client.post(harness.url, json=_rpc("ping"), headers=headers)
    bad = _rpc("tools/call", {"name": TOOL, "arguments": [1]})
    assert (await harness.client.post(harness.url, json=bad, headers=headers)).json()["error"]
    record = await harness.one()
    assert (record.outcome, record.error_code) == ("protocol_error", "invalid_params")


async def test_stateless_calls_name_the_client_from_meta(harness: Harness) -> None:
    meta = {PROTOCOL_META: MODERN, CAPABILITIES_META: {}, CLIENT_META: CLIENT}
    answer = await harness.client.post(
        harness.url,
        json=_rpc("tools/call", {"name": TOOL, "arguments": {}, "_meta": meta}),
        headers={
            **HEADERS,
            "MCP-Protocol-Version": MODERN,
            "Mcp-Method": "tools/call",
            "Mcp-Name": TOOL,
        },
    )
    assert answer.status_code == 200, answer.text
    record = await harness.one()
    assert (record.client_name, record.client_version) == ("audit-test-client", "1.2.3")
    assert (record.protocol_version, record.session_id) == (MODERN, None)


async def test_http_sse_sessions_name_the_client_from_initialize(harness: Harness) -> None:
    events: asyncio.Queue[tuple[str, str]] = asyncio.Queue()

    async def read() -> None:
        async with harness.client.stream("GET", f"{harness.url}/sse") as stream:
            event = ""
            async for line in stream.aiter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    events.put_nowait((event, line[6:]))

    reader = asyncio.create_task(read())
    try:
        kind, endpoint = await asyncio.wait_for(events.get(), 10)
        assert kind == "endpoint"
        params = {"protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": CLIENT}
        await harness.client.post(endpoint, json=_rpc("initialize", params))
        await asyncio.wait_for(events.get(), 10)
        await harness.client.post(endpoint, json=_rpc("tools/call", {"name": TOOL}, 2))
        _, reply = await asyncio.wait_for(events.get(), 10)
        assert msgspec.json.decode(reply)["result"]["isError"] is False
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
    record = await harness.one()
    assert (record.client_name, record.client_version) == ("audit-test-client", "1.2.3")
    assert record.protocol_version == "2024-11-05"


# --------------------------------------------------------------------------- refusals at the gate


async def test_api_token_refusals_are_records(harness: Harness) -> None:
    token, grant = await mint_grant(
        harness.redis, harness.keys, account_id="acc_audit", require_api_token_auth=True
    )
    wrong = await mint_api_token(harness.redis, RedisKeys("elsewhere"))
    harness.secrets += [token, wrong]
    url = f"/mcp/{token}"
    missing = await initialize(harness, url)
    rejected = await initialize(harness, url, Authorization=f"Bearer {wrong}")
    call_body = _rpc("tools/call", {"name": TOOL, "arguments": {"token": wrong, "n": 1}})
    rejected_call = await harness.client.post(
        url, json=call_body, headers={**HEADERS, "Authorization": f"Bearer {wrong}"}
    )
    assert [a.status_code for a in (missing, rejected, rejected_call)] == [401, 401, 401]
    first, second, third = await harness.records()
    assert (first.outcome, first.error_code) == ("refused", "api_token_missing")
    assert (second.outcome, second.error_code) == ("refused", "api_token_rejected")
    for record in (first, second):
        assert record.server_id == grant.server_id
        assert record.method == "initialize"
        assert (record.client_name, record.client_version) == ("audit-test-client", "1.2.3")
        assert record.protocol_version == "2025-06-18"
    assert (third.method, third.tool, third.error_code) == (
        "tools/call",
        TOOL,
        "api_token_rejected",
    )
    assert third.arguments == {"token": REDACTED, "n": 1}
    raw = await harness.raw()
    for secret_text in harness.secrets:
        assert secret_text.encode() not in raw


async def test_a_revoked_server_is_a_refused_record_and_unknown_urls_none(
    harness: Harness,
) -> None:
    token = new_token(SERVER_TOKEN_PREFIX)
    harness.secrets.append(token)
    ended = EndedGrant(
        server_id="srv_gone",
        account_id="acc_audit",
        name="old one",
        status="revoked",
        ended_at=dt.datetime.now(dt.UTC),
        ended_by="admin",
    )
    await harness.redis.set(harness.keys.ended_grant(hash_token(token)), msgspec.json.encode(ended))
    for _ in range(2):
        answer = await harness.client.post(
            f"/mcp/{token}",
            json=_rpc("tools/call", {"name": TOOL, "arguments": {}}),
            headers=HEADERS,
        )
        assert answer.status_code == 404
    unknown = new_token(SERVER_TOKEN_PREFIX)
    harness.secrets.append(unknown)
    for path in (f"/mcp/{unknown}", "/mcp/not-a-token"):
        answer = await harness.client.post(path, json=_rpc("tools/call"), headers=HEADERS)
        assert answer.status_code == 404
    sse = await harness.client.get(f"/mcp/{token}/sse")
    assert sse.status_code == 404
    records = await harness.records()
    assert [(r.outcome, r.error_code) for r in records] == [("refused", "server_revoked")] * 3
    first = records[0]
    assert (first.server_id, first.server_name, first.tool) == ("srv_gone", "old one", TOOL)
    assert records[2].method == "GET /mcp/{token}/sse"
    raw = await harness.raw()
    for secret_text in harness.secrets:
        assert secret_text.encode() not in raw


# --------------------------------------------------------------------------- never in the way


async def test_readyz_reports_the_counters(harness: Harness) -> None:
    sid = await session(harness)
    await call(harness, sid)
    await harness.settled()
    audit = (await harness.client.get("/readyz")).json()["audit"]
    assert audit == {"published": 1, "dropped": 0, "buffered": 0}


async def test_a_failing_sink_is_logged_once_and_changes_nothing(
    nats_url: str, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[ToolCallCompleted] = []

    def hook(record: ToolCallCompleted) -> None:
        seen.append(record)
        raise RuntimeError("exporter down")

    served = await serve(nats_url, redis_url, sink=hook)
    h = served.harness
    try:
        sid = await session(h)
        with caplog.at_level(logging.ERROR, "stackmcp.gateway.audit"):
            for _ in range(3):
                assert (await call(h, sid))["result"]["isError"] is False
        assert len(await h.records()) == 3
        assert len(seen) == 3
        assert sum("sink 2 failed" in r.getMessage() for r in caplog.records) == 1
    finally:
        await shutdown(served)


async def test_nats_stopped_calls_answer_at_once_and_drops_are_counted(
    tmp_path: Path, redis_url: str
) -> None:
    """With nats-server SIGSTOPped, calls that need no worker (hidden tool, rate limited) still
    answer at once; records beyond the (tiny) buffer are dropped and counted."""
    (tmp_path / "nats").mkdir()
    nats = NatsServer(tmp_path / "nats")
    nats.start()
    served = await serve(nats.url, redis_url, buffer=2, per_server=1, ack_timeout=0.5)
    h = served.harness
    meta = {PROTOCOL_META: MODERN, CAPABILITIES_META: {}}
    headers = {**HEADERS, "MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/list"}
    stopped = False
    try:
        listed = await h.client.post(
            h.url, json=_rpc("tools/list", {"_meta": meta}), headers=headers
        )
        assert listed.status_code == 200  # the catalogue is loaded while NATS is up
        assert nats.pid is not None
        os.kill(nats.pid, signal.SIGSTOP)
        stopped = True
        headers["Mcp-Method"] = "tools/call"
        slowest = 0.0
        for tool in [HIDDEN] * 5 + [TOOL] * 5:
            started = time.monotonic()
            answer = await h.client.post(
                h.url,
                json=_rpc("tools/call", {"name": tool, "arguments": {}, "_meta": meta}),
                headers={**headers, "Mcp-Name": tool},
            )
            slowest = max(slowest, time.monotonic() - started)
            assert answer.status_code in (200, 400)
            if tool == TOOL:
                h.runner.calls.clear()
        assert slowest < 1.0, slowest
        counters = (await h.client.get("/readyz")).json()["audit"]
        assert counters["dropped"] >= 8
        assert counters["buffered"] <= 2
    finally:
        if stopped and nats.pid is not None:
            os.kill(nats.pid, signal.SIGCONT)
        await shutdown(served)
        nats.stop()


async def test_close_flushes_the_buffer(nats_url: str) -> None:
    """Records buffered at shutdown reach the stream within the drain time."""
    subjects = Subjects(f"aud{os.urandom(3).hex()}")
    nc = await connect(NatsConfig(url=nats_url), "audit-flush")
    try:
        js = nc.jetstream()
        await ensure_audit_stream(js, subjects, AuditConfig(max_bytes=1_048_576))
        publisher = AuditPublisher(nc, subjects, buffer=10_000, max_pending=64)
        trail = AuditTrail([publisher.offer])
        for i in range(1000):
            trail.begin(account_id="a", server_id=f"s{i % 3}", tool=TOOL).result(ToolCallResult())
        publisher.start()
        await publisher.close(10.0)
        assert publisher.counters() == {"published": 1000, "dropped": 0, "buffered": 0}
        info = await js.stream_info(subjects.audit_stream)
        assert info.state.messages == 1000
    finally:
        await nc.close()


async def test_a_batch_sent_again_after_a_lost_ack_stores_each_record_once(nats_url: str) -> None:
    """Records a JetStream batch already stored, sent again (as after a lost acknowledgement)
    together with new ones: the batch is refused for the duplicates, the records go one by one,
    and the stream holds every record exactly once."""
    subjects = Subjects(f"aud{os.urandom(3).hex()}")
    nc = await connect(NatsConfig(url=nats_url), "audit-again")
    try:
        js = nc.jetstream()
        await ensure_audit_stream(js, subjects, AuditConfig(max_bytes=1_048_576))
        kept: list[ToolCallCompleted] = []
        trail = AuditTrail([kept.append])
        for i in range(30):
            trail.begin(account_id="a", server_id=f"s{i % 3}", tool=TOOL).result(ToolCallResult())
        first = AuditPublisher(nc, subjects, buffer=100, linger=0)
        for record in kept[:20]:
            first.offer(record)
        first.start()
        await first.close(10.0)
        again = AuditPublisher(nc, subjects, buffer=100, linger=0)
        for record in kept:  # 20 stored already, 10 new, in one batch
            again.offer(record)
        again.start()
        await again.close(10.0)
        assert first.counters()["published"] == 20
        assert again.counters() == {"published": 30, "dropped": 0, "buffered": 0}
        info = await js.stream_info(subjects.audit_stream)
        assert info.state.messages == 30
    finally:
        await nc.close()
