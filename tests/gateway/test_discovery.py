"""Discovery mode (``config.tool_exposure: "discovery"``).

Fast, in process: the ranking of ``search_tools``, the meta-tools' annotations and their
``tools/list`` size in o200k tokens. Then end to end with the official SDK client in every mode
(auto, legacy, 2026-07-28) against the running product (two gateways, a worker, the sandbox):
the list shows three tools; search finds incident tools and never a hidden one;
``get_tool_schema`` shows a tool as a direct ``tools/list`` does (pins, ``confirm_token``);
``call_tool`` answers as a direct call does — results, refusals of hidden tools, pins, budgets,
plan + ``confirm_token`` — and the audit records name the inner tool.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import warnings
from collections.abc import Sequence
from typing import Any

import msgspec
import nats
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import ElicitRequestParams, ElicitResult

from stackmcp.betterstack_worker.catalog import default_catalog
from stackmcp.contracts.audit import AuditEntry, ToolCallCompleted
from stackmcp.contracts.grants import Budget, Grant, Pin
from stackmcp.contracts.mcp_tools import mcp_tool
from stackmcp.contracts.policy import expose
from stackmcp.contracts.tools import ToolDescriptor
from stackmcp.gateway.discovery import (
    CALL_TOOL,
    META_TOOLS,
    Discovery,
    SearchIndex,
    inner_call,
    meta_tools,
    not_available,
    one_line,
    rank,
)
from stackmcp.gateway.jsonrpc import RpcError
from tests.gateway.test_safe_writes import (
    SessionClient,
    World,
    grant_of,
    result_of,
    stateless,
)
from tests.gateway.test_safe_writes import world as safe_world  # noqa: F401 - a fixture
from tests.support.grants import mint_grant
from tests.support.sandbox import RunningSandbox
from tests.support.stack import McpStack

with warnings.catch_warnings():
    # bpe-openai reads its tables with importlib.resources.open_binary (deprecated, harmless)
    warnings.simplefilter("ignore", DeprecationWarning)
    import bpe_openai

    ENCODING = bpe_openai.get_encoding("o200k_base")

TOOLS = default_catalog().tools
ACK = "better_stack_incidents_acknowledge"
LIST = "list_all_better_stack_incidents"
GET = "get_single_better_stack_incident_by_id"
COMMENT = "create_a_better_stack_incident_comment"
MONITORS = "list_all_better_stack_monitors"
META_TOKEN_BUDGET = 1_000
"""Most o200k tokens the meta-tools' ``tools/list`` may cost."""
MODES = ["auto", "legacy", "2026-07-28"]


def _grant(**policy: Any) -> Grant:
    return Grant(server_id="srv_d", account_id="acc_d", tool_exposure="discovery", **policy)


def _exposed(grant: Grant) -> tuple[ToolDescriptor, ...]:
    return expose(TOOLS, grant).tools


# --------------------------------------------------------------------------- fast: ranking


def test_the_obvious_tool_ranks_first() -> None:
    index = SearchIndex(TOOLS)
    expected = {
        "acknowledge incident": ACK,
        "ack": ACK,
        "resolve the incident": "better_stack_incidents_resolve",
        "close incident": "better_stack_incidents_resolve",
        "escalate to the next tier": "better_stack_incidents_escalate",
        "paging": "better_stack_incidents_escalate",
        "incident timeline": "list_all_better_stack_incident_timeline",
        "open incidents": LIST,
        "who is on call": "list_all_better_stack_on_call_schedules",
        "status pages": "list_all_better_stack_status_pages",
        "delete monitor": "delete_a_better_stack_monitor_by_id",
        "heartbeats": "list_all_better_stack_heartbeats",
        "brief the next engineer": "better_stack_incidents_brief",
        "incident summary": "better_stack_incidents_brief",  # a synonym, next to the word
        "availability summary": "better_stack_monitors_availability",
        "start maintenance": "better_stack_team_maintenance_start",
    }
    for query, tool in expected.items():
        assert index.rank(query)[0][0].name == tool, (query, index.rank(query)[:3])


