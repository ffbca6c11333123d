"""The README's two on-call workflows through the official MCP client, the seed's way and with
the one-call tools: how many calls each takes and how many result bytes the model reads.

Run with ``-s`` to see the figures::

    ./bin/uv run pytest -s tests/e2e/test_workflow_cost.py

The seed's way is what an agent had to do before the brief, the timeline filters and escalation
to the next step existed (every tool it uses still exists, so both run against the same code and
the same sandbox data, reset between them).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from mcp import Client

from tests.support.grants import mint_grant
from tests.support.sandbox import RunningSandbox, reset_sandbox
from tests.support.stack import McpStack

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

CHECKOUT = "7"
FLAPPING = "3"
"""The sandbox's incident with a 100+ item timeline."""


@dataclass
class Tally:
    """A client that counts its tool calls and the result text the model reads."""

    client: Client
    calls: int = 0
    result_bytes: int = 0
    tools: list[str] = field(default_factory=list)

    async def call(self, tool: str, arguments: dict[str, Any]) -> Any:
        """Call ``tool``; its ``structuredContent`` (failing the test on a tool error)."""
        result = await self.client.call_tool(tool, arguments)
        self.calls += 1
        self.tools.append(tool)
        self.result_bytes += sum(len(getattr(c, "text", "").encode()) for c in result.content)
        assert not result.is_error, (tool, result.content)
        return result.structured_content


Workflow = Callable[[Tally], Awaitable[None]]


async def triage_seed(agent: Tally) -> None:
    """Open incidents and how urgent the checkout one is (incidents carried no severity: its
    policy's steps, then the severities); acknowledge it; comment; its timeline (every page)."""
    listed = await agent.call("list_all_better_stack_incidents", {"resolved": False})
    checkout = next(i for i in listed["result"] if i["id"] == CHECKOUT)
    policy = {"policy_id": checkout["escalation_policy_id"]}
    await agent.call("get_single_better_stack_escalation_policy_by_id", policy)
    await agent.call("list_all_better_stack_severities", {})
    await agent.call("better_stack_incidents_acknowledge", {"incident_id": CHECKOUT})
    comment = {"incident_id": CHECKOUT, "content": "Investigating: rolling back the deploy."}
    await agent.call("create_a_better_stack_incident_comment", comment)
    await _whole_timeline(agent, CHECKOUT)


async def triage_now(agent: Tally) -> None:
    """The same: incidents now carry their severity, and the timeline comes collapsed (repeats
    merged), newest first."""
    await agent.call("list_all_better_stack_incidents", {"resolved": False})
    await agent.call("better_stack_incidents_acknowledge", {"incident_id": CHECKOUT})
    comment = {"incident_id": CHECKOUT, "content": "Investigating: rolling back the deploy."}
    await agent.call("create_a_better_stack_incident_comment", comment)
    timeline = {"incident_id": CHECKOUT, "collapse": True, "newest_first": True}
    await agent.call("list_all_better_stack_incident_timeline", timeline)


async def escalation_seed(agent: Tally) -> None:
    """Brief the next tier on the flapping incident and page them: the incident, its whole
    timeline, its policy's steps, the severities (for the urgency), who is on call, then an
    escalation to that schedule."""
    incident = await agent.call("get_single_better_stack_incident_by_id", {"incident_id": FLAPPING})
    await _whole_timeline(agent, FLAPPING)
    policy_id = incident["result"]["escalation_policy_id"]
    await agent.call("get_single_better_stack_escalation_policy_by_id", {"policy_id": policy_id})
    await agent.call("list_all_better_stack_severities", {})
    schedules = await agent.call("list_all_better_stack_on_call_schedules", {})
    schedule = next(s for s in schedules["result"] if "Core Infrastructure" in str(s))
    escalation = {
        "incident_id": FLAPPING,
        "escalation_type": "Schedule",
        "schedule_id": schedule["id"],
    }
    await agent.call("better_stack_incidents_escalate", escalation)


async def escalation_now(agent: Tally) -> None:
    """The brief, then escalation to the next step of the incident's own policy."""
    await agent.call("better_stack_incidents_brief", {"incident_id": FLAPPING})
    await agent.call(
        "better_stack_incidents_escalate", {"incident_id": FLAPPING, "to": "next_step"}
    )


async def _whole_timeline(agent: Tally, incident_id: str) -> None:
    arguments: dict[str, Any] = {"incident_id": incident_id, "limit": 100}
    while True:
        page = await agent.call("list_all_better_stack_incident_timeline", arguments)
        if page["next_cursor"] is None:
            return
        arguments = {"incident_id": incident_id, "next_cursor": page["next_cursor"]}


async def run(stack: McpStack, sandbox: RunningSandbox, workflow: Workflow) -> Tally:
    """``workflow`` on freshly reset sandbox data, through a read + write server."""
    reset_sandbox(sandbox)
    redis = stack.redis()
    try:
        token, _ = await mint_grant(
            redis,
            stack.keys,
            account_id=stack.account_id,
            methods=("read", "write"),
            tags=("incidents", "on_call", "escalation_policies", "severities"),
        )
    finally:
        await redis.aclose()
    async with Client(stack.url(token)) as client:
        agent = Tally(client)
        await workflow(agent)
    return agent


@pytest.mark.parametrize(
    ("name", "seed", "now"),
    [
        ("incident triage", triage_seed, triage_now),
        ("escalation brief for the next tier", escalation_seed, escalation_now),
    ],
)
async def test_the_one_call_tools_cost_fewer_calls_and_bytes(
    mcp_stack: McpStack,
    sandbox_api: RunningSandbox,
    name: str,
    seed: Workflow,
    now: Workflow,
) -> None:
    before = await run(mcp_stack, sandbox_api, seed)
    after = await run(mcp_stack, sandbox_api, now)
    print(
        f"\n{name}: the seed's way {before.calls} calls, {before.result_bytes:,} result bytes; "
        f"now {after.calls} calls, {after.result_bytes:,} result bytes"
    )
    assert after.calls <= before.calls
    assert after.result_bytes < before.result_bytes
