"""Real MCP clients (the official Python SDK) against gateway + worker + sandbox."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from mcp import Client, ClientSession
from mcp.client.sse import sse_client

from stackmcp.betterstack_worker.catalog import default_catalog
from stackmcp.contracts.filters import filter_tools
from tests.support.grants import mint_grant
from tests.support.sandbox import RunningSandbox
from tests.support.stack import McpStack

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

CATALOG = default_catalog()


@dataclass
class Server:
    """A minted MCP server URL."""

    token: str
    stack: McpStack

    def url(self, replica: int = 0) -> str:
        """Its URL on one gateway replica."""
        return self.stack.url(self.token, replica)


async def mint(
    stack: McpStack, methods: Sequence[str] = ("read",), tags: Sequence[str] = ()
) -> Server:
    """Mint a server on the stack's account."""
    redis = stack.redis()
    try:
        token, _ = await mint_grant(
            redis, stack.keys, account_id=stack.account_id, methods=methods, tags=tags
        )
    finally:
        await redis.aclose()
    return Server(token=token, stack=stack)


@pytest.fixture
def sandbox(mcp_stack: McpStack, sandbox_api: RunningSandbox) -> McpStack:
    """The stack, with the sandbox reset to its seed data."""
    return mcp_stack


def expected_names(methods: Sequence[str], tags: Sequence[str]) -> list[str]:
    """The tools a grant with this filter must list, in catalogue order."""
    return [t.name for t in filter_tools(CATALOG.tools, methods, tags)]


def structured(result: Any) -> Any:
    """``structuredContent`` of a successful tool result."""
    assert not result.is_error, result.content
    return result.structured_content


@pytest.mark.parametrize("mode", ["auto", "legacy", "2026-07-28"])
async def test_sdk_client_lists_the_filtered_tools_and_calls_one(
    sandbox: McpStack, mode: str
) -> None:
    """Every client mode sees exactly the grant's tools and gets structured results."""
    server = await mint(sandbox, ("read",), ("incidents",))
    async with Client(server.url(), mode=mode) as client:  # type: ignore[arg-type]
        listed = await client.list_tools()
        assert [t.name for t in listed.tools] == expected_names(["read"], ["incidents"])
        result = await client.call_tool(
            "list_all_better_stack_incidents", {"resolved": False, "limit": 5}
        )
        content = structured(result)
        assert "7" in {item["id"] for item in content["result"]}
        expected_version = "2026-07-28" if mode != "legacy" else "2025-11-25"
        assert client.protocol_version == expected_version


async def test_sse_client_on_the_2024_transport(sandbox: McpStack) -> None:
    """The deprecated HTTP+SSE transport works with the SDK's sse_client."""
    server = await mint(sandbox, ("read",), ("on_call",))
    async with (
        sse_client(server.url() + "/sse") as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        listed = await session.list_tools()
        assert [t.name for t in listed.tools] == expected_names(["read"], ["on_call"])
        result = await session.call_tool("list_all_better_stack_on_call_schedules", {})
        assert "Core Infrastructure" in {s.get("name") for s in structured(result)["result"]}


async def test_triage_flow(sandbox: McpStack) -> None:
    """List open incidents, acknowledge the checkout one, comment on it."""
    server = await mint(sandbox, ("read", "write"), ("incidents",))
    async with Client(server.url(), mode="legacy") as client:
        listed = structured(
            await client.call_tool("list_all_better_stack_incidents", {"resolved": False})
        )
        checkout = next(i for i in listed["result"] if "Checkout" in i["name"])
        acknowledged = structured(
            await client.call_tool(
                "better_stack_incidents_acknowledge", {"incident_id": checkout["id"]}
            )
        )
        assert acknowledged["result"]["status"] == "Acknowledged"
        comment = "Acknowledged by Claude: rolling back the checkout deploy."
        created = structured(
            await client.call_tool(
                "create_a_better_stack_incident_comment",
                {"incident_id": checkout["id"], "content": comment},
            )
        )
        # The server's default provenance footer names the client ("mcp": the SDK's default
        # clientInfo) and the server.
        assert created["result"]["content"] == f'{comment}\n\n— via mcp · stackmcp "test server"'
        again = await client.call_tool(
            "better_stack_incidents_acknowledge", {"incident_id": checkout["id"]}
        )
        assert again.is_error
        assert "already acknowledged" in again.content[0].text  # type: ignore[union-attr]


async def test_escalation_flow_reads_the_whole_timeline(sandbox: McpStack) -> None:
    """Escalate the flapping incident, then walk its timeline through next_cursor."""
    server = await mint(sandbox, ("read", "write"), ("incidents",))
    async with Client(server.url(), mode="2026-07-28") as client:
        escalated = await client.call_tool(
            "better_stack_incidents_escalate",
            {"incident_id": "3", "escalation_type": "User", "user_email": "carol@example.com"},
        )
        assert not escalated.is_error, escalated.content
        items: list[Any] = []
        arguments: dict[str, Any] = {"incident_id": "3", "limit": 25}
        while True:
            page = structured(
                await client.call_tool("list_all_better_stack_incident_timeline", arguments)
            )
            items.extend(page["result"])
            if page["next_cursor"] is None:
                break
            arguments = {"incident_id": "3", "next_cursor": page["next_cursor"]}
        assert len(items) > 100
        assert len({i["id"] for i in items}) == len(items)
        escalation, note = items[-2:]
        assert "carol@example.com" in str(escalation)
        assert 'Escalated via mcp through stackmcp server "test server".' in str(note)
