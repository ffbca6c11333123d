"""Incidents (v3), their timeline (v3) and comments (v2, the only version that has them).

The v2 incident endpoints duplicate v3 ones and are listed in ``excluded.py`` instead of
becoming a second set of tools.
"""

from __future__ import annotations

from stackmcp.betterstack_worker.api._common import (
    NOTIFY,
    TEAM_FILTER,
    TEAM_OWNER,
    TEAM_WAIT,
    WORKER_PAGES,
    action,
    arr,
    b,
    creating,
    deleting,
    getting,
    int_id,
    listing,
    obj,
    path_id,
    q,
    s,
    str_id,
    updating,
)
from stackmcp.betterstack_worker.api.model import Operation, Page, Resource

__all__ = ["OPERATIONS"]

INCIDENT = Resource(singular="incident", plural="incidents", tags=("incidents",), label="incident")
TIMELINE = Resource(
    singular="incident_timeline_item",
    plural="incident_timeline",
    tags=("incidents",),
    label="incident timeline",
)
COMMENT = Resource(
    singular="incident_comment",
    plural="incident_comments",
    tags=("incidents",),
    label="incident comment",
)

TIMELINE_TYPES = (
    "generic",
    "generic_card",
    "timeline_truncated",
    "response_item",
    "payload",
    "comment",
)
INCIDENT_PAGES = Page(upstream=True, default_limit=10, max_limit=50, upstream_default=10)
INCIDENT_ID = path_id("incident_id", "From list_all_better_stack_incidents.")
COMMENT_ID = path_id("comment_id", "From list_all_better_stack_incident_comments.")

OPERATIONS: tuple[Operation, ...] = (
    listing(
        INCIDENT,
        "/api/v3/incidents",
        "List incidents: status, cause, severity, who started, acknowledged and resolved "
        "them when. resolved=false: the open ones.",
        TEAM_FILTER,
        s("from", "Started on or after this day.", location="query", format="date"),
        s("to", "Started on or before this day.", location="query", format="date"),
        q(int_id("monitor_id", "From list_all_better_stack_monitors.")),
        q(int_id("heartbeat_id", "From list_all_better_stack_heartbeats.")),
        q(b("resolved", "")),
        q(b("acknowledged", "")),
        obj(
            "metadata",
            'Metadata values to match, e.g. {"Service": "api"}.',
            location="query",
            deep_object=True,
            guess=True,
        ),
        page=INCIDENT_PAGES,
        compose="incident_severity",
    ),
    action(
        INCIDENT,
        "brief",
        "GET",
        "/api/v3/incidents/{incident_id}",
        "Handover brief in one call: status, severity, who acted, escalation progress (who "
        "was paged, next step), comments, timeline with repeats merged.",
        INCIDENT_ID,
        read=True,
        compose="incident_brief",
        title="Incident brief",
    ),
    getting(
        INCIDENT,
        "/api/v3/incidents/{incident_id}",
        "Get one incident: cause, status, who acted when, escalation policy, metadata, monitor.",
        INCIDENT_ID,
    ),
    creating(
        INCIDENT,
        "/api/v3/incidents",
        "Start an incident; alerts at once through policy_id's escalation policy, else the "
        "call/sms/email/push flags.",
        TEAM_OWNER,
        s("requester_email", "", format="email"),
        s("name", ""),
        s("summary", "One line, shown in alerts."),
        s("description", ""),
        *NOTIFY,
        TEAM_WAIT,
        str_id("policy_id", "From list_all_better_stack_escalation_policies."),
        obj("metadata", 'E.g. {"Service": [{"type": "String", "value": "api"}]}.'),
        method_tags=("notifies",),
    ),
    action(
        INCIDENT,
        "acknowledge",
        "POST",
        "/api/v3/incidents/{incident_id}/acknowledge",
        "Acknowledge an open incident: stops its escalation.",
        INCIDENT_ID,
        s("acknowledged_by", "Who to record (default: the API token)."),
    ),
    action(
        INCIDENT,
        "resolve",
        "POST",
        "/api/v3/incidents/{incident_id}/resolve",
        "Resolve an incident and stop all its alerting; can be reopened within 24 h.",
        INCIDENT_ID,
        s("resolved_by", "Who to record (default: the API token)."),
        destructive=True,
    ),
    action(
        INCIDENT,
        "escalate",
        "POST",
        "/api/v3/incidents/{incident_id}/escalate",
        "Notify more people about an open incident now; the result lists who was notified. "
        "to=next_step pages the next step of its escalation policy; else escalation_type "
        "picks the target: User (user_email or user_id), Team (team_name or team_id), "
        "Schedule (schedule_id: who is on call), Policy (policy_id), Organization.",
        INCIDENT_ID,
        s("to", "Instead of escalation_type.", location="worker", enum=("next_step",)),
        s(
            "escalation_type",
            "",
            enum=("User", "Team", "Schedule", "Policy", "Organization"),
        ),
        s("user_email", "", format="email"),
        int_id("user_id", ""),
        s("team_name", ""),
        int_id("team_id", ""),
        int_id("schedule_id", "From list_all_better_stack_on_call_schedules."),
        int_id("policy_id", "From list_all_better_stack_escalation_policies."),
        *NOTIFY,
        method_tags=("notifies",),
        compose="escalate",
    ),
    action(
        INCIDENT,
        "reopen",
        "POST",
        "/api/v3/incidents/{incident_id}/reopen",
        "Reopen an incident resolved less than 24 h ago.",
        INCIDENT_ID,
        s("reopened_by", "Who to record (default: the API token)."),
    ),
    deleting(
        INCIDENT,
        "/api/v3/incidents/{incident_id}",
        "Delete an incident and its timeline for good. To close one, resolve it instead.",
        INCIDENT_ID,
    ),
    listing(
        TIMELINE,
        "/api/v3/incidents/{incident_id}/timeline",
        "List an incident's timeline (item_type, at, data): alerts, acknowledgements, "
        "escalations, comments, responses.",
        INCIDENT_ID,
        arr(
            "types",
            "Only these item types.",
            s("type", "", enum=TIMELINE_TYPES),
            location="worker",
        ),
        s("since", "At or after.", location="worker", format="date-time"),
        s("until", "At or before.", location="worker", format="date-time"),
        b("newest_first", "", location="worker"),
        b(
            "collapse",
            "Merge identical events (count, first, last).",
            location="worker",
        ),
        page=WORKER_PAGES,
    ),
    listing(
        COMMENT,
        "/api/v2/incidents/{incident_id}/comments",
        "List an incident's comments (Markdown content, author, created_at).",
        INCIDENT_ID,
        page=WORKER_PAGES,
    ),
    getting(
        COMMENT,
        "/api/v2/incidents/{incident_id}/comments/{comment_id}",
        "Get one incident comment.",
        INCIDENT_ID,
        COMMENT_ID,
    ),
    creating(
        COMMENT,
        "/api/v2/incidents/{incident_id}/comments",
        "Comment on an incident's timeline (every responder sees it).",
        INCIDENT_ID,
        s("content", "Markdown.", required=True),
    ),
    updating(
        COMMENT,
        "/api/v2/incidents/{incident_id}/comments/{comment_id}",
        "Replace a comment's text.",
        INCIDENT_ID,
        COMMENT_ID,
        s("content", "Markdown.", required=True),
        guess=True,
    ),
    deleting(
        COMMENT,
        "/api/v2/incidents/{incident_id}/comments/{comment_id}",
        "Delete an incident comment for good.",
        INCIDENT_ID,
        COMMENT_ID,
        guess=True,
    ),
)
