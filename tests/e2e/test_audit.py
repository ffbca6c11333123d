"""Every call on the record, through the real system: three NATS nodes (the audit stream on
three replicas), Valkey, two gateways, two workers, provisioning, two expiry replicas and the
sandbox, driven by the official MCP client, read back through ``GET /log`` and ``stackmcp log``.

The tests share one system and run in file order: the last ones restart all of it and then scan
the whole audit stream for every secret the earlier ones were shown.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import Implementation

from stackmcp.gateway.config import GatewayConfig
from tests.support.distributed import Distributed, distributed_shape, until
from tests.support.otlp import LogsCollector, logs_collector
from tests.support.sandbox import RunningSandbox

pytestmark = pytest.mark.e2e

RATE_LIMIT = 12
RATE_WINDOW = GatewayConfig().rate_limit_window
"""Seconds of the gateway's fixed rate-limit windows (the default, which the shape keeps)."""
"""Tool calls one MCP server may make per 10 s window in this system (to show a refusal)."""
CLIENT = Implementation(name="audit-e2e", version="1.2.3")
STACKMCP = Path(sys.executable).with_name("stackmcp")
SECRETS: list[str] = []
"""Every token the tests were shown or used; none may be in the audit stream."""
CALL_FIELDS = {
    "id", "time", "duration_ms", "account_id", "server_id", "server_name", "session_id",
    "client_name", "client_version", "protocol_version", "tool", "arguments", "outcome",
    "error_code", "upstream_status", "ratelimit", "trace_id", "decision",
}  # fmt: skip


@pytest.fixture(scope="module")
def collector() -> Iterator[LogsCollector]:
    """Where every service of the system exports its audit records as OpenTelemetry logs."""
    with logs_collector() as running:
        yield running


@pytest.fixture(scope="module")
def system(
    running_sandbox: RunningSandbox,
    tmp_path_factory: pytest.TempPathFactory,
    collector: LogsCollector,
) -> Iterator[Distributed]:
    with distributed_shape(
        tmp_path_factory.mktemp("audit"),
        running_sandbox,
        STACKMCP_GATEWAY_SERVER_RATE_LIMIT=str(RATE_LIMIT),
        OTEL_LOGS_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_LOGS_ENDPOINT=collector.endpoint,
        OTEL_BLRP_SCHEDULE_DELAY="200",
    ) as shape:
        SECRETS.append(shape.admin_token)
        yield shape


# --------------------------------------------------------------------------- helpers


@asynccontextmanager
async def session(url: str, headers: dict[str, str] | None = None) -> AsyncIterator[ClientSession]:
    """An initialised official-SDK session, introducing itself as :data:`CLIENT`."""
    async with (
        create_mcp_http_client(headers=headers or {}) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write, client_info=CLIENT) as mcp,
    ):
        await mcp.initialize()
        yield mcp


def create_server(system: Distributed, name: str, **config: Any) -> dict[str, Any]:
    """Mint a server reading incidents (plus ``config``); remember its URL token."""
    body = {"name": name, "config": {"methods": ["read"], "tags": ["incidents"], **config}}
    server = system.create_server(**body)
    SECRETS.append(str(server["url"]).rsplit("/", 1)[1])
    return server


async def records(system: Distributed, **params: str) -> list[dict[str, Any]]:
    """Every record ``GET /log`` lists for ``params``, following the cursor, newest first.

    A 503 (JetStream electing leaders after a fault) is retried for a while, as its
    ``Retry-After`` asks; any other answer but 200 fails the test."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    deadline = time.monotonic() + 20
    async with system.admin_async() as admin:
        while True:
            query = {**params, "limit": "500", **({"cursor": cursor} if cursor else {})}
            answer = await admin.get("/log", params=query)
            if answer.status_code == 503 and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                continue
            assert answer.status_code == 200, (answer.text, system.provisioning.tail())
            page = answer.json()
            items.extend(page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                return items


async def records_within(
    system: Distributed, count: int, seconds: float, **params: str
) -> list[dict[str, Any]]:
    """The records for ``params`` once there are ``count``; fails after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        found = await records(system, **params)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.05)


UNAVAILABLE_EXIT = 5
"""``stackmcp``'s exit status when the admin API answers 503 (try again)."""


