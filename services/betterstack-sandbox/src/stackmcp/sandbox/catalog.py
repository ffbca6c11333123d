"""The generic resources: one :class:`~stackmcp.sandbox.crud.Spec` per Better Stack resource."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stackmcp.sandbox.crud import Hooks, Listing, Parent, Spec
from stackmcp.sandbox.errors import field_error
from stackmcp.sandbox.fields import Field
from stackmcp.sandbox.monitoring import HeartbeatHooks, MonitorHooks
from stackmcp.sandbox.oncall import OnCallHooks
from stackmcp.sandbox.schemas import (
    GROUP,
    HEARTBEAT_FIELDS,
    MONITOR_FIELDS,
    NOTIFY,
    POLICY_FIELDS,
    STATUS_PAGE_FIELDS,
)
from stackmcp.sandbox.secrets import incoming_webhook_url
from stackmcp.sandbox.state import SandboxState
from stackmcp.sandbox.statuspages import (
    ReportHooks,
    ResourceHooks,
    SectionHooks,
    StatusPageHooks,
    UpdateHooks,
)
from stackmcp.sandbox.store import Row

__all__ = ["LISTINGS", "SPECS", "spec_for"]

STR, INT, BOOL, LIST, DICT, IDSTR, ANY = "str", "int", "bool", "list", "dict", "idstr", "any"
STEP_TYPES = frozenset({"escalation", "time_branching", "metadata_branching", "instructions"})


class PolicyHooks(Hooks):
    """Escalation policies: steps must have a known ``type``."""

    def prepare(
        self, state: SandboxState, row: Row, body: Mapping[str, Any], creating: bool
    ) -> None:
        """Validate the steps."""
        for step in row.get("steps") or []:
            if not isinstance(step, dict) or step.get("type") not in STEP_TYPES:
                raise field_error("steps", "type is not included in the list")
            step.setdefault("step_members", [])


class IncomingWebhookHooks(Hooks):
    """Incoming webhooks get a deterministic URL."""

    def after_create(self, state: SandboxState, row: Row, body: Mapping[str, Any]) -> None:
        """Assign the receiving URL."""
        row["url"] = incoming_webhook_url(row["id"])


def _spec(
    table: str, kind: str, path: str, id_param: str, fields: Mapping[str, Field], **extra: Any
) -> Spec:
    return Spec(table=table, kind=kind, path=path, id_param=id_param, fields=fields, **extra)


SP = "/api/v2/status-pages/{status_page_id}"
REPORT = SP + "/status-reports/{status_report_id}"
PAGE_PARENT = Parent("status_page_id", "status_pages", "status_page_id")

MONITORS = _spec(
    "monitors",
    "monitor",
    "/api/v2/monitors",
    "monitor_id",
    MONITOR_FIELDS,
    filters=("url", "pronounceable_name"),
    hidden=("paused", "_headers"),
    hooks=MonitorHooks(),
    foreign_keys={"monitor_group_id": "monitor_groups", "policy_id": "policies"},
)
HEARTBEATS = _spec(
    "heartbeats",
    "heartbeat",
    "/api/v2/heartbeats",
    "heartbeat_id",
    HEARTBEAT_FIELDS,
    required=("name", "period", "grace"),
    hidden=("paused",),
    hooks=HeartbeatHooks(),
    foreign_keys={"heartbeat_group_id": "heartbeat_groups", "policy_id": "policies"},
)
POLICIES = _spec(
    "policies",
    "policy",
    "/api/v3/policies",
    "policy_id",
    POLICY_FIELDS,
    required=("name",),
    hooks=PolicyHooks(),
    foreign_keys={"policy_group_id": "policy_groups", "fallback_policy_id": "policies"},
)
ON_CALLS = _spec(
    "on_calls",
    "on_call_calendar",
    "/api/v2/on-calls",
    "calendar_id",
    {"name": Field(STR)},
    ops=frozenset({"create", "update", "delete"}),
    required=("name",),
    hooks=OnCallHooks(),
    timestamps=False,
)

SPECS: tuple[Spec, ...] = (
    MONITORS,
    _spec(
        "monitor_groups",
        "monitor_group",
        "/api/v2/monitor-groups",
        "monitor_group_id",
        GROUP,
        required=("name",),
    ),
    HEARTBEATS,
    _spec(
        "heartbeat_groups",
        "heartbeat_group",
        "/api/v2/heartbeat-groups",
        "heartbeat_group_id",
        GROUP,
        required=("name",),
    ),
    POLICIES,
    _spec(
        "policy_groups",
        "policy_group",
        "/api/v2/policy-groups",
        "policy_group_id",
        {"name": Field(STR), "sort_index": Field(INT)},
        required=("name",),
    ),
    _spec(
        "urgencies",
        "urgency",
        "/api/v2/urgencies",
        "urgency_id",
        {"name": Field(STR), **NOTIFY, "urgency_group_id": Field(INT)},
        required=("name",),
        foreign_keys={"urgency_group_id": "urgency_groups"},
    ),
    _spec(
        "urgency_groups",
        "urgency_group",
        "/api/v2/urgency-groups",
        "urgency_group_id",
        {"name": Field(STR), "sort_index": Field(INT)},
        required=("name",),
    ),
    _spec(
        "status_pages",
        "status_page",
        "/api/v2/status-pages",
        "status_page_id",
        STATUS_PAGE_FIELDS,
        required=("company_name", "subdomain"),
        hidden=("password",),
        hooks=StatusPageHooks(),
        foreign_keys={"status_page_group_id": "status_page_groups"},
    ),
    _spec(
        "status_page_groups",
        "status_page_group",
        "/api/v2/status-page-groups",
        "status_page_group_id",
        {"name": Field(STR), "sort_index": Field(INT)},
        required=("name",),
    ),
    _spec(
        "status_page_sections",
        "status_page_section",
        SP + "/sections",
        "section_id",
        {"name": Field(STR, ""), "position": Field(INT), "fixed_position": Field(BOOL, False)},
        parents=(PAGE_PARENT,),
        hooks=SectionHooks(),
        team=False,
    ),
    _spec(
        "status_page_resources",
        "status_page_resource",
        SP + "/resources",
        "resource_id",
        {
            "status_page_section_id": Field(INT),
            "resource_id": Field(INT),
            "resource_type": Field(STR, "ManuallyTrackedItem"),
            "public_name": Field(STR),
            "explanation": Field(STR, ""),
            "history": Field(BOOL, True),
            "widget_type": Field(STR, "history"),
            "position": Field(INT),
            "fixed_position": Field(BOOL, False),
            "mark_as_down_for": Field(STR),
            "mark_as_down_metadata_rule": Field(DICT),
            "mark_as_degraded_for": Field(STR),
            "mark_as_degraded_metadata_rule": Field(DICT),
        },
        required=("public_name",),
        parents=(PAGE_PARENT,),
        hooks=ResourceHooks(),
        team=False,
    ),
    _spec(
        "status_reports",
        "status_report",
        SP + "/status-reports",
        "status_report_id",
        {
            "title": Field(STR),
            "report_type": Field(STR, "manual"),
            "starts_at": Field(STR),
            "ends_at": Field(STR),
            "affected_resources": Field(LIST, []),
            "published_at": Field(STR),
        },
        required=("title",),
        parents=(PAGE_PARENT,),
        hidden=("published_at",),
        hooks=ReportHooks(),
        team=False,
    ),
    _spec(
        "status_updates",
        "status_update",
        REPORT + "/status-updates",
        "status_update_id",
        {
            "message": Field(STR),
            "published_at": Field(STR),
            "published_at_timezone": Field(STR, "UTC"),
            "notify_subscribers": Field(BOOL, False),
            "affected_resources": Field(LIST),
        },
        parents=(
            Parent("status_page_id", "status_pages", "_status_page_id"),
            Parent(
                "status_report_id", "status_reports", "status_report_id", scope="status_page_id"
            ),
        ),
        hooks=UpdateHooks(),
        team=False,
        timestamps=False,
    ),
    _spec(
        "outgoing_webhooks",
        "outgoing_webhook",
        "/api/v2/outgoing-webhooks",
        "id",
        {
            "name": Field(STR),
            "url": Field(STR),
            "trigger_type": Field(STR),
            "on_incident_started": Field(BOOL, True),
            "on_incident_acknowledged": Field(BOOL, True),
            "on_incident_resolved": Field(BOOL, True),
            "on_incident_reopened": Field(BOOL, True),
            "on_incident_comment": Field(BOOL, False),
            "notify_alongside_primary_responder": Field(BOOL, False),
            "custom_webhook_template_attributes": Field(DICT),
        },
        required=("url", "trigger_type"),
    ),
    _spec(
        "incoming_webhooks",
        "incoming_webhook",
        "/api/v2/incoming-webhooks",
        "id",
        {
            "name": Field(STR),
            "policy_id": Field(IDSTR),
            **NOTIFY,
            "team_wait": Field(INT),
            "recovery_period": Field(INT, 0),
            "paused": Field(BOOL, False),
            "started_rule_type": Field(STR, "any"),
            "started_rules": Field(LIST, []),
            "title_field": Field(DICT),
            "cause_field": Field(DICT),
            "url": Field(ANY),
        },
        required=("name",),
        hooks=IncomingWebhookHooks(),
    ),
    _spec(
        "slack_integrations",
        "slack_integration",
        "/api/v2/slack-integrations",
        "id",
        {},
        ops=frozenset({"list"}),
    ),
    _spec(
        "roles",
        "role",
        "/api/v2/roles",
        "role_id",
        {},
        ops=frozenset({"list"}),
        team=False,
        timestamps=False,
    ),
    ON_CALLS,
)

LEGACY_POLICIES = _spec(
    "policies", "policy", "/api/v2/policies", "policy_id", POLICY_FIELDS, ops=frozenset({"list"})
)


def spec_for(table: str) -> Spec:
    """The spec serving ``table``."""
    return next(spec for spec in SPECS if spec.table == table)


LISTINGS: tuple[Listing, ...] = (
    Listing(
        "/api/v2/monitor-groups/{monitor_group_id}/monitors",
        "monitor_groups",
        "monitor_group_id",
        MONITORS,
        "monitor_group_id",
    ),
    Listing(
        "/api/v2/heartbeat-groups/{heartbeat_group_id}/heartbeats",
        "heartbeat_groups",
        "heartbeat_group_id",
        HEARTBEATS,
        "heartbeat_group_id",
    ),
    Listing(
        "/api/v3/policy-groups/{policy_group_id}/policies",
        "policy_groups",
        "policy_group_id",
        POLICIES,
        "policy_group_id",
    ),
    Listing(
        "/api/v2/status-page-groups/{status_page_group_id}/status-pages",
        "status_page_groups",
        "status_page_group_id",
        spec_for("status_pages"),
        "status_page_group_id",
    ),
)