def test_ranking_is_deterministic_and_ties_keep_catalogue_order() -> None:
    first = [t.name for t in rank(TOOLS, "incident comment")]
    assert first == [t.name for t in rank(tuple(TOOLS), "comment incident")]
    assert first == [t.name for t in rank(TOOLS, "Incident COMMENTS!")]
    order = {t.name: i for i, t in enumerate(TOOLS)}
    scored = SearchIndex(TOOLS).rank("incident comment")
    for (a, score_a), (b, score_b) in itertools.pairwise(scored):
        assert score_a > score_b or (score_a == score_b and order[a.name] < order[b.name])


def test_words_in_every_name_count_for_nothing_and_nonsense_finds_nothing() -> None:
    index = SearchIndex(TOOLS)
    assert index.rank("xyzzy frobnicate") == []
    better = index.rank("better stack incidents")
    assert better[0][0].name.startswith(("list_all_better_stack_incidents", "better_stack_inc"))
    assert all("incident" in t.name for t, _ in better[:5])
    # An empty query (or only common words) lists every tool, in catalogue order.
    assert [t.name for t, _ in index.rank("the of")] == [t.name for t in TOOLS]


def test_search_only_ranks_what_the_grant_exposes() -> None:
    grant = _grant(methods=("read",), tags=("incidents",))
    exposed = {t.name for t in _exposed(grant)}
    for query in ("monitor", "delete incident", "acknowledge", "on-call schedule", ""):
        assert {t.name for t in rank(_exposed(grant), query)} <= exposed


def test_one_line_descriptions() -> None:
    assert one_line("Does a thing. Then more.\nAnd more.") == "Does a thing."
    long = one_line("word " * 60)
    assert len(long) <= 120
    assert long.endswith("…")
    assert one_line("v1.2 is fine") == "v1.2 is fine"


def test_call_tool_params_keep_everything_but_name_and_arguments() -> None:
    params = {
        "name": CALL_TOOL,
        "arguments": {"name": ACK, "arguments": {"incident_id": "7"}},
        "_meta": {"x": 1},
        "requestState": "s",
    }
    assert inner_call(params) == {
        "name": ACK,
        "arguments": {"incident_id": "7"},
        "_meta": {"x": 1},
        "requestState": "s",
    }
    text = inner_call({"arguments": {"name": ACK, "arguments": '{"incident_id": "7"}'}})
    assert text["arguments"] == {"incident_id": "7"}
    assert inner_call({"arguments": {"name": ACK}})["arguments"] is None
    bad: dict[str, Any]
    for bad in ({}, {"arguments": {"arguments": {}}}, {"arguments": {"name": 3}}):
        with pytest.raises(RpcError, match="call_tool needs name"):
            inner_call(bad)


def test_call_tool_is_as_dangerous_as_the_worst_tool_it_reaches() -> None:
    """search_tools and get_tool_schema are read-only; call_tool is read-only on a read-only
    server, a write elsewhere, and destructive-hinted when any reachable tool is destructive."""

    def hints(grant: Grant) -> dict[str, dict[str, Any]]:
        return {t.name: msgspec.to_builtins(t.annotations) for t in meta_tools(_exposed(grant))}

    reads = hints(_grant(methods=("read",)))
    assert reads == {n: {"readOnlyHint": True} for n in META_TOOLS}
    writes = hints(_grant(methods=("read", "write"), tags=("incidents",)))
    assert writes[CALL_TOOL] == {"readOnlyHint": False, "destructiveHint": True}
    safe = hints(
        _grant(methods=("read", "write"), tags=("incidents",), exclude_tags=("destructive",))
    )
    assert safe[CALL_TOOL] == {"readOnlyHint": False, "destructiveHint": False}
    assert safe["search_tools"] == safe["get_tool_schema"] == {"readOnlyHint": True}