def cli_log(system: Distributed, *args: str) -> list[dict[str, Any]]:
    """``stackmcp log --json ...`` against the system's admin API, one record per line.

    An "unavailable" exit (JetStream still electing a stream leader on a loaded machine) is
    retried for a while, as the command's own message asks; any other failure fails the test."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("STACKMCP_")},
        "STACKMCP_ADMIN_URL": system.admin_url,
        "STACKMCP_ADMIN_TOKEN": system.admin_token,
    }
    deadline = time.monotonic() + 20
    while True:
        done = subprocess.run(
            [str(STACKMCP), "log", "--json", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != UNAVAILABLE_EXIT or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


async def window_with_room(window: int, seconds: float) -> None:
    """Return once the gateway's current rate-limit window (aligned to the wall clock) has at
    least ``seconds`` left, waiting for the next one to begin if it has not."""
    left = window - time.time() % window
    if left < seconds:
        await asyncio.sleep(left + 0.05)  # until the clock crosses into the next window


def by_outcome(found: list[dict[str, Any]]) -> dict[tuple[str, str | None], dict[str, Any]]:
    """Records keyed by (outcome, error_code), the first of each kind (newest)."""
    keyed: dict[tuple[str, str | None], dict[str, Any]] = {}
    for record in found:
        keyed.setdefault((record["outcome"], record["error_code"]), record)
    return keyed


# --------------------------------------------------------------------------- the record


async def test_every_kind_of_call_is_on_the_record_within_a_second(system: Distributed) -> None:
    """An ok call, an ``isError`` call, a hidden tool, a rate-limited call and a wrong API token
    each leave one record with the fields of the issue and the client's name and version, in
    ``GET /log`` within 1 s and in ``stackmcp log --json``."""
    server = create_server(system, "audited")
    url = system.mcp_url(server, 0)
    async with session(url) as mcp:
        await window_with_room(RATE_WINDOW, seconds=6.0)  # the burst must fit one window
        ok = await mcp.call_tool("list_all_better_stack_incidents", {"resolved": False})
        assert not ok.is_error
        failed = await mcp.call_tool("get_single_better_stack_incident_by_id", {"incident_id": "0"})
        assert failed.is_error
        with pytest.raises(MCPError):
            await mcp.call_tool("better_stack_incidents_resolve", {"incident_id": "1"})
        calls = 2
        while True:
            calls += 1
            limited = await mcp.call_tool("list_all_better_stack_incidents", {"limit": 1})
            if limited.is_error:
                break
            assert calls <= RATE_LIMIT + 1, "the rate limit never refused a call"
    answered = time.monotonic()
    expected = calls + 1  # the hidden-tool call too
    found = await records_within(system, expected, 1.0, server_id=str(server["id"]), kind="call")
    took = time.monotonic() - answered
    print(f"\n{len(found)} records listed {took * 1000:.0f} ms after the last call answered")
    assert len(found) == expected, [
        (r["method"], r["tool"], r["outcome"], r["error_code"]) for r in found
    ]
    assert took <= 1.0
    kinds = by_outcome(found)
    assert {outcome for outcome, _ in kinds} == {"ok", "tool_error", "refused"}
    assert ("refused", "tool_hidden") in kinds
    assert ("refused", "rate_limited") in kinds
    for record in found:
        assert set(record) >= CALL_FIELDS, sorted(CALL_FIELDS - set(record))
        assert record["client_name"] == CLIENT.name
        assert record["client_version"] == CLIENT.version
        assert record["server_name"] == "audited"
        assert record["account_id"] == system.account_id
        assert record["decision"] is None
        assert record["session_id"]
    error = next(r for r in found if r["outcome"] == "tool_error")
    assert error["upstream_status"] == 404
    assert error["arguments"] == {"incident_id": "0"}
    assert kinds[("refused", "rate_limited")]["ratelimit"]["limit"] == RATE_LIMIT
    assert kinds[("refused", "tool_hidden")]["tool"] == "better_stack_incidents_resolve"
    assert kinds[("ok", None)]["trace_id"]
    exported = cli_log(system, "--server", str(server["id"]), "--kind", "call")
    assert [r["id"] for r in exported] == [r["id"] for r in reversed(found)]  # like tail


async def test_the_records_also_leave_as_opentelemetry_logs(
    system: Distributed, collector: LogsCollector
) -> None:
    """With ``OTEL_LOGS_EXPORTER=otlp`` every service sends its records to the collector too:
    the gateway its tool calls, provisioning its admin changes."""
    found = await records(system)
    wanted = {r["id"] for r in found}

    def exported() -> bool:
        return wanted <= {body.get("id") for body in collector.bodies()}

    await until(exported, 10, "every audit record exported as an OpenTelemetry log record")
    types = {body["type"] for body in collector.bodies() if body.get("id") in wanted}
    assert types == {"stackmcp.audit.v1.tool_call", "stackmcp.audit.v1.admin_change"}


async def test_a_wrong_api_token_is_on_the_record_with_the_client(system: Distributed) -> None:
    """The second factor refused: at ``initialize`` (the client named in its body) and on a
    ``tools/call`` after the API token was revoked (the client named by its session)."""
    async with system.admin_async() as admin:
        created = (await admin.post("/api-token", json={"name": "audit"})).json()
    SECRETS.append(created["token"])
    server = create_server(system, "guarded", require_api_token_auth=True)
    url = system.mcp_url(server, 1)
    with pytest.raises(ExceptionGroup) as refused_at_start:  # the SDK's task groups wrap it
        async with session(url, {"Authorization": "Bearer smcp_api_" + "w" * 43}):
            pass
    assert refused_at_start.group_contains(MCPError, match="API token was not accepted")
    async with session(url, {"Authorization": f"Bearer {created['token']}"}) as mcp:
        assert not (await mcp.call_tool("list_all_better_stack_incidents", {})).is_error
        async with system.admin_async() as admin:
            assert (await admin.delete(f"/api-token/{created['id']}")).status_code == 204
        refused = False
        deadline = time.monotonic() + 2
        while not refused and time.monotonic() < deadline:
            try:
                await mcp.call_tool("list_all_better_stack_incidents", {"limit": 2})
            except Exception:  # the 401 surfaces as whatever the SDK makes of it
                refused = True
        assert refused, "the revoked API token was still accepted"
    found = await records_within(system, 3, 2.0, server_id=str(server["id"]), outcome="refused")
    rejected = [r for r in found if r["error_code"] == "api_token_rejected"]
    # (the SDK's closing DELETE is refused too, and recorded by its route)
    assert {r["method"] for r in rejected} >= {"initialize", "tools/call"}
    for record in rejected:
        assert record["client_name"] == CLIENT.name
        assert record["client_version"] == CLIENT.version
    on_call = next(r for r in rejected if r["method"] == "tools/call")
    assert on_call["tool"] == "list_all_better_stack_incidents"


async def test_two_gateways_record_each_call_exactly_once(system: Distributed) -> None:
    """Calls spread over both gateway replicas: one record per call, none twice."""
    server = create_server(system, "two-gateways")
    limits = list(range(1, RATE_LIMIT - 1))
    for limit in limits:
        async with session(system.mcp_url(server, limit % 2)) as mcp:
            assert not (
                await mcp.call_tool("list_all_better_stack_incidents", {"limit": limit})
            ).is_error
    found = await records_within(system, len(limits), 2.0, server_id=str(server["id"]), kind="call")
    assert sorted(r["arguments"]["limit"] for r in found) == limits
    assert len({r["id"] for r in found}) == len(found)


# --------------------------------------------------------------------------- history


async def test_revoked_and_expired_servers_stay_listed_with_who_ended_them(
    system: Distributed,
) -> None:
    """A named operator's token revokes a server (the change names them); another server
    expires (ended by ``expiry``); both stay listed and their URLs answer 404 on the record."""
    async with system.admin_async() as admin:
        made = await admin.post("/admin-token", json={"name": "alice"})
        assert made.status_code == 201, made.text
        alice = made.json()
    SECRETS.append(alice["token"])
    revoked = create_server(system, "revoked-by-alice")
    soon = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    expiring = create_server(system, "expires-soon")
    async with system.admin_async() as admin:
        changed = await admin.patch(
            system.server_path(str(expiring["id"])), json={"expires_at": soon}
        )
        assert changed.status_code == 200, changed.text
    headers = {"Authorization": f"Bearer {alice['token']}"}
    async with httpx.AsyncClient(base_url=system.admin_url, headers=headers, timeout=20) as http:
        answer = await http.delete(system.server_path(str(revoked["id"])))
        assert answer.status_code == 204, answer.text

    async def listed() -> dict[str, dict[str, Any]]:
        async with system.admin_async() as admin:
            answer = await admin.get(system.server_path(), params={"status": "all"})
        return {s["id"]: s for s in answer.json()["items"]}

    deadline = time.monotonic() + 15
    while (await listed())[expiring["id"]]["status"] != "expired":
        assert time.monotonic() < deadline, "the server never showed as expired"
        await asyncio.sleep(0.2)
    servers = await listed()
    assert servers[revoked["id"]]["status"] == "revoked"
    assert servers[revoked["id"]]["ended_by"] == "alice"
    assert servers[expiring["id"]]["ended_by"] == "expiry"
    for server in (revoked, expiring):
        async with httpx.AsyncClient(timeout=5) as http:
            answer = await http.post(
                system.mcp_url(server, 0),
                json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                headers={"Accept": "application/json, text/event-stream",
                         "MCP-Protocol-Version": "2026-07-28"},
            )  # fmt: skip
        assert answer.status_code == 404
    changes = await records(system, kind="admin", operator="alice")
    assert [(c["action"], c["server_id"]) for c in changes if c["server_id"]] == [
        ("mcp_server.revoked", revoked["id"])
    ]
    expired = await records(system, kind="admin", server_id=str(expiring["id"]))
    assert "mcp_server.expired" in [c["action"] for c in expired]
    assert {c["operator"] for c in expired if c["action"] == "mcp_server.expired"} == {"expiry"}
    why = await records_within(system, 2, 2.0, kind="call", outcome="refused")
    codes = {(r["server_id"], r["error_code"]) for r in why}
    assert (revoked["id"], "server_revoked") in codes
    assert (expiring["id"], "server_expired") in codes


# --------------------------------------------------------------------------- faults


def _gateway_audit_counts(system: Distributed, index: int) -> dict[str, int]:
    answer = httpx.get(f"{system.gateways[index].url}/readyz", timeout=5)
    audit: dict[str, int] = answer.json()["audit"]
    return audit


async def test_with_nats_down_calls_still_answer_and_lost_records_are_counted(
    system: Distributed,
) -> None:
    """All three NATS nodes stopped: calls the gateway answers by itself still answer at once;
    each of them is either on the record once NATS is back or counted as dropped."""
    server = create_server(system, "nats-down")
    url = system.mcp_url(server, 0)
    before = _gateway_audit_counts(system, 0)
    async with session(url) as mcp:
        await mcp.list_tools()  # grant, session and catalogue now cached on the gateway
        for node in system.nats:
            await system.on_spawner(node.stop)
        try:
            for _ in range(5):
                started = time.monotonic()
                with pytest.raises(MCPError):
                    await mcp.call_tool("better_stack_incidents_resolve", {"incident_id": "1"})
                assert time.monotonic() - started < 1.0
        finally:
            await system.make_whole()
    found = await records_within(system, 5, 5.0, server_id=str(server["id"]), kind="call")
    after = _gateway_audit_counts(system, 0)
    dropped = after["dropped"] - before["dropped"]
    print(f"\nNATS down: {len(found)} of 5 records kept, {dropped} dropped and counted")
    # Nothing is lost unnoticed. A record counted as dropped may still have reached the stream
    # (when only its acknowledgement was lost), so the sum may exceed the calls, never fall short.
    assert len(found) <= 5
    assert len(found) + dropped >= 5


# --------------------------------------------------------------------------- at the end


async def test_everything_survives_a_restart_of_the_whole_system(system: Distributed) -> None:
    """Stop every service, every NATS node and Valkey; start them again: the log and the
    history are still there."""
    before = await records(system)
    listed_before = _history(system)
    for service in reversed(system.services):
        service.stop()
    for node in system.nats:
        await system.on_spawner(node.stop)
    await system.on_spawner(system.valkey.stop)
    await system.make_whole(timeout=90)
    await until(lambda: bool(system.valkey.is_running), 10, "valkey back")
    after = await records(system)
    assert [r["id"] for r in after] == [r["id"] for r in before]
    assert _history(system) == listed_before


def _history(system: Distributed) -> list[tuple[str, str, str | None]]:
    with system.admin() as admin:
        answer = admin.get(system.server_path(), params={"status": "all"})
    return [(s["id"], s["status"], s["ended_by"]) for s in answer.json()["items"]]


async def test_no_token_or_credential_is_anywhere_in_the_audit_stream(
    system: Distributed, running_sandbox: RunningSandbox
) -> None:
    """Every message of the audit stream, raw: no URL token, API token, admin token or Better
    Stack token the tests used."""
    nc = await nats.connect(system.env["STACKMCP_NATS_URL"].split(","))
    try:
        js = nc.jetstream()
        info = await js.stream_info(system.subjects.audit_stream)
        raw = bytearray()
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            message = await js.get_msg(system.subjects.audit_stream, seq)
            raw += message.data or b""
    finally:
        await nc.close()
    assert info.state.messages > 20
    secrets = [*SECRETS, running_sandbox.token]
    leaked = [secret[:12] for secret in secrets if secret.encode() in raw]
    assert leaked == []
