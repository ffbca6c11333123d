"""Demo incidents: resolved history, open ones, "Checkout API is down" and a 120-item timeline.

Insertion order fixes the ids: 1 Auth Service is down (Resolved), 2 Marketing Site keyword
missing (Resolved), 3 Payments API flapping (Acknowledged, >120 timeline items), 4 Billing cron
missed heartbeat (Started), 5 Webhooks Receiver slow (Acknowledged), 6 Customers report login
issues (Resolved, manual), 7 Checkout API is down (Started, two comments).
"""

from __future__ import annotations

import datetime as dt
import json

from stackmcp.sandbox import clock
from stackmcp.sandbox.comments import add_comment
from stackmcp.sandbox.incidents import new_incident
from stackmcp.sandbox.metadata import set_metadata
from stackmcp.sandbox.state import SandboxState
from stackmcp.sandbox.store import Row
from stackmcp.sandbox.timeline import add_item, add_transition

__all__ = ["seed_incidents"]

MINUTE = dt.timedelta(minutes=1)
FLAPS = 60


def _monitor_attrs(state: SandboxState, monitor_id: int) -> dict[str, object]:
    monitor = state.store["monitors"].rows[monitor_id]
    return {
        "_monitor_id": monitor_id,
        "url": monitor["url"],
        "http_method": "get",
        "regions": ["us", "eu"],
        "response_url": f"https://uptime.betterstack.com/team/sandbox/incidents/{monitor_id}/response",
        "escalation_policy_id": 1,
    }


def _acknowledge(state: SandboxState, row: Row, by: str, at: dt.datetime) -> None:
    row.update(acknowledged_at=clock.iso(at), acknowledged_by=by, status="Acknowledged")
    add_transition(state, row, f"Incident acknowledged by {by}", row["acknowledged_at"])


def _resolve(state: SandboxState, row: Row, by: str, at: dt.datetime) -> None:
    row.update(resolved_at=clock.iso(at), resolved_by=by, status="Resolved")
    add_transition(state, row, f"Incident resolved by {by}", row["resolved_at"])


def _flapping(state: SandboxState, row: Row, start: dt.datetime) -> None:
    """Append ``2 * FLAPS`` items: a page response and a generic down/up note per flap."""
    for flap in range(FLAPS):
        at = start + (flap + 1) * 2 * MINUTE
        status = 503 if flap % 2 == 0 else 200
        content = json.dumps(
            {"status": status, "region": "eu" if flap % 3 else "us", "time": 0.2 + flap % 7 / 10}
        )
        add_item(
            state,
            row,
            "response_item",
            {"title": "Page response", "content": content},
            clock.iso(at),
        )
        note = "Payments API went down" if status == 503 else "Payments API recovered"
        add_transition(state, row, note, clock.iso(at + MINUTE))


def _member(state: SandboxState, email: str) -> Row:
    return state.store["team_members"].where(email=email)[0]


def _history(state: SandboxState, now: dt.datetime) -> None:
    """Incidents 1 and 2: resolved, days ago."""
    day = 24 * 60 * MINUTE
    first = new_incident(
        state, "Auth Service is down", "Status 503", now - 3 * day, **_monitor_attrs(state, 3)
    )
    _acknowledge(state, first, "alice@example.com", now - 3 * day + 4 * MINUTE)
    _resolve(state, first, "alice@example.com", now - 3 * day + 38 * MINUTE)
    cause = "Keyword 'Welcome' not found"
    second = new_incident(
        state, "Marketing Site keyword missing", cause, now - 2 * day, **_monitor_attrs(state, 4)
    )
    _acknowledge(state, second, "bob@example.com", now - 2 * day + 10 * MINUTE)
    _resolve(state, second, "bob@example.com", now - 2 * day + 25 * MINUTE)


def _recent(state: SandboxState, now: dt.datetime) -> None:
    """Incidents 3 to 6: flapping (long timeline), heartbeat, slow webhooks, manual."""
    start = now - 6 * 60 * MINUTE
    cause = "Status 503 (intermittent)"
    third = new_incident(state, "Payments API flapping", cause, start, **_monitor_attrs(state, 2))
    _acknowledge(state, third, "carol@example.com", start + MINUTE)
    _flapping(state, third, start)
    payments = [{"type": "String", "value": "payments"}]
    set_metadata(state, "Incident", third["id"], "Service", payments)
    cause = "Heartbeat not received"
    new_incident(state, "Billing cron missed heartbeat", cause, now - 90 * MINUTE, _heartbeat_id=2)
    fifth = new_incident(
        state,
        "Webhooks Receiver slow",
        "Timeout (30 s)",
        now - 300 * MINUTE,
        **_monitor_attrs(state, 8),
    )
    _acknowledge(state, fifth, "bob@example.com", now - 280 * MINUTE)
    sixth = new_incident(
        state, "Customers report login issues", "Reported by support", now - 20 * 60 * MINUTE,
        _started_by="dave@example.com",
    )  # fmt: skip
    _acknowledge(state, sixth, "alice@example.com", now - 19 * 60 * MINUTE)
    _resolve(state, sixth, "alice@example.com", now - 17 * 60 * MINUTE)


def _checkout(state: SandboxState, now: dt.datetime) -> None:
    """Incident 7: "Checkout API is down", started 20 minutes ago, two comments, metadata."""
    cause = "Status 502 Bad Gateway"
    row = new_incident(
        state, "Checkout API is down", cause, now - 20 * MINUTE, **_monitor_attrs(state, 1)
    )
    row["response_content"] = '{"error":"upstream connect error"}'
    comments = (
        ("alice@example.com", "Looking into it - checkout pods are crash-looping.", 15),
        ("bob@example.com", "Rolled back deploy 2026.11.25-3; watching error rates.", 8),
    )
    for email, text, minutes_ago in comments:
        at = clock.iso(now - minutes_ago * MINUTE)
        add_comment(state, row, text, _member(state, email), at)
    for key, value in (("Environment", "production"), ("Service", "checkout")):
        set_metadata(state, "Incident", row["id"], key, [{"type": "String", "value": value}])


def seed_incidents(state: SandboxState, now: dt.datetime) -> None:
    """Insert the demo incidents with their timelines, comments and metadata."""
    _history(state, now)
    _recent(state, now)
    _checkout(state, now)