@pytest.mark.parametrize(
    "policy",
    [{"methods": ("read", "write", "custom")}, {"methods": ("read",), "tags": ("incidents",)}],
    ids=["full", "read-incidents"],
)
def test_the_meta_tools_list_fits_in_1000_o200k_tokens(policy: dict[str, Any]) -> None:
    listed = {"tools": [mcp_tool(t) for t in meta_tools(_exposed(_grant(**policy)))]}
    text = msgspec.json.encode(listed).decode()
    tokens = len(ENCODING.encode(text))
    print(f"discovery tools/list ({', '.join(policy['methods'])}): {tokens} o200k tokens")
    assert tokens <= META_TOKEN_BUDGET


def test_search_limits() -> None:
    class Catalog:  # the part of ToolCatalog discovery reads
        version = "v1"

        def view(self, grant: Grant) -> Any:
            return type("View", (), {"tools": {t.name: t for t in _exposed(grant)}})()

    discovery = Discovery(Catalog())  # type: ignore[arg-type]
    grant = _grant(methods=("read", "write", "custom"))

    def found(**arguments: Any) -> Any:
        result = discovery.answer("search_tools", arguments, grant)
        return result.is_error, result.structured_value() if not result.is_error else result.text

    assert len(found(query="incident")[1]["result"]) == 10
    assert len(found(query="", limit=500)[1]["result"]) == 50
    assert found(query="", limit=500)[1]["more"] == len(_exposed(grant)) - 50
    assert len(found(query="incident", limit=3.0)[1]["result"]) == 3
    for bad in ({"query": "x", "limit": 0}, {"query": "x", "limit": "5"}, {"limit": 5}):
        assert found(**bad)[0] is True
    nothing = found(query="xyzzy")[1]
    assert nothing["result"] == []
    assert "empty query" in nothing["hint"]


def test_hidden_and_unknown_tools_get_one_answer() -> None:
    assert not_available("x") == "x is not available on this server — search_tools shows what is"


# --------------------------------------------------------------------------- in process


@pytest.fixture
def world(safe_world: World) -> World:  # noqa: F811 - the fixture imported above
    """In-process gateway cores on real NATS and Valkey with a scripted worker (see
    ``test_safe_writes``)."""
    return safe_world


async def test_the_worker_gets_the_inner_tool_with_the_whole_policy(world: World) -> None:
    """What travels to the worker is the inner tool's call, with every rule of the grant for
    the worker's own re-check; the meta-tools never reach a worker."""
    gateway = world.make()
    pin = (Pin(param="incident_id", values=("7",)),)
    token, grant = await grant_of(world, tool_exposure="discovery", pin=pin)
    client = await SessionClient.open(gateway, grant, token)
    found = result_of(await client.call(gateway, "search_tools", {"query": "acknowledge"}))
    assert found["structuredContent"]["result"][0]["name"] == ACK
    done = result_of(
        await client.call(gateway, CALL_TOOL, {"name": ACK, "arguments": {"incident_id": "7"}})
    )
    assert done["isError"] is False
    (sent,) = gateway.runner.calls
    assert (sent.tool, sent.arguments) == (ACK, {"incident_id": "7"})
    assert (sent.methods, sent.tags, sent.pin) == (grant.methods, grant.tags, grant.pin)
    assert sent.provenance is not None  # a write: the timeline note names the server
    assert [r.tool for r in gateway.records] == ["search_tools", ACK]


