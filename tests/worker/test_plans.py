"""Plan mode: the exact upstream request and its effect in words, with nothing changed."""

from __future__ import annotations

from typing import Any

import pytest

from stackmcp.contracts.tools import Provenance, ToolCallResult
from tests.support.sandbox import RunningSandbox
from tests.support.worker import WorkerHarness
from tests.worker.grant_calls import call, ok, requests_seen, writes_seen

pytestmark = pytest.mark.integration


async def plan(worker: WorkerHarness, tool: str, arguments: dict[str, Any], **fields: Any) -> Any:
    """The plan of ``tool`` (asserting the result carries it and its JSON says the same)."""
    result: ToolCallResult = await call(worker, tool, arguments, plan_only=True, **fields)
    structured = ok(result)
    assert result.plan is not None
    assert structured["effect"] == result.plan.effect
    assert structured["path"] == result.plan.path
    return result.plan


async def test_resolve_plan_names_the_incident_and_sends_no_write(
    worker: WorkerHarness, sandbox_api: RunningSandbox
) -> None:
    """The plan shows the request and names incident 7; only its GET reached the sandbox."""
    planned = await plan(
        worker, "better_stack_incidents_resolve", {"incident_id": "7", "resolved_by": "sre@x.io"}
    )
    assert (planned.method, planned.path) == ("POST", "/api/v3/incidents/7/resolve")
    assert planned.body == {"resolved_by": "sre@x.io"}
    assert planned.effect == 'Resolves incident 7 "Checkout API is down".'
    assert planned.notifies is None
    assert writes_seen(sandbox_api) == []
    assert [r["path"] for r in requests_seen(sandbox_api)] == ["/api/v3/incidents/7"]
    incident = ok(await worker.call("get_single_better_stack_incident_by_id", {"incident_id": "7"}))
    assert incident["result"]["status"] == "Started"


async def test_plan_validates_like_a_real_call(
    worker: WorkerHarness, sandbox_api: RunningSandbox
) -> None:
    """Bad arguments are the same field-level tool error in plan mode; nothing is sent."""
    result = await call(
        worker, "better_stack_incidents_escalate", {"incident_id": "7"}, plan_only=True
    )
    assert result.is_error
    assert result.plan is None
    assert "escalation_type" in result.text
    assert requests_seen(sandbox_api) == []


async def test_plan_falls_back_to_the_id_when_the_lookup_fails(
    worker: WorkerHarness, sandbox_api: RunningSandbox
) -> None:
    """An unknown incident is planned by id alone (the real call would then fail upstream)."""
    planned = await plan(worker, "delete_a_better_stack_incident_by_id", {"incident_id": "999"})
    assert (planned.method, planned.path) == ("DELETE", "/api/v3/incidents/999")
    assert planned.effect == "Deletes incident 999 and its timeline permanently."
    assert writes_seen(sandbox_api) == []


async def test_escalation_plan_says_who_is_paged(
    worker: WorkerHarness, sandbox_api: RunningSandbox
) -> None:
    """Escalating to a schedule names it and who is on call; to a user, the person."""
    to_schedule = await plan(
        worker,
        "better_stack_incidents_escalate",
        {"incident_id": "7", "escalation_type": "Schedule", "schedule_id": 3, "sms": True},
    )
    assert to_schedule.body == {"escalation_type": "Schedule", "schedule_id": 3, "sms": True}
    assert to_schedule.effect == (
        'Escalates incident 7 "Checkout API is down" to on-call schedule 3 "Payments".'
    )
    assert to_schedule.notifies is not None
    assert 'on-call schedule 3 "Payments" is paged by SMS' in to_schedule.notifies
    assert "carol@example.com, dave@example.com" in to_schedule.notifies

    to_user = await plan(
        worker,
        "better_stack_incidents_escalate",
        {"incident_id": "7", "escalation_type": "User", "user_email": "bob@example.com"},
    )
    assert to_user.effect.endswith("to user Bob Brown (bob@example.com).")
    assert to_user.notifies == "User Bob Brown (bob@example.com) is paged."

    to_policy = await plan(
        worker,
        "better_stack_incidents_escalate",
        {"incident_id": "7", "escalation_type": "Policy", "policy_id": 1},
    )
    assert to_policy.notifies == (
        'Escalation policy 1 "Default escalation" runs: its responders are paged in turn.'
    )
    assert writes_seen(sandbox_api) == []


