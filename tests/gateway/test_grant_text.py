"""Tool descriptions, server instructions and prompts name only tools the server lists.

The gateway's :class:`ToolCatalog` holds the worker's compiled catalogue (no NATS: the reply is
local), and every text a grant gets is scanned for tool-name-shaped words.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from stackmcp.contracts.grants import Grant
from stackmcp.gateway.catalog import ID_RULE, ToolCatalog, rewrite
from stackmcp.gateway.prompts import BASE_INSTRUCTIONS, Prompts
from tests.support.catalog import served_catalog

NAME_SHAPED = re.compile(
    r"\b(?:list_all|get_single|create_a|update_a|delete_a)_[a-z0-9_]*[a-z0-9]"
    r"|\b[a-z0-9_]*better_stack_[a-z0-9_]*[a-z0-9]"
)
POLICIES = "list_all_better_stack_escalation_policies"


def _grant(**config: Any) -> Grant:
    return Grant(server_id="srv", account_id="acc", **config)


GRANTS = {
    "full": _grant(methods=("read", "write")),
    "demo": _grant(methods=("read", "write"), tags=("incidents", "on_call"), confirm="destructive"),
    "read incidents": _grant(methods=("read",), tags=("incidents",)),
    "write incidents": _grant(methods=("read", "write"), tags=("incidents",)),
    "monitors": _grant(methods=("read", "write"), tags=("monitors",)),
    "status pages": _grant(methods=("read", "write"), tags=("status_pages",)),
    "no policy list": _grant(methods=("read", "write"), exclude_tools=(POLICIES,)),
    "no create tools": _grant(
        methods=("read", "write"),
        exclude_tools=("create_a_better_stack_monitor", "create_a_better_stack_heartbeat"),
    ),
    "on-call read": _grant(methods=("read",), tags=("on_call",)),
}


@pytest.fixture(scope="module")
def served() -> ToolCatalog:
    return served_catalog()


def texts(value: Any) -> Iterator[str]:
    """Every ``description`` inside a tools/list entry (tool and properties, nested)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "description" and isinstance(item, str):
                yield item
            else:
                yield from texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from texts(item)


def named(text: str) -> set[str]:
    return set(NAME_SHAPED.findall(text))


@pytest.mark.parametrize("case", list(GRANTS))
def test_descriptions_name_only_listed_tools(served: ToolCatalog, case: str) -> None:
    grant = GRANTS[case]
    page = msgspec.json.decode(served.list_page(grant, None, modern=False))
    listed = {t["name"] for t in page["tools"]}
    assert listed
    for tool in page["tools"]:
        for text in texts(tool):
            assert named(text) <= listed, (case, tool["name"], text)


@pytest.mark.parametrize("case", list(GRANTS))
def test_instructions_and_prompts_name_only_listed_tools(served: ToolCatalog, case: str) -> None:
    grant = GRANTS[case]
    listed = set(served.view(grant).tools)
    prompts = Prompts(served)
    text = prompts.instructions(grant)
    assert BASE_INSTRUCTIONS in text
    assert named(text) <= listed, (case, named(text) - listed)
    result = msgspec.json.decode(prompts.list_page(grant, modern=False))
    for prompt in result["prompts"]:
        assert named(prompt["description"]) <= listed
        for argument in prompt["arguments"]:
            assert named(argument["description"]) <= listed
        args = {"incident_id": "3"}
        got = msgspec.json.decode(
            prompts.get({"name": prompt["name"], "arguments": args}, grant, modern=False)
        )
        body = got["messages"][0]["content"]["text"]
        assert named(body) <= listed, (case, prompt["name"], named(body) - listed)


