"""MCP prompts: the on-call workflows, written for each server's tools.

Fast tests run :class:`Prompts` and :class:`McpMethods` in process over the worker's compiled
catalogue; the e2e tests go through the official SDK client (every mode) against gateway +
worker + sandbox.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
import pytest
from mcp import Client

from stackmcp.contracts.grants import Grant
from stackmcp.gateway.catalog import ToolCatalog
from stackmcp.gateway.eras import Era
from stackmcp.gateway.jsonrpc import INVALID_PARAMS, RpcError
from stackmcp.gateway.mcp import McpMethods
from stackmcp.gateway.prompts import BASE_INSTRUCTIONS, Prompts
from tests.support.catalog import served_catalog
from tests.support.grants import mint_grant
from tests.support.stack import McpStack

NAMES = ["incident_triage", "escalation_brief", "post_incident_summary"]


def _grant(**config: Any) -> Grant:
    return Grant(server_id="srv", account_id="acc", **config)


READ_INCIDENTS = _grant(methods=("read",), tags=("incidents",))
WRITE_ONCALL = _grant(methods=("read", "write"), tags=("incidents", "on_call"))


@pytest.fixture(scope="module")
def served() -> ToolCatalog:
    return served_catalog()


def listed(prompts: Prompts, grant: Grant, *, modern: bool = False) -> dict[str, Any]:
    result: dict[str, Any] = msgspec.json.decode(prompts.list_page(grant, modern=modern))
    return result


def text(prompts: Prompts, grant: Grant, name: str, **arguments: Any) -> str:
    params = {"name": name, "arguments": arguments}
    result = msgspec.json.decode(prompts.get(params, grant, modern=False))
    [message] = result["messages"]
    assert message["role"] == "user"
    return str(message["content"]["text"])


def test_the_workflows_are_listed_with_their_arguments(served: ToolCatalog) -> None:
    result = listed(Prompts(served), READ_INCIDENTS)
    assert [p["name"] for p in result["prompts"]] == NAMES
    triage, brief, summary = result["prompts"]
    assert triage["arguments"][0]["name"] == "incident_id"
    assert triage["arguments"][0]["required"] is False
    assert brief["arguments"][0]["required"] is summary["arguments"][0]["required"] is True
    assert all(p["description"] and p["title"] for p in result["prompts"])
    assert "ttlMs" not in result  # session eras: no caching hints


def test_modern_lists_carry_caching_hints(served: ToolCatalog) -> None:
    result = listed(Prompts(served), READ_INCIDENTS, modern=True)
    assert result["resultType"] == "complete"
    assert result["ttlMs"] >= 0
    assert result["cacheScope"] == "private"


def test_a_prompt_whose_tools_are_all_missing_is_not_listed(served: ToolCatalog) -> None:
    prompts = Prompts(served)
    assert listed(prompts, _grant(methods=("read",), tags=("on_call",)))["prompts"] == []
    only_list = _grant(
        methods=("read",),
        tags=("incidents",),
        exclude_tools=(
            "better_stack_incidents_brief",
            "get_single_better_stack_incident_by_id",
            "list_all_better_stack_incident_timeline",
        ),
    )
    assert [p["name"] for p in listed(prompts, only_list)["prompts"]] == ["incident_triage"]
    with pytest.raises(RpcError) as refused:
        prompts.get(
            {"name": "escalation_brief", "arguments": {"incident_id": "3"}}, only_list, modern=False
        )
    assert refused.value.code == INVALID_PARAMS
    assert "not available on this server" in refused.value.message


def test_the_text_follows_the_tools_the_server_lists(served: ToolCatalog) -> None:
    prompts = Prompts(served)
    read_only = text(prompts, READ_INCIDENTS, "escalation_brief", incident_id="3")
    assert "incident 3" in read_only
    assert "better_stack_incidents_brief" in read_only
    assert "better_stack_incidents_escalate" not in read_only
    writing = text(prompts, WRITE_ONCALL, "escalation_brief", incident_id=3)
    assert "better_stack_incidents_escalate with to=next_step" in writing
    assert "list_all_better_stack_on_call_schedules" in writing
    triage = text(prompts, READ_INCIDENTS, "incident_triage")
    assert "list_all_better_stack_incidents (resolved=false)" in triage
    assert "cannot change incidents" in triage
    assert "better_stack_incidents_acknowledge" in text(prompts, WRITE_ONCALL, "incident_triage")


def test_discovery_servers_are_told_to_use_call_tool(served: ToolCatalog) -> None:
    grant = _grant(methods=("read",), tags=("incidents",), tool_exposure="discovery")
    assert "call_tool" in text(Prompts(served), grant, "post_incident_summary", incident_id="3")


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [({}, "incident_id is required"), ({"incident_id": "3; ignore that"}, "must be digits")],
)
def test_arguments_are_checked(
    served: ToolCatalog, arguments: dict[str, Any], problem: str
) -> None:
    with pytest.raises(RpcError) as refused:
        Prompts(served).get(
            {"name": "post_incident_summary", "arguments": arguments}, READ_INCIDENTS, modern=False
        )
    assert refused.value.code == INVALID_PARAMS
    assert problem in refused.value.message


def test_initialize_and_discover_declare_prompts_and_write_instructions_per_grant(
    served: ToolCatalog,
) -> None:
    methods = McpMethods(served, None, call_timeout=5)  # type: ignore[arg-type]  # no calls
    _, body = methods.initialize({"protocolVersion": "2025-11-25"}, READ_INCIDENTS)
    result = msgspec.json.decode(body)
    assert result["capabilities"]["prompts"] == {"listChanged": False}
    assert "list_all_better_stack_incidents with resolved=false" in result["instructions"]
    assert "notify people" not in result["instructions"]  # no acknowledge/escalate/resolve here
    on_call = msgspec.json.decode(
        methods.initialize({}, _grant(methods=("read",), tags=("on_call",)))[1]
    )
    assert "list_all_better_stack_incidents" not in on_call["instructions"]
    assert msgspec.json.decode(methods.initialize({})[1])["instructions"] == BASE_INSTRUCTIONS
    discovered = msgspec.json.decode(methods.discover(Era.STATELESS, WRITE_ONCALL))
    assert discovered["capabilities"]["prompts"] == {"listChanged": False}
    assert "better_stack_incidents_acknowledge" in discovered["instructions"]


# ----------------------------------------------------------------------------- e2e (SDK client)


async def mint(stack: McpStack, methods: Sequence[str], tags: Sequence[str]) -> str:
    redis = stack.redis()
    try:
        token, _ = await mint_grant(
            redis, stack.keys, account_id=stack.account_id, methods=methods, tags=tags
        )
    finally:
        await redis.aclose()
    return stack.url(token)


@pytest.mark.integration
@pytest.mark.e2e
@pytest.mark.parametrize("mode", ["auto", "legacy", "2026-07-28"])
async def test_sdk_client_lists_and_gets_prompts(mcp_stack: McpStack, mode: str) -> None:
    url = await mint(mcp_stack, ("read", "write"), ("incidents",))
    async with Client(url, mode=mode) as client:  # type: ignore[arg-type]
        prompts = await client.list_prompts()
        assert [p.name for p in prompts.prompts] == NAMES
        tools = {t.name for t in (await client.list_tools()).tools}
        got = await client.get_prompt("escalation_brief", {"incident_id": "3"})
        [message] = got.messages
        body = message.content.text  # type: ignore[union-attr]
        assert "Better Stack incident 3" in body
        assert "better_stack_incidents_escalate" in body
        assert "better_stack_incidents_escalate" in tools
        assert "list_all_better_stack_on_call_schedules" not in body  # not on this server


@pytest.mark.integration
@pytest.mark.e2e
async def test_sdk_client_without_incident_tools_gets_no_prompts(mcp_stack: McpStack) -> None:
    url = await mint(mcp_stack, ("read",), ("monitors",))
    async with Client(url, mode="2026-07-28") as client:
        assert (await client.list_prompts()).prompts == []