async def test_stateless_list_and_listed_tools_follow_the_exposure(world: World) -> None:
    """The 2026-07-28 list carries its cache hints; the tools a stream compares for
    list_changed are the meta-tools, so switching the exposure is a list change."""
    gateway = world.make()
    _, discovery = await grant_of(world, tool_exposure="discovery")
    listed = await stateless(gateway, discovery, "tools/list", {})
    assert [t["name"] for t in listed["tools"]] == list(META_TOOLS)
    assert (listed["resultType"], listed["cacheScope"]) == ("complete", "private")
    assert "nextCursor" not in listed
    served = len(ENCODING.encode(msgspec.json.encode({"tools": listed["tools"]}).decode()))
    print(f"discovery tools/list as served (read, write; incidents): {served} o200k tokens")
    assert served <= META_TOKEN_BUDGET
    methods = gateway.core.methods
    assert list(await methods.listed_tools(discovery)) == list(META_TOOLS)
    plain = msgspec.structs.replace(discovery, tool_exposure="all")
    assert ACK in await methods.listed_tools(plain)


# --------------------------------------------------------------------------- end to end


@pytest.fixture
def sandbox(mcp_stack: McpStack, sandbox_api: RunningSandbox) -> McpStack:
    """The stack, with the sandbox reset to its seed data."""
    return mcp_stack


async def mint(stack: McpStack, **policy: Any) -> tuple[str, Grant]:
    redis = stack.redis()
    try:
        return await mint_grant(redis, stack.keys, account_id=stack.account_id, **policy)
    finally:
        await redis.aclose()


def structured(result: Any) -> Any:
    assert not result.is_error, result.content
    return result.structured_content


def text(result: Any) -> str:
    return "".join(getattr(part, "text", "") for part in result.content)


async def call(client: Client, name: str, arguments: dict[str, Any]) -> Any:
    """``call_tool`` of a discovery server."""
    return await client.call_tool(CALL_TOOL, {"name": name, "arguments": arguments})


async def direct_listing(stack: McpStack, mode: str, **policy: Any) -> dict[str, Any]:
    """The ``tools/list`` entries an ``all`` server with ``policy`` shows, by name."""
    token, _ = await mint(stack, **policy)
    async with Client(stack.url(token), mode=mode) as client:  # type: ignore[arg-type]
        listed = await client.list_tools()
    return {t.name: t.model_dump(by_alias=True, exclude_none=True) for t in listed.tools}


async def audit_records(stack: McpStack, server_id: str, count: int) -> list[ToolCallCompleted]:
    """The ``count`` audit records of ``server_id``, oldest first (waits up to 10 s)."""
    decoder = msgspec.json.Decoder(AuditEntry)
    nc = await nats.connect(stack.nats_url)
    try:
        js = nc.jetstream()
        deadline = time.monotonic() + 10
        while True:
            info = await js.stream_info(stack.subjects.audit_stream)
            found = []
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                entry = decoder.decode(
                    (await js.get_msg(stack.subjects.audit_stream, seq)).data or b""
                )
                if isinstance(entry, ToolCallCompleted) and entry.server_id == server_id:
                    found.append(entry)
            if len(found) >= count or time.monotonic() > deadline:
                return found
            await asyncio.sleep(0.2)
    finally:
        await nc.close()


def names(found: Sequence[dict[str, Any]]) -> list[str]:
    return [item["name"] for item in found]


INCIDENTS_RW = {"methods": ("read", "write"), "tags": ("incidents",)}


