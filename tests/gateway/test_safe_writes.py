"""Safe writes in the gateway core, every era: exclusions, pins, confirmation (plan + token,
``input_required``, elicitation on the response stream), budgets and the audit decisions.

The gateway core runs in process against a real NATS server and Valkey; the worker is a
scripted stand-in that answers ``plan_only`` calls with a plan and records every call, so each
test can say exactly what would have reached Better Stack.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest
import redis.asyncio as aioredis
from nats.aio.client import Client

from stackmcp.betterstack_worker.catalog import default_catalog
from stackmcp.contracts.audit import ToolCallCompleted
from stackmcp.contracts.grants import Budget, Grant, Pin
from stackmcp.contracts.keys import RedisKeys
from stackmcp.contracts.subjects import Subjects
from stackmcp.contracts.tokens import hash_token
from stackmcp.contracts.tools import (
    CallPlan,
    CatalogRequest,
    ToolCallRequest,
    ToolCallResult,
)
from stackmcp.gateway.audit import AuditTrail
from stackmcp.gateway.budgets import Budgets
from stackmcp.gateway.catalog import WITHHELD_META, ToolCatalog
from stackmcp.gateway.confirm import ConfirmTokens, Elicitations, Outbox
from stackmcp.gateway.core import Inbound, McpCore, Reply
from stackmcp.gateway.jsonrpc import parse_message
from stackmcp.gateway.mcp import McpMethods
from stackmcp.gateway.sessions import SessionStore
from stackmcp.runtime.config import NatsConfig
from stackmcp.runtime.natsx import Endpoint, connect
from tests.support.grants import mint_grant

RESOLVE = "better_stack_incidents_resolve"
ACK = "better_stack_incidents_acknowledge"
PLAN = CallPlan(
    method="POST",
    path="/api/v3/incidents/7/resolve",
    body={"resolved_by": "stackmcp"},
    effect='Resolves incident 7 "Checkout API is down".',
)


@dataclass
class PlanningRunner:
    """The worker stand-in: a plan for ``plan_only`` calls, a success for the others."""

    calls: list[ToolCallRequest] = field(default_factory=list)

    @property
    def ran(self) -> list[ToolCallRequest]:
        """The calls that would have reached Better Stack."""
        return [c for c in self.calls if not c.plan_only]

    async def run(self, call: ToolCallRequest, *, write: bool) -> ToolCallResult:
        self.calls.append(call)
        if call.plan_only:
            return ToolCallResult(plan=PLAN, structured=msgspec.Raw(msgspec.json.encode(PLAN)))
        return ToolCallResult(
            structured=msgspec.Raw(b'{"result":{"id":"7","name":"Checkout API is down"}}'),
            upstream_status=200,
            untrusted=("name", "cause"),
        )


@dataclass
class Clock:
    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Gateway:
    """One in-process gateway core (a "replica"), sharing NATS and Valkey with the others."""

    core: McpCore
    runner: PlanningRunner
    records: list[ToolCallCompleted]


@dataclass
class World:
    nc: Client
    redis: aioredis.Redis
    keys: RedisKeys
    subjects: Subjects
    clock: Clock
    make: Callable[..., Gateway]


@pytest.fixture
async def world(nats_url: str, redis_url: str) -> AsyncIterator[World]:
    prefix = f"safe{secrets.token_hex(3)}"
    subjects, keys = Subjects(prefix), RedisKeys(prefix)
    nc = await connect(NatsConfig(url=nats_url), "safe-writes-test")
    redis = aioredis.Redis.from_url(redis_url)
    answer = default_catalog().response()

    async def serve_catalog(_: CatalogRequest) -> msgspec.Struct:
        return answer

    endpoint = Endpoint(nc, subjects.catalog_get, "w", CatalogRequest, serve_catalog)
    await endpoint.start()
    clock = Clock()
    stores: list[SessionStore] = []

    def make(confirm_timeout: float = 5.0) -> Gateway:
        runner = PlanningRunner()
        records: list[ToolCallCompleted] = []
        sessions = SessionStore(redis, keys, nc, subjects.gateway_session_closed, ttl=60)
        stores.append(sessions)
        elicitations = Elicitations(nc, subjects)
        methods = McpMethods(
            ToolCatalog(nc, subjects),
            runner,
            call_timeout=5,
            audit=AuditTrail([records.append]),
            budgets=Budgets(redis, keys),
            tokens=ConfirmTokens(redis, keys, ttl=120, clock=clock),
            elicitations=elicitations,
            confirm_timeout=confirm_timeout,
        )
        return Gateway(McpCore(methods, sessions, elicitations), runner, records)

    yield World(nc, redis, keys, subjects, clock, make)
    await endpoint.drain()
    await nc.close()
    await redis.aclose()


async def grant_of(world: World, **policy: Any) -> tuple[str, Grant]:
    return await mint_grant(
        world.redis,
        world.keys,
        account_id="acc_safe",
        methods=("read", "write"),
        tags=("incidents",),
        name="SRE triage",
        **policy,
    )


# --------------------------------------------------------------------------- era clients

MODERN = "2026-07-28"


def _body(method: str, params: dict[str, Any], request_id: int | str = 1) -> bytes:
    return msgspec.json.encode(
        {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
    )


async def stateless(
    gateway: Gateway,
    grant: Grant,
    method: str,
    params: dict[str, Any],
    *,
    elicitation: bool = False,
) -> dict[str, Any]:
    """One 2026-07-28 request; the decoded JSON-RPC ``result`` (asserts there is one)."""
    capabilities: dict[str, Any] = {"elicitation": {"form": {}}} if elicitation else {}
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": capabilities,
        "io.modelcontextprotocol/clientInfo": {"name": "modern-client", "version": "1"},
    }
    headers = {"mcp-protocol-version": MODERN, "mcp-method": method}
    if method == "tools/call":
        headers["mcp-name"] = params["name"]
    message = parse_message(_body(method, {**params, "_meta": meta}))
    reply = await gateway.core.post(Inbound(grant, "hash", message, headers))
    return result_of(reply)


def result_of(reply: Reply) -> dict[str, Any]:
    assert reply.status == 200, reply.body
    decoded = msgspec.json.decode(reply.body)
    assert "result" in decoded, decoded
    result: dict[str, Any] = decoded["result"]
    return result


@dataclass
class SessionClient:
    """A 2025-06-18 Streamable HTTP client of one session (its requests may reach any
    replica)."""

    grant: Grant
    token_hash: str
    session_id: str

    @classmethod
    async def open(
        cls, gateway: Gateway, grant: Grant, token: str, *, elicitation: bool = False
    ) -> SessionClient:
        capabilities: dict[str, Any] = {"elicitation": {}} if elicitation else {}
        params = {
            "protocolVersion": "2025-06-18",
            "capabilities": capabilities,
            "clientInfo": {"name": "Claude Code", "version": "2.1.280"},
        }
        message = parse_message(_body("initialize", params))
        reply = await gateway.core.post(Inbound(grant, hash_token(token), message, {}))
        return cls(grant, hash_token(token), reply.headers["Mcp-Session-Id"])

    def inbound(self, body: bytes, outbox: Outbox | None = None) -> Inbound:
        headers = {"mcp-session-id": self.session_id, "mcp-protocol-version": "2025-06-18"}
        return Inbound(self.grant, self.token_hash, parse_message(body), headers, outbox=outbox)

    async def call(self, gateway: Gateway, name: str, arguments: dict[str, Any]) -> Reply:
        body = _body("tools/call", {"name": name, "arguments": arguments})
        return await gateway.core.post(self.inbound(body))

    async def answer(self, gateway: Gateway, request_id: str, result: dict[str, Any]) -> Reply:
        body = msgspec.json.encode({"jsonrpc": "2.0", "id": request_id, "result": result})
        return await gateway.core.post(self.inbound(body))


def text_of(result: dict[str, Any]) -> str:
    return "".join(part["text"] for part in result["content"])


# --------------------------------------------------------------------------- exclusions, pins


async def test_tools_list_applies_exclusions_and_pins_and_says_why(world: World) -> None:
    gateway = world.make()
    _, grant = await grant_of(
        world, exclude_tags=("destructive",), pin=(Pin(param="incident_id", values=("7",)),)
    )
    listed = await stateless(gateway, grant, "tools/list", {})
    tools = {t["name"]: t for t in listed["tools"]}
    assert RESOLVE not in tools
    assert "delete_a_better_stack_incident_by_id" not in tools
    assert "create_a_better_stack_incident" not in tools  # could act outside incident 7
    withheld = listed["_meta"][WITHHELD_META]
    assert "destructive" in withheld[RESOLVE]
    assert "incident_id" in withheld["create_a_better_stack_incident"]
    incident_id = tools[ACK]["inputSchema"]["properties"]["incident_id"]
    assert incident_id["enum"] == ["7", 7]  # an id is accepted as digits or an integer
    assert "incident_id" in tools[ACK]["inputSchema"]["required"]
    assert "list_all_better_stack_incidents" in tools  # a read of the pinned resource stays


async def test_a_pinned_server_refuses_other_values_before_any_worker_call(world: World) -> None:
    gateway = world.make()
    token, grant = await grant_of(world, pin=(Pin(param="incident_id", values=("7",)),))
    client = await SessionClient.open(gateway, grant, token)
    refused = result_of(await client.call(gateway, ACK, {"incident_id": "3"}))
    assert refused["isError"] is True
    assert "only on incident_id 7" in text_of(refused)
    assert gateway.runner.calls == []
    done = result_of(await client.call(gateway, ACK, {"incident_id": 7}))
    assert done["isError"] is False
    assert [c.arguments for c in gateway.runner.ran] == [{"incident_id": 7}]
    assert gateway.runner.ran[0].pin == grant.pin  # the worker re-checks it
    assert [r.error_code for r in gateway.records] == ["pin_violation", None]


async def test_excluded_tools_are_as_unreachable_as_unknown_ones(world: World) -> None:
    gateway = world.make()
    token, grant = await grant_of(world, exclude_tools=(ACK,))
    client = await SessionClient.open(gateway, grant, token)
    reply = await client.call(gateway, ACK, {"incident_id": "7"})
    assert (
        msgspec.json.decode(reply.body)["error"]["message"]
        == f"{ACK} is not available on this server — tools/list shows what is"
    )
    assert gateway.runner.calls == []
    assert gateway.records[0].error_code == "tool_hidden"


# --------------------------------------------------------------------------- confirm tokens


async def test_plan_then_confirm_runs_once_and_the_token_cannot_be_reused(world: World) -> None:
    gateway = world.make()
    token, grant = await grant_of(world, confirm="destructive")
    client = await SessionClient.open(gateway, grant, token)
    first = result_of(await client.call(gateway, RESOLVE, {"incident_id": "7"}))
    assert first["isError"] is False
    confirmation = first["structuredContent"]["confirmation"]
    assert confirmation["plan"]["effect"] == PLAN.effect
    assert confirmation["plan"]["path"] == PLAN.path
    assert "Checkout API is down" in text_of(first)
    assert gateway.runner.ran == []  # only the plan was asked for
    arguments = {"incident_id": "7", "confirm_token": confirmation["confirm_token"]}
    done = result_of(await client.call(gateway, RESOLVE, arguments))
    assert done["isError"] is False
    assert [c.arguments for c in gateway.runner.ran] == [{"incident_id": "7"}]
    again = result_of(await client.call(gateway, RESOLVE, arguments))
    assert again["isError"] is True
    assert "already used" in text_of(again)
    assert len(gateway.runner.ran) == 1
    decisions = [(r.decision, r.outcome) for r in gateway.records]
    assert decisions == [("planned", "refused"), ("confirmed", "ok"), ("token_reused", "refused")]


async def test_a_token_for_other_arguments_or_past_its_time_is_refused(world: World) -> None:
    gateway, other = world.make(), world.make()
    token, grant = await grant_of(world, confirm="writes")
    client = await SessionClient.open(gateway, grant, token)
    plan = result_of(await client.call(gateway, ACK, {"incident_id": "7"}))
    mismatched = {
        "incident_id": "8",
        "confirm_token": plan["structuredContent"]["confirmation"]["confirm_token"],
    }
    refused = result_of(await client.call(other, ACK, mismatched))
    assert refused["isError"] is True
    assert "different call" in text_of(refused)
    plan = result_of(await client.call(gateway, ACK, {"incident_id": "7"}))
    world.clock.now += 121
    late = {
        "incident_id": "7",
        "confirm_token": plan["structuredContent"]["confirmation"]["confirm_token"],
    }
    expired = result_of(await client.call(other, ACK, late))
    assert expired["isError"] is True
    assert "expired" in text_of(expired)
    forged = result_of(
        await client.call(other, ACK, {"incident_id": "7", "confirm_token": "cfm_" + "x" * 32})
    )
    assert "not one this server issued" in text_of(forged)
    assert gateway.runner.ran == []
    assert other.runner.ran == []
    assert [r.decision for r in other.records] == [
        "token_mismatch",
        "token_expired",
        "token_unknown",
    ]


async def test_tools_needing_confirmation_take_an_optional_confirm_token(world: World) -> None:
    gateway = world.make()
    _, grant = await grant_of(world, confirm="destructive")
    listed = await stateless(gateway, grant, "tools/list", {})
    tools = {t["name"]: t for t in listed["tools"]}
    assert "confirm_token" in tools[RESOLVE]["inputSchema"]["properties"]
    assert "confirm_token" not in tools[RESOLVE]["inputSchema"].get("required", [])
    assert "confirm_token" not in tools[ACK]["inputSchema"]["properties"]  # not destructive
    # The catalogue lists no output schemas, so none needs the confirmation alternative.
    assert "outputSchema" not in tools[RESOLVE]


# --------------------------------------------------------------------------- input_required


async def test_modern_clients_with_elicitation_get_input_required(world: World) -> None:
    gateway, other = world.make(), world.make()
    _, grant = await grant_of(world, confirm="writes")
    call = {"name": ACK, "arguments": {"incident_id": "7"}}
    asked = await stateless(gateway, grant, "tools/call", call, elicitation=True)
    assert asked["resultType"] == "input_required"
    request = asked["inputRequests"]["confirm"]
    assert request["method"] == "elicitation/create"
    assert PLAN.effect in request["params"]["message"]
    accept = {"action": "accept", "content": {"confirm": True}}
    retry = {**call, "inputResponses": {"confirm": accept}, "requestState": asked["requestState"]}
    done = await stateless(other, grant, "tools/call", retry, elicitation=True)
    assert done["isError"] is False
    assert done["resultType"] == "complete"
    assert done["_meta"]["stackmcp/untrusted"] == ["name", "cause"]
    assert len(other.runner.ran) == 1
    assert gateway.runner.ran == []
    asked = await stateless(gateway, grant, "tools/call", call, elicitation=True)
    decline = {
        **call,
        "inputResponses": {"confirm": {"action": "decline"}},
        "requestState": asked["requestState"],
    }
    declined = await stateless(other, grant, "tools/call", decline, elicitation=True)
    assert declined["isError"] is True
    assert "declined" in text_of(declined)
    assert len(other.runner.ran) == 1
    assert [r.decision for r in other.records] == ["accepted", "declined"]


async def test_modern_clients_without_elicitation_get_the_plan_and_a_token(world: World) -> None:
    gateway = world.make()
    _, grant = await grant_of(world, confirm="writes")
    call = {"name": ACK, "arguments": {"incident_id": "7"}}
    planned = await stateless(gateway, grant, "tools/call", call)
    assert planned["resultType"] == "complete"
    assert planned["isError"] is False
    token = planned["structuredContent"]["confirmation"]["confirm_token"]
    confirmed = {"name": ACK, "arguments": {"incident_id": "7", "confirm_token": token}}
    done = await stateless(gateway, grant, "tools/call", confirmed)
    assert done["isError"] is False
    assert len(gateway.runner.ran) == 1


# --------------------------------------------------------------------------- elicitation


async def _elicited_call(
    asking: Gateway, client: SessionClient, arguments: dict[str, Any]
) -> tuple[asyncio.Task[Reply], dict[str, Any]]:
    """Start a call on ``asking`` that reads a response stream; return it and the
    ``elicitation/create`` request it sent first."""
    outbox = Outbox(session_id=client.session_id)
    body = _body("tools/call", {"name": ACK, "arguments": arguments}, request_id=9)
    task = asyncio.create_task(asking.core.post(client.inbound(body, outbox)))
    request = msgspec.json.decode(await asyncio.wait_for(outbox.messages.get(), 10))
    assert request["method"] == "elicitation/create"
    return task, request


async def test_elicitation_answered_on_another_replica_runs_the_call_once(world: World) -> None:
    asking, answering = world.make(), world.make()
    token, grant = await grant_of(world, confirm="writes")
    client = await SessionClient.open(asking, grant, token, elicitation=True)
    task, request = await _elicited_call(asking, client, {"incident_id": "7"})
    assert PLAN.effect in request["params"]["message"]
    assert asking.runner.ran == []
    accepted = await client.answer(
        answering, request["id"], {"action": "accept", "content": {"confirm": True}}
    )
    assert accepted.status == 202
    done = result_of(await asyncio.wait_for(task, 10))
    assert done["isError"] is False
    assert len(asking.runner.ran) == 1
    assert answering.runner.calls == []
    assert asking.records[0].decision == "accepted"


async def test_declined_or_unanswered_elicitation_runs_nothing(world: World) -> None:
    asking, answering = world.make(confirm_timeout=0.5), world.make()
    token, grant = await grant_of(world, confirm="writes")
    client = await SessionClient.open(asking, grant, token, elicitation=True)
    task, request = await _elicited_call(asking, client, {"incident_id": "7"})
    await client.answer(answering, request["id"], {"action": "decline"})
    declined = result_of(await asyncio.wait_for(task, 10))
    assert declined["isError"] is True
    assert "declined" in text_of(declined)
    task, _ = await _elicited_call(asking, client, {"incident_id": "7"})
    silent = result_of(await asyncio.wait_for(task, 10))
    assert silent["isError"] is True
    assert "No answer" in text_of(silent)
    assert asking.runner.ran == []
    assert [(r.decision, r.error_code) for r in asking.records] == [
        ("declined", "confirmation_declined"),
        ("expired", "confirmation_timeout"),
    ]


async def test_an_answer_from_another_session_is_ignored(world: World) -> None:
    asking = world.make(confirm_timeout=0.5)
    token, grant = await grant_of(world, confirm="writes")
    client = await SessionClient.open(asking, grant, token, elicitation=True)
    intruder = await SessionClient.open(asking, grant, token, elicitation=True)
    task, request = await _elicited_call(asking, client, {"incident_id": "7"})
    await intruder.answer(asking, request["id"], {"action": "accept", "content": {"confirm": True}})
    result = result_of(await asyncio.wait_for(task, 10))
    assert result["isError"] is True
    assert asking.runner.ran == []


# --------------------------------------------------------------------------- budgets


async def test_a_budget_admits_exactly_its_count_across_replicas(world: World) -> None:
    gateways = [world.make(), world.make()]
    budget = Budget(target=ACK, limit=3, window=3600)
    token, grant = await grant_of(world, budgets=(budget,))
    clients = [await SessionClient.open(g, grant, token) for g in gateways]
    replies = await asyncio.gather(
        *(clients[i % 2].call(gateways[i % 2], ACK, {"incident_id": "7"}) for i in range(10))
    )
    results = [result_of(r) for r in replies]
    assert sum(not r["isError"] for r in results) == 3
    assert sum(len(g.runner.ran) for g in gateways) == 3
    refusal = next(r for r in results if r["isError"])
    assert "budget" in text_of(refusal)
    assert "3/h" in text_of(refusal)
    assert refusal["_meta"]["ratelimit-limit"] == 3
    assert refusal["_meta"]["ratelimit-remaining"] == 0
    assert 3500 <= refusal["_meta"]["retry-after"] <= 3600
    codes = [r.error_code for g in gateways for r in g.records]
    assert codes.count("budget_exceeded") == 7


async def test_a_class_budget_counts_every_write_and_no_read(world: World) -> None:
    gateway = world.make()
    token, grant = await grant_of(world, budgets=(Budget(target="write", limit=1, window=60),))
    client = await SessionClient.open(gateway, grant, token)
    assert not result_of(await client.call(gateway, ACK, {"incident_id": "7"}))["isError"]
    assert result_of(await client.call(gateway, RESOLVE, {"incident_id": "7"}))["isError"]
    read = await client.call(gateway, "list_all_better_stack_incidents", {})
    assert not result_of(read)["isError"]
