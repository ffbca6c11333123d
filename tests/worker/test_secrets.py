"""Credential fields read "[redacted]" in tool results unless the server reveals secrets."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from stackmcp.betterstack_worker.catalog import default_catalog
from stackmcp.betterstack_worker.normalise import RESULT_KINDS, result_kind
from stackmcp.betterstack_worker.secrets import SECRET_FIELDS, Redactor, redactor_for
from stackmcp.contracts.tools import REDACTED, ToolCallRequest, ToolCallResult
from stackmcp.runtime.natsx import request
from stackmcp.sandbox.secrets import SECRET_MARK, incoming_webhook_url, ping_url
from tests.support.worker import ALL_METHODS, WorkerHarness

CATALOG = default_catalog()
VERSION = re.compile(r"^/api/v\d+")
MARK = SECRET_MARK.encode()
RETURNED_SECRETS = (
    f"Bearer {SECRET_MARK}checkout-bearer",
    f"{SECRET_MARK}basic-auth-password",
    f"{SECRET_MARK}playwright-password",
    f"{SECRET_MARK}incident-token-1",
    f"{SECRET_MARK}incident-token-2",
    f"{SECRET_MARK}webhook-password",
    f"{SECRET_MARK}webhook-header",
    *(ping_url(heartbeat) for heartbeat in (1, 2, 3)),
    incoming_webhook_url(1),
)
"""Every credential the sandbox seeds where Better Stack returns it."""
WRITE_ONLY_SECRET = f"{SECRET_MARK}status-page-password"
"""Status page 2's password: write-only upstream, so never in any answer."""
EXTRA_READS = (
    ("get_single_better_stack_incident_by_id", {"incident_id": "7"}),  # monitor 1 (header)
    ("get_single_better_stack_incident_by_id", {"incident_id": "1"}),  # monitor 3 (password)
    ("get_single_better_stack_incident_by_id", {"incident_id": "4"}),  # heartbeat 2 (URL)
    ("get_single_better_stack_monitor_by_id", {"monitor_id": "9"}),  # Playwright variables
    ("get_single_better_stack_escalation_policy_by_id", {"policy_id": "2"}),
)


def test_monitor_credentials_are_redacted_and_names_kept() -> None:
    """Password, header values and variable values go; header and variable names stay."""
    monitor = {
        "id": "1",
        "auth_username": "probe",
        "auth_password": "pw",
        "request_headers": [{"id": 1, "name": "Authorization", "value": "Bearer t"}],
        "environment_variables": {"USER": "u", "PASSWORD": "p"},
        "request_body": "{}",
    }
    before = copy.deepcopy(monitor)
    redacted = Redactor(SECRET_FIELDS["monitors"]).item(monitor)
    assert redacted == {
        "id": "1",
        "auth_username": "probe",
        "auth_password": REDACTED,
        "request_headers": [{"id": 1, "name": "Authorization", "value": REDACTED}],
        "environment_variables": {"USER": REDACTED, "PASSWORD": REDACTED},
        "request_body": "{}",
    }
    assert monitor == before


def test_unset_values_stay_unset_and_odd_shapes_pass() -> None:
    """Empty and null values show that nothing is set; unexpected shapes are left alone."""
    redactor = Redactor(SECRET_FIELDS["monitors"])
    assert redactor.item({"auth_password": "", "request_headers": []}) == {
        "auth_password": "",
        "request_headers": [],
    }
    assert redactor.item({"auth_password": None, "environment_variables": "x"}) == {
        "auth_password": None,
        "environment_variables": "x",
    }
    assert redactor.result(None) is None
    assert redactor.result([{"auth_password": "a"}, "b"]) == [{"auth_password": REDACTED}, "b"]


def test_embedded_monitor_and_heartbeat_of_an_incident_are_redacted() -> None:
    incident = {
        "name": "Checkout API is down",
        "monitor": {"id": "1", "type": "monitor", "auth_password": "pw"},
        "heartbeat": {"id": "2", "type": "heartbeat", "url": "https://x/heartbeat/t"},
    }
    redacted = Redactor(SECRET_FIELDS["incidents"]).item(incident)
    assert redacted["monitor"]["auth_password"] == REDACTED
    assert redacted["heartbeat"]["url"] == REDACTED
    assert redacted["name"] == "Checkout API is down"


def test_redaction_is_decided_per_operation() -> None:
    """Only operations whose answers can hold a credential get a redactor."""
    with_secrets = {name for name, op in CATALOG.operations.items() if redactor_for(op)}
    assert {
        "list_all_better_stack_monitors",
        "update_a_better_stack_monitor_by_id",
        "better_stack_monitor_groups_list_monitors",
        "get_single_better_stack_incident_by_id",
        "better_stack_incidents_acknowledge",
        "list_all_better_stack_heartbeats",
        "list_all_better_stack_escalation_policies",
        "list_all_better_stack_incoming_webhooks",
        "create_a_better_stack_outgoing_webhook",
    } <= with_secrets
    assert (
        not {
            "list_all_better_stack_incident_comments",
            "list_all_better_stack_incident_timeline",
            "better_stack_monitors_availability",
            "list_all_better_stack_monitor_groups",
            "list_all_better_stack_status_page_sections",
            "delete_a_better_stack_monitor_by_id",
        }
        & with_secrets
    )


