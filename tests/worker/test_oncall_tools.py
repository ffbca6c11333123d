"""On-call tools that answer in one call: the incident brief, timeline filters, escalation to
the next step, severity in incident lists, monitor status filter and compact form, team
maintenance — through the worker's executor against the real sandbox."""

from __future__ import annotations

import datetime as dt
import time
import warnings
from typing import Any

import pytest

from tests.support.sandbox import RunningSandbox
from tests.support.worker import WorkerHarness
from tests.worker.grant_calls import call, requests_seen, writes_seen

pytestmark = pytest.mark.integration

BRIEF = "better_stack_incidents_brief"
TIMELINE = "list_all_better_stack_incident_timeline"
ESCALATE = "better_stack_incidents_escalate"
BRIEF_BUDGET = 1_500

with warnings.catch_warnings():
    # bpe-openai reads its tables with importlib.resources.open_binary (deprecated, harmless)
    warnings.simplefilter("ignore", DeprecationWarning)
    import bpe_openai

    ENCODING = bpe_openai.get_encoding("o200k_base")


def ok(result: Any) -> Any:
    assert not result.is_error, result.text
    return result.structured_value()


def tokens(text: str) -> int:
    return len(ENCODING.encode(text))


async def test_brief_of_the_noisy_incident_fits_its_budget(worker: WorkerHarness) -> None:
    """Incident 3 (120+ timeline items): status, severity, who acknowledged, escalation
    progress and the collapsed timeline in at most 1,500 o200k tokens."""
    result = await worker.call(BRIEF, {"incident_id": 3})
    brief = ok(result)["result"]
    full = await worker.call(TIMELINE, {"incident_id": "3", "limit": 100})
    size = tokens(result.content_text())
    print(f"\nbrief of incident 3: {size} o200k tokens ({len(result.content_text())} bytes)")
    print(f"timeline of incident 3, first 100 items: {tokens(full.content_text())} tokens")
    print(result.content_text())
    assert size <= BRIEF_BUDGET
    assert brief["status"] == "Acknowledged"
    assert brief["severity"] == "High"
    assert brief["acknowledged"]["by"] == "carol@example.com"
    assert brief["source"]["pronounceable_name"] == "Payments API"
    assert brief["metadata"] == {"Service": "payments"}
    escalation = brief["escalation"]
    assert escalation["policy"]["name"] == "Default escalation"
    assert escalation["current_step"] == 1
    assert escalation["paged"][0]["who"] == ["on call: alice@example.com"]
    assert escalation["next_step"]["who"] == ["bob@example.com"]
    assert escalation["stopped"].startswith("acknowledged at ")
    events = brief["timeline"]["events"]
    assert brief["timeline"]["items"] > 120
    counts = {e.get("title"): e.get("count", 1) for e in events}
    assert counts["Payments API went down"] == 30
    assert counts["Payments API recovered"] == 30
    assert counts["Page response"] == 60
    assert len(events) <= 6


async def test_brief_of_checkout_carries_comments_and_who_was_paged(
    worker: WorkerHarness,
) -> None:
    brief = ok(await worker.call(BRIEF, {"incident_id": "7"}))["result"]
    assert brief["name"] == "Checkout API is down"
    assert brief["status"] == "Started"
    assert [c["by"] for c in brief["comments"]] == ["alice@example.com", "bob@example.com"]
    assert "crash-looping" in brief["comments"][0]["text"]
    paged = brief["escalation"]["paged"]
    assert paged[0]["who"] == ["on call: alice@example.com"]
    assert paged[1]["who"] == ["bob@example.com"]
    assert "auth_password" not in str(brief)


async def test_brief_runs_its_reads_concurrently_and_reports_upstream_errors(
    worker: WorkerHarness, sandbox_api: RunningSandbox
) -> None:
    missing = await worker.call(BRIEF, {"incident_id": "999"})
    assert missing.is_error
    assert missing.upstream_status == 404


async def test_timeline_filters_types_window_order_and_collapse(worker: WorkerHarness) -> None:
    generic = ok(
        await worker.call(TIMELINE, {"incident_id": 3, "types": ["generic"], "limit": 100})
    )["result"]
    assert generic
    assert {i["item_type"] for i in generic} == {"generic"}
    newest = ok(await worker.call(TIMELINE, {"incident_id": 3, "newest_first": True, "limit": 5}))
    ats = [i["at"] for i in newest["result"]]
    assert ats == sorted(ats, reverse=True)
    assert newest["next_cursor"]
    latest = ok(await worker.call(TIMELINE, {"incident_id": 3, "newest_first": True}))["result"]
    since, until = latest[9]["at"], latest[2]["at"]
    window = ok(await worker.call(TIMELINE, {"incident_id": 3, "since": since, "until": until}))[
        "result"
    ]
    assert [i["id"] for i in window] == [i["id"] for i in reversed(latest[2:10])]
    collapsed = ok(await worker.call(TIMELINE, {"incident_id": 3, "collapse": True}))["result"]
    assert len(collapsed) <= 6
    down = next(e for e in collapsed if e.get("title") == "Payments API went down")
    assert down["count"] == 30
    assert down["first"] < down["last"]
    collapsed_text = (
        await worker.call(TIMELINE, {"incident_id": 3, "collapse": True})
    ).content_text()
    full_text = (await worker.call(TIMELINE, {"incident_id": 3, "limit": 100})).content_text()
    print(
        f"\ntimeline of incident 3: first 100 items {tokens(full_text)} o200k tokens "
        f"({len(full_text)} bytes); collapse=true, all items: {tokens(collapsed_text)} tokens "
        f"({len(collapsed_text)} bytes)"
    )