@pytest.mark.parametrize("mode", MODES)
async def test_discovery_end_to_end(sandbox: McpStack, mode: str) -> None:
    """List, search, schema, a read through call_tool, a hidden tool refused, plan + token,
    and the audit trail naming the inner tools."""
    policy = {**INCIDENTS_RW, "confirm": "writes"}
    token, grant = await mint(sandbox, tool_exposure="discovery", **policy)
    direct = await direct_listing(sandbox, mode, **policy)
    async with Client(sandbox.url(token), mode=mode) as client:  # type: ignore[arg-type]
        listed = await client.list_tools()
        assert [t.name for t in listed.tools] == list(META_TOOLS)
        annotations = {t.name: t.annotations for t in listed.tools}
        assert annotations["search_tools"].read_only_hint is True  # type: ignore[union-attr]
        assert annotations[CALL_TOOL].read_only_hint is False  # type: ignore[union-attr]
        assert annotations[CALL_TOOL].destructive_hint is True  # type: ignore[union-attr]

        found = structured(await client.call_tool("search_tools", {"query": "acknowledge"}))
        assert names(found["result"])[0] == ACK
        everything = structured(await client.call_tool("search_tools", {"query": "", "limit": 50}))
        assert set(names(everything["result"])) == set(direct)
        monitors = structured(await client.call_tool("search_tools", {"query": "monitors"}))
        assert set(names(monitors["result"])) <= set(direct)
        assert MONITORS not in names(monitors["result"])
        few = structured(await client.call_tool("search_tools", {"query": "incident", "limit": 2}))
        assert len(few["result"]) == 2
        assert few["more"] > 0

        schema = structured(await client.call_tool("get_tool_schema", {"name": ACK}))
        assert schema == direct[ACK]
        assert "confirm_token" in schema["inputSchema"]["properties"]
        for absent in (MONITORS, "no_such_tool"):
            refused = await client.call_tool("get_tool_schema", {"name": absent})
            assert refused.is_error
            assert text(refused) == not_available(absent)

        via = structured(await call(client, LIST, {"resolved": False, "limit": 5}))
        assert "7" in {item["id"] for item in via["result"]}

        with pytest.raises(MCPError) as hidden_via:
            await call(client, MONITORS, {})
        with pytest.raises(MCPError) as hidden_direct:
            await client.call_tool(MONITORS, {})
        assert str(hidden_via.value) == str(hidden_direct.value)
        assert hidden_via.value.error.code == hidden_direct.value.error.code == -32602
        assert not_available(MONITORS) in str(hidden_via.value)

        comment = {"incident_id": "7", "content": f"via call_tool in {mode}"}
        planned = structured(await call(client, COMMENT, comment))
        confirmation = planned["confirmation"]
        assert confirmation["tool"] == COMMENT
        confirmed = structured(
            await call(client, COMMENT, {**comment, "confirm_token": confirmation["confirm_token"]})
        )
        assert confirmed["result"]["content"].startswith(comment["content"])
        again = await call(
            client, COMMENT, {**comment, "confirm_token": confirmation["confirm_token"]}
        )
        assert again.is_error  # single use, as for a direct call

    records = await audit_records(sandbox, grant.server_id, 13)
    assert [(r.tool, r.outcome, r.error_code, r.decision) for r in records] == [
        *[("search_tools", "ok", None, None)] * 4,
        ("get_tool_schema", "ok", None, None),
        *[("get_tool_schema", "tool_error", None, None)] * 2,
        (LIST, "ok", None, None),
        *[(MONITORS, "refused", "tool_hidden", None)] * 2,
        (COMMENT, "refused", "confirmation_required", "planned"),
        (COMMENT, "ok", None, "confirmed"),
        (COMMENT, "refused", "confirm_token_invalid", "token_reused"),
    ]
    assert records[7].arguments == {"resolved": False, "limit": 5}


@pytest.mark.parametrize("mode", MODES)
async def test_a_read_through_call_tool_is_the_direct_result(sandbox: McpStack, mode: str) -> None:
    token, _ = await mint(sandbox, tool_exposure="discovery", methods=("read",))
    plain, _ = await mint(sandbox, methods=("read",))
    arguments = {"incident_id": "3"}
    async with Client(sandbox.url(token), mode=mode) as client:  # type: ignore[arg-type]
        via = await call(client, GET, arguments)
        direct_on_discovery = await client.call_tool(GET, arguments)
    async with Client(sandbox.url(plain), mode=mode) as client:  # type: ignore[arg-type]
        direct = await client.call_tool(GET, arguments)
    assert structured(via) == structured(direct) == structured(direct_on_discovery)
    assert text(via) == text(direct)