def test_the_scan_would_catch_a_stray_name(served: ToolCatalog) -> None:
    """The full catalogue's texts do name tools (the scan is not vacuous), and a server without
    the escalation policy list gets the hint without the name."""
    full = msgspec.json.decode(served.list_page(GRANTS["full"], None, modern=False))
    assert any(POLICIES in text for tool in full["tools"] for text in texts(tool))
    narrow = msgspec.json.decode(served.list_page(GRANTS["write incidents"], None, modern=False))
    escalate = next(t for t in narrow["tools"] if t["name"] == "better_stack_incidents_escalate")
    policy = escalate["inputSchema"]["properties"]["policy_id"]
    assert policy["description"].startswith("An escalation policy id")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"From {POLICIES}.", "An escalation policy id."),
        (
            f"From {POLICIES}; overrides call/sms/email/push. null clears.",
            "An escalation policy id; overrides call/sms/email/push. null clears.",
        ),
        (
            "Custom role id instead of role, from list_all_better_stack_team_roles.",
            "Custom role id instead of role, a team role id.",
        ),
        (
            "From list_all_better_stack_on_call_schedules, or default.",
            "An on-call schedule id, or default.",
        ),
        (
            "Change a monitor. Fields as in create_a_better_stack_monitor; only those given change.",
            "Change a monitor. Only the fields given change.",
        ),
        ("Get one. Then call better_stack_secret_tool for more. Done.", "Get one. Done."),
        (
            "Severity id (list_all_better_stack_severities) for escalation steps.",
            "Severity id for escalation steps.",
        ),
        (f"From {POLICIES}.", f"From {POLICIES}."),
    ],
    ids=[
        "hint",
        "hint-clause",
        "lowercase",
        "default",
        "fields-as-in",
        "dropped",
        "aside",
        "listed",
    ],
)
def test_rewrite(text: str, expected: str) -> None:
    listed = {POLICIES} if expected == text else set()
    assert rewrite(text, listed) == expected


def test_update_fields_refer_to_their_create_tool_only_where_it_is_listed(
    served: ToolCatalog,
) -> None:
    update = "update_a_better_stack_monitor_by_id"
    full = served.view(GRANTS["full"]).tools[update]
    props = full.input_schema["properties"]
    assert "url" not in props  # described on create_a_better_stack_monitor
    assert props["monitor_id"]["type"] == ["string", "integer"]
    assert "create_a_better_stack_monitor" in full.description
    alone = served.view(GRANTS["no create tools"]).tools[update]
    assert alone.input_schema["properties"]["url"] == {"type": "string"}
    assert "create_a_better_stack_monitor" not in alone.description
    assert "Only the fields given change." in alone.description


def _listed(served: ToolCatalog, grant: Grant) -> dict[str, Any]:
    page = msgspec.json.decode(served.list_page(grant, None, modern=False))
    return {t["name"]: t for t in page["tools"]}


def test_a_required_id_named_after_a_listed_list_tool_leans_on_the_instructions(
    served: ToolCatalog,
) -> None:
    """``incident_id`` of an incident tool says nothing when list_all_better_stack_incidents is
    listed (the instructions state the rule once); ids from elsewhere keep their hints."""
    listed = _listed(served, GRANTS["demo"])
    acknowledge = listed["better_stack_incidents_acknowledge"]["inputSchema"]["properties"]
    assert "description" not in acknowledge["incident_id"]
    comment = listed["update_a_better_stack_incident_comment_by_id"]["inputSchema"]["properties"]
    assert comment["comment_id"]["description"] == "From list_all_better_stack_incident_comments."
    escalate = listed["better_stack_incidents_escalate"]["inputSchema"]["properties"]
    assert escalate["schedule_id"]["description"] == "From list_all_better_stack_on_call_schedules."
    assert ID_RULE in served_instructions(served, GRANTS["demo"])


def test_an_id_whose_list_tool_is_missing_loses_only_words_that_repeat_its_name(
    served: ToolCatalog,
) -> None:
    """Without the list tools, "A monitor id." (which ``monitor_id`` says already) goes, while
    "An escalation policy id." (which ``policy_id`` does not say) stays."""
    listed = _listed(served, GRANTS["demo"])
    incidents = listed["list_all_better_stack_incidents"]["inputSchema"]["properties"]
    assert "list_all_better_stack_monitors" not in listed
    assert "description" not in incidents["monitor_id"]
    escalate = listed["better_stack_incidents_escalate"]["inputSchema"]["properties"]
    assert escalate["policy_id"]["description"] == "An escalation policy id."


def served_instructions(served: ToolCatalog, grant: Grant) -> str:
    """The server instructions ``grant`` gets."""
    return Prompts(served).instructions(grant)