async def test_notifying_creates_say_who_is_told(
    worker: WorkerHarness, sandbox_api: RunningSandbox
) -> None:
    """Creating an incident pages responders, a status report e-mails subscribers (unless
    switched off) and an invitation e-mails the invitee."""
    incident = await plan(
        worker, "create_a_better_stack_incident", {"name": "DB down", "policy_id": "2"}
    )
    assert (incident.method, incident.path) == ("POST", "/api/v3/incidents")
    assert incident.effect == 'Creates incident "DB down" and alerts responders at once.'
    assert incident.notifies == (
        'Escalation policy 2 "Payments escalation" pages its responders in turn.'
    )
    report_arguments = {"status_page_id": "1", "title": "Checkout degraded", "message": "Looking"}
    report = await plan(worker, "create_a_better_stack_status_page_report", report_arguments)
    assert report.effect == (
        'Publishes the report "Checkout degraded" on status page 1 "Stackmcp Demo".'
    )
    assert report.notifies == 'The subscribers of status page 1 "Stackmcp Demo" are e-mailed.'
    quiet = await plan(
        worker,
        "create_a_better_stack_status_page_report",
        {**report_arguments, "notify_subscribers": False},
    )
    assert quiet.notifies is None
    invite = await plan(
        worker, "better_stack_team_members_invite", {"email": "erin@example.com", "role": "member"}
    )
    assert invite.effect == 'Invites "erin@example.com" to the team.'
    assert invite.notifies == '"erin@example.com" gets an invitation e-mail.'
    assert writes_seen(sandbox_api) == []


async def test_generic_effects_and_redacted_credentials(
    worker: WorkerHarness, sandbox_api: RunningSandbox
) -> None:
    """A tool without its own phrasing gets one from its method; passwords and header values
    in the body read "[redacted]"."""
    update = await plan(
        worker,
        "update_a_better_stack_monitor_by_id",
        {
            "monitor_id": "1",
            "auth_password": "hunter2",
            "request_headers": [{"name": "Authorization", "value": "Bearer abc"}],
        },
    )
    assert (update.method, update.path) == ("PATCH", "/api/v2/monitors/1")
    assert (
        update.effect == 'Updates monitor 1 "Checkout API": changes auth_password, request_headers.'
    )
    assert update.body == {
        "auth_password": "[redacted]",
        "request_headers": [{"name": "Authorization", "value": "[redacted]"}],
    }
    listed = await plan(worker, "list_all_better_stack_incidents", {"resolved": False})
    assert listed.query == {"resolved": "false", "page": "1", "per_page": "10"}
    assert listed.effect == "Lists incidents."
    assert requests_seen(sandbox_api) == [
        r for r in requests_seen(sandbox_api) if r["method"] == "GET"
    ]
    assert writes_seen(sandbox_api) == []


async def test_plan_shows_the_provenance_footer_and_note(
    worker: WorkerHarness, sandbox_api: RunningSandbox
) -> None:
    """With provenance on, the planned comment body carries the footer and an incident action
    announces its timeline note."""
    who = Provenance(server_name="SRE triage", client_name="Claude Code")
    comment = await plan(
        worker,
        "create_a_better_stack_incident_comment",
        {"incident_id": "7", "content": "Rolled back."},
        provenance=who,
    )
    assert comment.body == {"content": 'Rolled back.\n\n— via Claude Code · stackmcp "SRE triage"'}
    ack = await plan(
        worker, "better_stack_incidents_acknowledge", {"incident_id": "7"}, provenance=who
    )
    assert ack.effect.endswith(
        ' Then adds the timeline note "Acknowledged via Claude Code through stackmcp server '
        '"SRE triage"."'
    )
    assert writes_seen(sandbox_api) == []
