"""Deterministic demo data, with times relative to the moment it is loaded.

Ids are sequential per resource in the order below, so they are stable: e.g. monitor 1 is
"Checkout API", on-call calendar 1 is the default calendar, 2 "Core Infrastructure", 3 "Payments".
Incidents come from :mod:`stackmcp.sandbox.seed_incidents`.

Credentials Better Stack stores are seeded where the API returns them, every value containing
:data:`SECRET_MARK` so a test can scan any answer for leaks: monitor 1's ``Authorization``
request header, monitor 3's basic auth password, monitor 9's Playwright environment variables,
every heartbeat's and incoming webhook's URL token, the ``incident_token`` of policies 1 and 2,
outgoing webhook 1's template auth password and header, and status page 2's (write-only,
never returned) password.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from stackmcp.sandbox import clock
from stackmcp.sandbox.config import TEAM_NAME
from stackmcp.sandbox.fields import Field, defaults
from stackmcp.sandbox.metadata import set_metadata
from stackmcp.sandbox.oncall import Rotation, add_event, apply_rotation
from stackmcp.sandbox.schemas import HEARTBEAT_FIELDS, MONITOR_FIELDS, POLICY_FIELDS
from stackmcp.sandbox.secrets import SECRET_MARK, incoming_webhook_url, ping_url
from stackmcp.sandbox.seed_incidents import seed_incidents
from stackmcp.sandbox.seed_pages import seed_status_pages
from stackmcp.sandbox.state import SandboxState
from stackmcp.sandbox.store import Row

__all__ = ["SECRET_MARK", "load_seed"]

HOUR, DAY = dt.timedelta(hours=1), dt.timedelta(days=1)
PEOPLE = (
    ("alice@example.com", "Alice", "Anderson", "admin"),
    ("bob@example.com", "Bob", "Brown", "team_lead"),
    ("carol@example.com", "Carol", "Chen", "responder"),
    ("dave@example.com", "Dave", "Diaz", "member"),
)
ROLES = (
    ("Admin", "admin"),
    ("Team lead", "team_lead"),
    ("Responder", "responder"),
    ("Member", "member"),
    ("Billing admin", "billing_admin"),
)
PLAYWRIGHT_SCRIPT = """\
const { test, expect } = require('@playwright/test');
test('checkout', async ({ page }) => {
  await page.goto('https://shop.example.com/login');
  await page.fill('#email', process.env.SHOP_USER);
  await page.fill('#password', process.env.SHOP_PASSWORD);
  await page.click('text=Sign in');
  await expect(page.locator('#cart')).toBeVisible();
});
"""
# name, url, type, status, group, extra attributes
MONITORS: tuple[tuple[str, str, str, str, int | None, dict[str, Any]], ...] = (
    (
        "Checkout API",
        "https://api.example.com/checkout/health",
        "status",
        "down",
        1,
        {
            "policy_id": "1",
            "request_headers": [
                {"id": 1, "name": "X-Sandbox", "value": "1"},
                {"id": 2, "name": "Authorization", "value": f"Bearer {SECRET_MARK}checkout-bearer"},
            ],
        },
    ),
    (
        "Payments API",
        "https://api.example.com/payments/health",
        "expected_status_code",
        "up",
        1,
        {"expected_status_codes": [200, 204]},
    ),
    (
        "Auth Service",
        "https://auth.example.com/healthz",
        "status",
        "up",
        1,
        {"auth_username": "probe", "auth_password": f"{SECRET_MARK}basic-auth-password"},
    ),
    (
        "Marketing Site",
        "https://www.example.com",
        "keyword",
        "up",
        2,
        {"required_keyword": "Welcome"},
    ),
    ("Legacy Admin", "https://legacy.example.com/admin", "status", "paused", 2, {}),
    (
        "Search API",
        "https://search.example.com/health",
        "status",
        "maintenance",
        1,
        {
            "maintenance_from": "01:00:00",
            "maintenance_to": "03:00:00",
            "maintenance_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        },
    ),
    ("Edge Ping", "203.0.113.10", "ping", "pending", None, {"check_frequency": 60}),
    ("Webhooks Receiver", "https://hooks.example.com/health", "status", "validating", 1, {}),
    (
        "Checkout journey",
        "https://shop.example.com",
        "playwright",
        "up",
        1,
        {
            "scenario_name": "Checkout journey",
            "playwright_script": PLAYWRIGHT_SCRIPT,
            "environment_variables": {
                "SHOP_USER": "synthetic-buyer@example.com",
                "SHOP_PASSWORD": f"{SECRET_MARK}playwright-password",
            },
        },
    ),
)


def _stamped(now: dt.datetime, age: dt.timedelta, **values: Any) -> Row:
    return {
        **values,
        "team_name": TEAM_NAME,
        "created_at": clock.iso(now - age),
        "updated_at": clock.iso(now - age),
    }


def _from_fields(
    fields: dict[str, Field], now: dt.datetime, age: dt.timedelta, **values: Any
) -> Row:
    return _stamped(now, age, **{**defaults(fields), **values})


def _team(state: SandboxState, now: dt.datetime) -> None:
    for email, first, last, role in PEOPLE:
        state.store["team_members"].insert(
            _stamped(
                now,
                400 * DAY,
                email=email,
                first_name=first,
                last_name=last,
                role=role,
                mobile_app_platforms=["ios"] if role == "admin" else [],
                phone_numbers=[],
            )
        )
    invite = {
        "email": "erin@example.com",
        "role": "responder",
        "team_name": TEAM_NAME,
        "invited_at": clock.iso(now - 2 * DAY),
    }
    state.store["team_invitations"].insert(invite)
    for name, role in ROLES:
        state.store["roles"].insert({"name": name, "role": role})


def _monitoring(state: SandboxState, now: dt.datetime) -> None:
    for name in ("Production APIs", "Marketing"):
        state.store["monitor_groups"].insert(
            _stamped(now, 300 * DAY, name=name, sort_index=None, paused=False)
        )
    for index, (name, url, kind, status, group, extra) in enumerate(MONITORS):
        row = _from_fields(
            MONITOR_FIELDS,
            now,
            (200 - index) * DAY,
            url=url,
            pronounceable_name=name,
            monitor_type=kind,
            monitor_group_id=group,
            status=status,
            paused=status == "paused",
            paused_at=clock.iso(now - 10 * DAY) if status == "paused" else None,
            last_checked_at=None
            if status in ("paused", "pending")
            else clock.iso(now - dt.timedelta(seconds=20)),
            **extra,
        )
        row["_headers"] = row["request_headers"]
        state.store["monitors"].insert(row)
    state.store["heartbeat_groups"].insert(
        _stamped(now, 250 * DAY, name="Batch jobs", sort_index=None, paused=False)
    )
    beats = (
        ("Nightly backup", "up", 1, 86400),
        ("Billing cron", "down", 1, 3600),
        ("Old report job", "paused", None, 3600),
    )
    for name, status, group, period in beats:
        row = _from_fields(
            HEARTBEAT_FIELDS,
            now,
            150 * DAY,
            name=name,
            period=period,
            grace=period // 5,
            status=status,
            heartbeat_group_id=group,
            paused=status == "paused",
            paused_at=clock.iso(now - 30 * DAY) if status == "paused" else None,
        )
        state.store["heartbeats"].insert(row)
        row["url"] = ping_url(row["id"])


def _steps() -> list[dict[str, Any]]:
    return [
        {
            "type": "escalation",
            "wait_before": 0,
            "urgency_id": 1,
            "step_members": [{"type": "current_on_call"}],
        },
        {
            "type": "escalation",
            "wait_before": 300,
            "urgency_id": 1,
            "step_members": [{"type": "user", "id": 2, "email": "bob@example.com"}],
        },
        {
            "type": "time_branching",
            "wait_before": 0,
            "timezone": "UTC",
            "days": ["sat", "sun"],
            "time_from": "00:00",
            "time_to": "23:59",
            "policy_id": 3,
        },
        {
            "type": "escalation",
            "wait_before": 900,
            "urgency_id": 3,
            "step_members": [{"type": "entire_team"}],
        },
        {
            "type": "instructions",
            "wait_before": 0,
            "instructions_comment": "Page the incident commander.",
            "instructions_reminder_enabled": True,
            "instructions_reminder_interval_hours": 1,
            "step_members": [],
        },
    ]


def _policies(state: SandboxState, now: dt.datetime) -> None:
    state.store["urgency_groups"].insert(
        _stamped(now, 100 * DAY, name="Default severities", sort_index=0)
    )
    for name, call, sms in (("High", True, True), ("Low", False, False), ("Critical", True, True)):
        state.store["urgencies"].insert(
            _stamped(
                now,
                100 * DAY,
                name=name,
                call=call,
                sms=sms,
                email=True,
                push=True,
                critical_alert=name == "Critical",
                urgency_group_id=1,
            )
        )
    state.store["policy_groups"].insert(_stamped(now, 90 * DAY, name="Core policies", sort_index=0))
    policies: tuple[tuple[str, int | None, list[dict[str, Any]]], ...] = (
        ("Default escalation", 1, _steps()),
        (
            "Payments escalation",
            1,
            [
                {
                    "type": "escalation",
                    "wait_before": 0,
                    "urgency_id": 1,
                    "step_members": [
                        {"type": "current_on_call"},
                        {"type": "user", "id": 3, "email": "carol@example.com"},
                    ],
                }
            ],
        ),
        ("Weekend silent", None, []),
    )
    for index, (name, group, steps) in enumerate(policies, start=1):
        state.store["policies"].insert(
            _from_fields(
                POLICY_FIELDS,
                now,
                90 * DAY,
                name=name,
                repeat_count=2,
                repeat_delay=600,
                incident_token=f"{SECRET_MARK}incident-token-{index}" if group else None,
                policy_group_id=group,
                steps=steps,
            )
        )


def _on_call(state: SandboxState, now: dt.datetime) -> None:
    for name, is_default in ((None, True), ("Core Infrastructure", False), ("Payments", False)):
        state.store["on_calls"].insert(
            {"name": name, "default_calendar": is_default, "team_name": TEAM_NAME}
        )
    default, core, payments = (state.store["on_calls"].rows[i] for i in (1, 2, 3))
    today = clock.start_of_day(now)
    add_event(state, default, ["alice@example.com"], now - 12 * HOUR, now + 12 * HOUR)
    add_event(state, default, ["bob@example.com"], now + 12 * HOUR, now + 36 * HOUR)
    users = ["bob@example.com", "carol@example.com", "dave@example.com"]
    apply_rotation(state, core, Rotation(users, 1, "week", today - 7 * DAY, today + 28 * DAY))
    add_event(
        state,
        core,
        ["dave@example.com"],
        today + 2 * DAY + 9 * HOUR,
        today + 2 * DAY + 17 * HOUR,
        override=True,
    )
    add_event(
        state, payments, ["carol@example.com", "dave@example.com"], now - 2 * HOUR, now + 6 * HOUR
    )
    add_event(state, payments, ["bob@example.com"], now + 6 * HOUR, now + 30 * HOUR)


def _integrations(state: SandboxState, now: dt.datetime) -> None:
    state.store["outgoing_webhooks"].insert(
        _stamped(
            now,
            60 * DAY,
            name="Incident feed",
            url="https://hooks.example.com/betterstack",
            trigger_type="incident_change",
            on_incident_started=True,
            on_incident_acknowledged=True,
            on_incident_resolved=True,
            on_incident_reopened=True,
            on_incident_comment=False,
            notify_alongside_primary_responder=False,
            custom_webhook_template_attributes={
                "http_method": "post",
                "auth_username": "betterstack",
                "auth_password": f"{SECRET_MARK}webhook-password",
                "headers_template": [
                    {"name": "X-Feed-Token", "value": f"{SECRET_MARK}webhook-header"},
                ],
                "body_template": '{"incident": "$INCIDENT_NAME", "status": "$STATUS"}',
            },
        )
    )
    state.store["incoming_webhooks"].insert(
        _stamped(
            now,
            60 * DAY,
            name="Alertmanager bridge",
            policy_id="1",
            call=False,
            sms=False,
            email=True,
            push=True,
            critical_alert=False,
            team_wait=None,
            recovery_period=0,
            paused=False,
            started_rule_type="any",
            started_rules=[],
            title_field=None,
            cause_field=None,
            url=incoming_webhook_url(1),
        )
    )
    state.store["slack_integrations"].insert(
        _stamped(
            now,
            60 * DAY,
            slack_team_name="Stackmcp",
            slack_channel_name="#incidents",
            slack_status="active",
        )
    )


def load_seed(state: SandboxState) -> None:
    """Fill an empty store with the demo data set."""
    now = state.now()
    _team(state, now)
    _monitoring(state, now)
    _policies(state, now)
    seed_incidents(state, now)
    _on_call(state, now)
    seed_status_pages(state, now)
    _integrations(state, now)
    set_metadata(state, "Monitor", 1, "Owner", [{"type": "String", "value": "checkout-team"}])
    set_metadata(
        state,
        "Monitor",
        1,
        "Runbook",
        [{"type": "String", "value": "https://runbooks.example.com/checkout"}],
    )
    set_metadata(state, "Heartbeat", 2, "Owner", [{"type": "User", "email": "bob@example.com"}])
