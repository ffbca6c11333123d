"""The worker-side on-call computations on their own: escalation progress, severity,
collapse, targets of the next step and who an escalation notified."""

from __future__ import annotations

import datetime as dt

from stackmcp.betterstack_worker.execution import oncall

T0 = dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.UTC)  # a Wednesday
SEVERITIES = {"1": "High", "3": "Critical"}
POLICY = {
    "id": "1",
    "name": "Default",
    "steps": [
        {"type": "escalation", "wait_before": 0, "urgency_id": 1,
         "step_members": [{"type": "current_on_call"}]},
        {"type": "escalation", "wait_before": 300, "urgency_id": 1,
         "step_members": [{"type": "user", "id": 2, "email": "bob@example.com"}]},
        {"type": "time_branching", "wait_before": 0, "timezone": "UTC", "days": ["sat", "sun"],
         "time_from": "00:00", "time_to": "23:59", "policy_id": 3},
        {"type": "escalation", "wait_before": 900, "urgency_id": 3,
         "step_members": [{"type": "entire_team"}, {"type": "slack_integration"}]},
    ],
}  # fmt: skip


def incident(**extra: object) -> dict[str, object]:
    return {"id": "9", "started_at": "2026-12-02T10:00:00.000Z", **extra}


def test_steps_are_reached_by_cumulative_wait_until_acknowledged() -> None:
    view = oncall.progress(incident(), POLICY, SEVERITIES, T0 + dt.timedelta(minutes=6))
    assert view is not None
    assert view["current_step"] == 3  # the branch step at +5 min did not match a Wednesday
    assert [p["who"] for p in view["paged"]] == [["current on-call"], ["bob@example.com"]]
    assert view["next_step"] == {
        "step": 4, "due_at": "2026-12-02T10:20:00Z",
        "who": ["entire team", "slack_integration"], "severity": "Critical",
    }  # fmt: skip
    acked = incident(acknowledged_at="2026-12-02T10:01:00Z")
    stopped = oncall.progress(acked, POLICY, SEVERITIES, T0 + dt.timedelta(hours=1), ["a@x.io"])
    assert stopped is not None
    assert stopped["current_step"] == 1
    assert stopped["paged"][0]["who"] == ["on call: a@x.io"]
    assert "due_at" not in stopped["next_step"]
    assert stopped["stopped"] == "acknowledged at 2026-12-02T10:01:00Z"
    assert oncall.severity_of(stopped) == "High"


def test_a_matching_time_branch_hands_over_to_another_policy() -> None:
    saturday = "2026-12-05T10:00:00Z"
    view = oncall.progress(
        incident(started_at=saturday), POLICY, SEVERITIES, T0 + dt.timedelta(days=4)
    )
    assert view is not None
    assert view["branched_to"] == "policy 3"
    assert view["next_step"] is None


def test_no_policy_no_progress() -> None:
    assert oncall.progress(incident(), None, SEVERITIES, T0) is None


def test_incident_lists_get_severity_and_step() -> None:
    items = [incident(escalation_policy_id=1), incident(id="4")]
    shaped = oncall.with_severity(
        items, [POLICY], [{"id": "1", "name": "High"}], T0 + dt.timedelta(minutes=1)
    )
    assert shaped[0]["severity"] == "High"
    assert shaped[0]["escalation_step"] == "1/4"
    assert "severity" not in shaped[1]


def test_next_step_targets_and_what_the_api_cannot_page() -> None:
    targets, skipped = oncall.escalation_targets(POLICY["steps"][3], "1", "Ops")
    assert targets == [{"escalation_type": "Team", "team_name": "Ops"}]
    assert skipped == ["slack_integration"]
    targets, _ = oncall.escalation_targets(POLICY["steps"][0], "5", None)
    assert targets == [{"escalation_type": "Schedule", "schedule_id": 5}]


def test_collapse_merges_identical_events_and_keeps_comments() -> None:
    def item(n: int, kind: str, title: str) -> dict[str, object]:
        return {"id": str(n), "item_type": kind, "at": f"2026-12-02T10:{n:02d}:00Z",
                "data": {"title": title}}  # fmt: skip

    items = [item(1, "generic", "Started")]
    for n in range(2, 12, 2):
        items += [item(n, "generic", "Down"), item(n + 1, "generic", "Up")]
    items += [item(20, "comment", "x"), item(21, "comment", "x")]
    merged = oncall.collapse(items)
    assert [(e.get("title"), e.get("count")) for e in merged] == [
        ("Started", None), ("Down", 5), ("Up", 5), ("x", None), ("x", None),
    ]  # fmt: skip
    assert merged[1]["first"] == "2026-12-02T10:02:00Z"
    assert merged[1]["last"] == "2026-12-02T10:10:00Z"
    newest = oncall.filter_timeline(items, {"collapse": True, "newest_first": True})
    assert newest[0]["item_type"] == "comment"


def test_notified_is_composed_from_the_target() -> None:
    schedule = {"id": "3", "on_call_users": [{"email": "c@x.io"}, {"email": "d@x.io"}]}
    assert oncall.notified_by({"escalation_type": "Schedule", "schedule_id": 3}, schedule) == [
        "on call on schedule 3: c@x.io, d@x.io"
    ]
    assert oncall.notified_by({"escalation_type": "User", "user_email": "b@x.io"}) == ["b@x.io"]
    assert oncall.notified_by({"escalation_type": "Organization"}) == [
        "everyone in the organization"
    ]
    policy = oncall.notified_by({"escalation_type": "Policy", "policy_id": 1}, policy=POLICY)
    assert policy == ["policy 1, step 1: current on-call"]


def test_monitor_status_filter_and_compact_form() -> None:
    monitors = [
        {"id": "1", "status": "down", "url": "u", "request_headers": [{"value": "[redacted]"}]},
        {"id": "2", "status": "up", "url": "v", "request_body": "{}"},
    ]
    down = oncall.shape_items("monitors", monitors, {"status": "down", "compact": True})
    assert down == [{"id": "1", "status": "down", "url": "u"}]
