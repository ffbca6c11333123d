"""Outgoing and incoming webhooks and Slack integrations (v2)."""

from __future__ import annotations

from stackmcp.betterstack_worker.api._common import (
    NOTIFY,
    POLICY_ID,
    TEAM_OWNER,
    TEAM_WAIT,
    arr,
    b,
    creating,
    deleting,
    getting,
    i,
    listing,
    obj,
    optional,
    path_id,
    s,
    updating,
    without,
)
from stackmcp.betterstack_worker.api.model import Operation, Param, Resource

__all__ = ["OPERATIONS"]

TAGS = ("integrations",)
OUTGOING = Resource(
    singular="outgoing_webhook", plural="outgoing_webhooks", tags=TAGS, label="outgoing webhook"
)
INCOMING = Resource(
    singular="incoming_webhook", plural="incoming_webhooks", tags=TAGS, label="incoming webhook"
)
SLACK = Resource(
    singular="slack_integration",
    plural="slack_integrations",
    tags=TAGS,
    label="Slack integration",
)

OUTGOING_ID = path_id("outgoing_webhook_id", "From list_all_better_stack_outgoing_webhooks.")
INCOMING_ID = path_id("incoming_webhook_id", "From list_all_better_stack_incoming_webhooks.")

OUTGOING_BODY: tuple[Param, ...] = (
    s("name", ""),
    s("url", "URL that receives the POST requests.", required=True, format="uri"),
    s(
        "trigger_type",
        "Which changes are sent (cannot be changed later).",
        required=True,
        enum=("incident_change", "on_call_change", "monitor_change"),
    ),
    b("on_incident_started", ""),
    b("on_incident_acknowledged", ""),
    b("on_incident_resolved", ""),
    b("on_incident_reopened", ""),
    b("on_incident_comment", ""),
    b("notify_alongside_primary_responder", "Send together with the first person paged."),
    obj(
        "custom_webhook_template_attributes",
        "Custom request template.",
        s("http_method", "", enum=("get", "post", "put", "patch")),
        s("auth_username", ""),
        s("auth_password", ""),
        arr(
            "headers_template",
            "Headers.",
            obj("header", "One header.", s("name", "Name."), s("value", "Value.")),
        ),
        s("body_template", ""),
    ),
)
INCOMING_BODY: tuple[Param, ...] = (
    s("name", ""),
    POLICY_ID,
    *NOTIFY,
    TEAM_WAIT,
    i("recovery_period", "Seconds without new alerts before the incident auto-resolves."),
    b("paused", "true ignores incoming requests."),
    s("started_rule_type", "How started_rules combine (e.g. any or all)."),
    arr("started_rules", "Rules that start an incident.", obj("rule", "One rule.")),
    obj("title_field", "Where to read the incident title in the request."),
    obj("cause_field", "Where to read the incident cause in the request."),
)

OPERATIONS: tuple[Operation, ...] = (
    listing(OUTGOING, "/api/v2/outgoing-webhooks", "List outgoing webhooks (event sinks)."),
    getting(
        OUTGOING,
        "/api/v2/outgoing-webhooks/{outgoing_webhook_id}",
        "Get one outgoing webhook.",
        OUTGOING_ID,
    ),
    creating(
        OUTGOING,
        "/api/v2/outgoing-webhooks",
        "Create an outgoing webhook that POSTs incident, on-call or monitor changes to a URL.",
        TEAM_OWNER,
        *OUTGOING_BODY,
    ),
    updating(
        OUTGOING,
        "/api/v2/outgoing-webhooks/{outgoing_webhook_id}",
        "Change an outgoing webhook.",
        OUTGOING_ID,
        *optional(without(OUTGOING_BODY, "trigger_type")),
    ),
    deleting(
        OUTGOING,
        "/api/v2/outgoing-webhooks/{outgoing_webhook_id}",
        "Delete an outgoing webhook permanently; its URL stops receiving events.",
        OUTGOING_ID,
    ),
    listing(
        INCOMING,
        "/api/v2/incoming-webhooks",
        "List incoming webhooks (URLs that start incidents when called), with their URL.",
    ),
    getting(
        INCOMING,
        "/api/v2/incoming-webhooks/{incoming_webhook_id}",
        "Get one incoming webhook.",
        INCOMING_ID,
    ),
    creating(
        INCOMING,
        "/api/v2/incoming-webhooks",
        "Create an incoming webhook; the answer holds the URL that starts incidents.",
        TEAM_OWNER,
        *INCOMING_BODY,
    ),
    updating(
        INCOMING,
        "/api/v2/incoming-webhooks/{incoming_webhook_id}",
        "Change an incoming webhook.",
        INCOMING_ID,
        *INCOMING_BODY,
    ),
    deleting(
        INCOMING,
        "/api/v2/incoming-webhooks/{incoming_webhook_id}",
        "Delete an incoming webhook permanently; calls to its URL stop starting incidents.",
        INCOMING_ID,
    ),
    listing(SLACK, "/api/v2/slack-integrations", "List the Slack integrations of the team."),
)