async def test_pins_through_call_tool(sandbox: McpStack) -> None:
    """The pinned schema, and a call outside the pin refused as a direct one is."""
    pin = (Pin(param="incident_id", values=("7",)),)
    token, _ = await mint(sandbox, tool_exposure="discovery", pin=pin, **INCIDENTS_RW)
    direct = await direct_listing(sandbox, "auto", pin=pin, **INCIDENTS_RW)
    async with Client(sandbox.url(token)) as client:
        schema = structured(await client.call_tool("get_tool_schema", {"name": GET}))
        assert schema == direct[GET]
        assert "7" in schema["inputSchema"]["properties"]["incident_id"]["enum"]
        outside = await call(client, GET, {"incident_id": "3"})
        direct_outside = await client.call_tool(GET, {"incident_id": "3"})
        assert outside.is_error
        assert text(outside) == text(direct_outside)
        assert "may act only on incident_id 7" in text(outside)
        inside = structured(await call(client, GET, {"incident_id": 7}))
        assert inside["result"]["id"] == "7"
        # A write that names no incident is withheld by the pin: not reachable either way.
        found = structured(await client.call_tool("search_tools", {"query": "create incident"}))
        assert "create_a_better_stack_incident" not in names(found["result"])


async def test_a_budget_counts_calls_through_call_tool_and_direct_alike(
    sandbox: McpStack,
) -> None:
    budget = (Budget(target=LIST, limit=2, window=3600),)
    token, grant = await mint(sandbox, tool_exposure="discovery", methods=("read",), budgets=budget)
    async with Client(sandbox.url(token)) as client:
        assert not (await call(client, LIST, {"limit": 1})).is_error
        assert not (await client.call_tool(LIST, {"limit": 1})).is_error
        over = await call(client, LIST, {"limit": 1})
        assert over.is_error
        assert "budget" in text(over).lower()
        search = await client.call_tool("search_tools", {"query": "incidents"})
        assert not search.is_error  # the meta-tools spend nothing
    records = await audit_records(sandbox, grant.server_id, 4)
    assert [(r.tool, r.error_code) for r in records] == [
        (LIST, None),
        (LIST, None),
        (LIST, "budget_exceeded"),
        ("search_tools", None),
    ]


async def test_an_all_server_has_no_meta_tools(sandbox: McpStack) -> None:
    token, _ = await mint(sandbox, methods=("read",))
    async with Client(sandbox.url(token)) as client:
        assert "search_tools" not in {t.name for t in (await client.list_tools()).tools}
        with pytest.raises(MCPError, match="not available on this server"):
            await client.call_tool("search_tools", {"query": "incident"})


@pytest.mark.parametrize("mode", MODES)
async def test_confirmation_by_elicitation_through_call_tool(sandbox: McpStack, mode: str) -> None:
    """A client that declared elicitation is asked (on its response stream, or by
    ``input_required`` in 2026-07-28) before the inner tool runs, as for a direct call."""
    token, grant = await mint(sandbox, tool_exposure="discovery", confirm="writes", **INCIDENTS_RW)
    asked: list[str] = []

    async def person(_context: Any, params: ElicitRequestParams) -> ElicitResult:
        asked.append(params.message)
        return ElicitResult(action="accept", content={"confirm": True})

    content = f"elicited via call_tool in {mode}"
    async with Client(
        sandbox.url(token),
        mode=mode,  # type: ignore[arg-type]
        elicitation_callback=person,
    ) as client:
        result = await call(client, COMMENT, {"incident_id": "7", "content": content})
    assert structured(result)["result"]["content"].startswith(content)
    assert len(asked) == 1
    assert "comment" in asked[0].lower()
    # 2026-07-28 asks with an input_required result first (a record of its own), then runs.
    expected = [(COMMENT, "ok", "accepted")]
    if mode != "legacy":
        expected.insert(0, (COMMENT, "refused", "asked"))
    records = await audit_records(sandbox, grant.server_id, len(expected))
    assert [(r.tool, r.outcome, r.decision) for r in records] == expected