async def test_timeline_cursor_keeps_the_filters(worker: WorkerHarness) -> None:
    first = ok(
        await worker.call(TIMELINE, {"incident_id": 3, "types": ["response_item"], "limit": 40})
    )
    rest = ok(await worker.call(TIMELINE, {"next_cursor": first["next_cursor"], "limit": 40}))
    assert len(first["result"]) + len(rest["result"]) == 60
    assert {i["item_type"] for i in rest["result"]} == {"response_item"}


async def test_escalate_to_the_next_step_pages_its_members_and_says_who(
    worker: WorkerHarness, sandbox_api: RunningSandbox
) -> None:
    answer = ok(await worker.call(ESCALATE, {"incident_id": 3, "to": "next_step"}))
    assert answer["notified"] == ["bob@example.com"]
    assert answer["step"] == {"step": 2, "of": 5, "severity": "High"}
    assert answer["result"]["id"] == "3"
    timeline = ok(await worker.call(TIMELINE, {"incident_id": 3, "newest_first": True}))
    assert timeline["result"][0]["data"]["title"] == "Incident escalated to bob@example.com"


async def test_escalate_says_who_was_notified_for_a_schedule(worker: WorkerHarness) -> None:
    answer = ok(
        await worker.call(
            ESCALATE, {"incident_id": 7, "escalation_type": "Schedule", "schedule_id": 3}
        )
    )
    assert answer["notified"] == ["on call on schedule 3: carol@example.com, dave@example.com"]
    team = ok(
        await worker.call(
            ESCALATE, {"incident_id": 7, "escalation_type": "Policy", "policy_id": "2"}
        )
    )
    assert team["notified"] == ["policy 2, step 1: current on-call, carol@example.com"]


async def test_escalate_needs_exactly_one_target(worker: WorkerHarness) -> None:
    neither = await worker.call(ESCALATE, {"incident_id": 3})
    assert neither.is_error
    assert "next_step" in neither.text
    both = await worker.call(
        ESCALATE, {"incident_id": 3, "to": "next_step", "escalation_type": "Organization"}
    )
    assert both.is_error
    no_policy = await worker.call(ESCALATE, {"incident_id": 4, "to": "next_step"})
    assert no_policy.is_error
    assert "no escalation policy" in no_policy.text


async def test_incident_list_carries_severity(worker: WorkerHarness) -> None:
    incidents = ok(await worker.call("list_all_better_stack_incidents", {"limit": 10}))["result"]
    by_id = {i["id"]: i for i in incidents}
    assert by_id["3"]["severity"] == "High"
    assert by_id["3"]["escalation_step"] == "1/5"
    assert "severity" not in by_id["4"]


async def test_monitor_list_status_filter_and_compact_form(worker: WorkerHarness) -> None:
    full = await worker.call("list_all_better_stack_monitors", {})
    compact = await worker.call("list_all_better_stack_monitors", {"compact": True})
    down = ok(await worker.call("list_all_better_stack_monitors", {"status": "down"}))["result"]
    assert [m["pronounceable_name"] for m in down] == ["Checkout API"]
    items = ok(compact)["result"]
    assert len(items) == len(ok(full)["result"])
    assert all("request_headers" not in m and "auth_password" not in m for m in items)
    assert {"id", "pronounceable_name", "url", "status"} <= set(items[0])
    print(
        f"\nmonitor list: {len(full.content_text())} bytes, compact "
        f"{len(compact.content_text())} bytes"
    )
    assert len(compact.content_text()) * 3 < len(full.content_text())


async def test_team_maintenance_start_status_and_end(
    worker: WorkerHarness, sandbox_api: RunningSandbox
) -> None:
    started = ok(await worker.call("better_stack_team_maintenance_start", {"duration": 600}))
    assert started["result"]["maintenance"] is True
    assert started["result"]["team_name"] == "Stackmcp Demo"
    status = ok(await worker.call("better_stack_team_maintenance_status", {}))
    assert status["result"]["maintenance_to"] == started["result"]["maintenance_to"]
    both = await worker.call(
        "better_stack_team_maintenance_start", {"duration": 60, "until": "2099-01-01T00:00:00Z"}
    )
    assert both.is_error
    assert "exactly one" in both.text
    assert ok(await worker.call("better_stack_team_maintenance_end", {})) == {"result": None}
    assert not ok(await worker.call("better_stack_team_maintenance_status", {}))["result"].get(
        "maintenance"
    )
    sent = [r for r in requests_seen(sandbox_api) if r["path"] == "/api/v2/team-maintenance"]
    assert [r["method"] for r in sent] == ["PUT", "GET", "PUT", "DELETE", "GET"]