def test_result_kind_skips_actions_and_names_the_listed_items() -> None:
    assert result_kind("/api/v3/incidents/{incident_id}/acknowledge") == "incidents"
    assert result_kind("/api/v2/monitor-groups/{monitor_group_id}/monitors") == "monitors"
    assert result_kind("/api/v2/monitors/{monitor_id}/sla") == "sla"
    assert result_kind("/api/v2/team-members/{member_id}/change-role/{role_id}") == "team-members"
    assert result_kind("/api/v2/unknown") is None


def test_every_operation_has_a_known_result_kind() -> None:
    """A new endpoint must be classified (credentials and free text are looked up by kind)."""
    for name, op in CATALOG.operations.items():
        assert result_kind(op.path) in RESULT_KINDS, name
    assert set(SECRET_FIELDS) <= RESULT_KINDS


async def call(
    worker: WorkerHarness, tool: str, arguments: dict[str, Any], *, reveal: bool = False
) -> ToolCallResult:
    """Call ``tool`` through NATS, revealing secrets or not."""
    message = ToolCallRequest(
        server_id=worker.server_id,
        account_id=worker.account_id,
        tool=tool,
        arguments=arguments,
        methods=ALL_METHODS,
        timeout=10.0,
        reveal_secrets=reveal,
    )
    result = await request(
        worker.nc, worker.subjects.tool_call, message, ToolCallResult, timeout=11
    )
    assert not result.is_error, f"{tool}({arguments}): {result.text}"
    return result


async def _path_ids(worker: WorkerHarness, tool: str, known: dict[str, str]) -> dict[str, str]:
    """The tool's path ids, each taken from the first item its parent list returns."""
    op = CATALOG.operations[tool]
    args: dict[str, str] = {}
    for param in (p for p in op.params if p.location == "path"):
        if param.name not in known:
            wanted = VERSION.sub("", op.path[: op.path.index("{" + param.name + "}")].rstrip("/"))
            lister = next(
                name
                for name, other in CATALOG.operations.items()
                if other.method == "list" and VERSION.sub("", other.path) == wanted
            )
            listed = (await call(worker, lister, dict(args))).structured_value()["result"]
            known[param.name] = str(listed[0]["id"])
        args[param.name] = known[param.name]
    return args


async def _read_everything(worker: WorkerHarness, *, reveal: bool) -> list[bytes]:
    """The result bytes of every read tool (ids looked up), plus reads of seeded secrets."""
    known = {"schedule_id": "2"}
    calls: list[tuple[str, dict[str, Any]]] = []
    for tool in (t for t in CATALOG.tools if t.method_class == "read"):
        args: dict[str, Any] = await _path_ids(worker, tool.name, known)
        if tool.name == "better_stack_team_members_find_by_email":
            args["email"] = "alice@example.com"
        calls.append((tool.name, args))
    results = [await call(worker, name, args, reveal=reveal) for name, args in calls]
    results += [await call(worker, name, args, reveal=reveal) for name, args in EXTRA_READS]
    return [bytes(result.structured) + result.text.encode() for result in results]


@pytest.mark.integration
async def test_no_read_tool_returns_a_seeded_credential(worker: WorkerHarness) -> None:
    """By default no result holds a seeded credential; revealing returns every one of them."""
    hidden = await _read_everything(worker, reveal=False)
    assert [blob for blob in hidden if MARK in blob] == []
    assert any(b'"auth_password":"[redacted]"' in blob for blob in hidden)
    assert any(b'"name":"Authorization","value":"[redacted]"' in blob for blob in hidden)

    revealed = b"\n".join(await _read_everything(worker, reveal=True))
    missing = [secret for secret in RETURNED_SECRETS if secret.encode() not in revealed]
    assert missing == []
    assert WRITE_ONLY_SECRET.encode() not in revealed


@pytest.mark.integration
async def test_writes_still_take_credentials(worker: WorkerHarness) -> None:
    """A monitor's password and headers can be set; the answer redacts, a revealing read shows."""
    password = f"{SECRET_MARK}rotated-password"
    header = {"name": "Authorization", "value": f"Bearer {SECRET_MARK}rotated"}
    arguments = {"monitor_id": "3", "auth_password": password, "request_headers": [header]}
    updated = (await call(worker, "update_a_better_stack_monitor_by_id", arguments)).structured
    assert MARK not in bytes(updated)
    read = await call(
        worker, "get_single_better_stack_monitor_by_id", {"monitor_id": "3"}, reveal=True
    )
    monitor = read.structured_value()["result"]
    assert monitor["auth_password"] == password
    assert header["value"] in [h["value"] for h in monitor["request_headers"]]

    template = {"auth_password": f"{SECRET_MARK}new-hook", "headers_template": [header]}
    created = await call(
        worker,
        "create_a_better_stack_outgoing_webhook",
        {
            "url": "https://hooks.example.com/new",
            "trigger_type": "incident_change",
            "custom_webhook_template_attributes": template,
        },
    )
    attributes = created.structured_value()["result"]["custom_webhook_template_attributes"]
    assert attributes["auth_password"] == REDACTED
    assert attributes["headers_template"] == [{"name": "Authorization", "value": REDACTED}]
