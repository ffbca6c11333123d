"""The on-call workflow through the official MCP SDK client: brief the next engineer from one
call, read the timeline collapsed, escalate to the next step of the policy, and put the team
in maintenance and out again (gateway replicas + worker + sandbox)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcp import Client

from tests.support.grants import mint_grant
from tests.support.sandbox import RunningSandbox
from tests.support.stack import McpStack

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


async def _url(stack: McpStack, methods: tuple[str, ...], tags: tuple[str, ...]) -> str:
    redis = stack.redis()
    try:
        token, _ = await mint_grant(
            redis, stack.keys, account_id=stack.account_id, methods=methods, tags=tags
        )
    finally:
        await redis.aclose()
    return stack.url(token, 0)


def _structured(result: Any) -> Any:
    assert not result.is_error, result.content
    return result.structured_content


async def test_brief_timeline_escalation_and_maintenance_through_the_sdk(
    mcp_stack: McpStack, sandbox_api: RunningSandbox
) -> None:
    url = await _url(mcp_stack, ("read", "write"), ("incidents", "on_call", "monitors"))
    async with Client(url) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert {
            "better_stack_incidents_brief",
            "better_stack_team_maintenance_start",
            "better_stack_team_maintenance_end",
        } <= names

        brief_result = await client.call_tool("better_stack_incidents_brief", {"incident_id": 3})
        brief = _structured(brief_result)["result"]
        text = brief_result.content[0].text
        assert json.loads(text)["result"]["severity"] == "High"
        assert brief["escalation"]["next_step"]["who"] == ["bob@example.com"]
        assert len(brief["timeline"]["events"]) <= 6
        print(f"\nbrief of incident 3 through the SDK: {len(text)} bytes")

        timeline = _structured(
            await client.call_tool(
                "list_all_better_stack_incident_timeline",
                {"incident_id": "3", "collapse": True, "newest_first": True},
            )
        )["result"]
        assert timeline[0].get("count", 1) >= 1
        assert len(timeline) <= 6

        escalated = _structured(
            await client.call_tool(
                "better_stack_incidents_escalate", {"incident_id": 3, "to": "next_step"}
            )
        )
        assert escalated["notified"] == ["bob@example.com"]
        assert escalated["step"]["step"] == 2

        started = _structured(
            await client.call_tool("better_stack_team_maintenance_start", {"duration": 1800})
        )["result"]
        assert started["maintenance"] is True
        assert started["maintenance_to"]
        ended = await client.call_tool("better_stack_team_maintenance_end", {})
        assert not ended.is_error
        status = _structured(await client.call_tool("better_stack_team_maintenance_status", {}))
        assert status["result"]["maintenance"] is False