async def test_missed_heartbeats_say_when_pings_stopped(worker: WorkerHarness) -> None:
    """Better Stack reports no ping times; a heartbeat with an open incident carries
    last_ping_before (the incident's start minus period and grace)."""
    beats = ok(await worker.call("list_all_better_stack_heartbeats", {}))["result"]
    by_name = {b["name"]: b for b in beats}
    billing = by_name["Billing cron"]
    incident = ok(await worker.call("get_single_better_stack_incident_by_id", {"incident_id": 4}))
    started = dt.datetime.fromisoformat(incident["result"]["started_at"].replace("Z", "+00:00"))
    expected = started - dt.timedelta(seconds=billing["period"] + billing["grace"])
    assert billing["last_ping_before"] == expected.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert billing["open_incident_id"] == "4"
    assert "last_ping_before" not in by_name["Nightly backup"]


async def test_brief_hands_back_a_rate_limit_with_its_timing(
    worker: WorkerHarness, sandbox_api: RunningSandbox
) -> None:
    """The brief's reads meet the worker's rate-limit handling: a 429 on a read it needs is
    the call's error, with the upstream's timing, at once (nothing retries)."""
    knobs = {"rate_limit": 0.01, "rate_limit_burst": 2, "rate_limit_headers": True}
    assert sandbox_api.admin("PATCH", "knobs", knobs).status_code == 200
    limited = await worker.call(BRIEF, {"incident_id": 3})
    assert limited.is_error
    assert limited.upstream_status == 429
    assert limited.rate_limit is not None
    assert limited.rate_limit.retry_after is not None


async def test_brief_reads_run_concurrently(
    worker: WorkerHarness, sandbox_api: RunningSandbox
) -> None:
    """With 300 ms added to every upstream answer, the brief's six reads take two rounds
    (five at once, then the policy), not six."""
    assert sandbox_api.admin("PATCH", "knobs", {"latency_ms": 300}).status_code == 200
    started = time.monotonic()
    ok(await worker.call(BRIEF, {"incident_id": 3}))
    elapsed = time.monotonic() - started
    assert len([r for r in requests_seen(sandbox_api) if r["path"].startswith("/api/")]) == 6
    assert elapsed < 1.5, elapsed


async def test_next_step_plan_shows_the_resolved_request_and_sends_no_write(
    worker: WorkerHarness, sandbox_api: RunningSandbox
) -> None:
    result = await call(worker, ESCALATE, {"incident_id": "3", "to": "next_step"}, plan_only=True)
    planned = result.plan
    assert planned is not None, result.text
    assert (planned.method, planned.path) == ("POST", "/api/v3/incidents/3/escalate")
    assert planned.body == {"escalation_type": "User", "user_email": "bob@example.com"}
    assert "bob@example.com" in planned.effect
    assert writes_seen(sandbox_api) == []


async def test_next_step_with_several_members_pages_each_once(
    worker: WorkerHarness, sandbox_api: RunningSandbox
) -> None:
    """A step paging the current on-call and a user is two escalate requests, made once each
    (the write is claimed once for the whole call); the plan lists both."""
    steps = [
        {"type": "escalation", "wait_before": 0, "urgency_id": 2,
         "step_members": [{"type": "user", "email": "alice@example.com"}]},
        {"type": "escalation", "wait_before": 600, "urgency_id": 3,
         "step_members": [{"type": "current_on_call"}, {"type": "user", "email": "carol@example.com"},
                          {"type": "slack_integration"}]},
    ]  # fmt: skip
    policy = ok(
        await worker.call(
            "create_a_better_stack_escalation_policy", {"name": "Two tiers", "steps": steps}
        )
    )["result"]
    incident = ok(
        await worker.call(
            "create_a_better_stack_incident", {"summary": "Queue stuck", "policy_id": policy["id"]}
        )
    )["result"]
    arguments = {"incident_id": incident["id"], "to": "next_step"}
    planned = (await call(worker, ESCALATE, arguments, plan_only=True)).plan
    assert planned is not None
    assert planned.body == {"escalation_type": "Schedule", "schedule_id": 1}
    assert planned.effect.endswith("Then 1 more: User carol@example.com.")
    answer = ok(await worker.call(ESCALATE, arguments))
    assert answer["notified"] == [
        "on call: alice@example.com",
        "carol@example.com",
        "slack_integration",
    ]
    assert answer["step"] == {
        "step": 2, "of": 2, "severity": "Critical", "not_paged": ["slack_integration"]
    }  # fmt: skip
    sent = [r["path"] for r in requests_seen(sandbox_api) if r["path"].endswith("/escalate")]
    assert len(sent) == 2
