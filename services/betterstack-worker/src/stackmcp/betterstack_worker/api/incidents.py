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

INCIDENT_PAGES = Page(upstream=True, default_limit=10, max_limit=50, upstream_default=10)
INCIDENT_ID = path_id(
    "incident_id",
    "Incident id, from list_all_better_stack_incidents (resolved=false lists open ones).",
)
COMMENT_ID = path_id("comment_id", "Comment id, from list_all_better_stack_incident_comments.")
STATE_ANSWER = "Returns the updated incident."

OPERATIONS: tuple[Operation, ...] = (
    listing(
        INCIDENT,
        "/api/v3/incidents",
        "List incidents with status (Started, Acknowledged, Resolved, Unconfirmed, "
        "Validating), cause, started/acknowledged/resolved times and who acted. Use "
        "resolved=false for the ones still open.",
        TEAM_FILTER,
        s(
            "from",
            "Only incidents started on or after this day, YYYY-MM-DD.",
            location="query",
            format="date",
        ),
        s(
            "to",
            "Only incidents started on or before this day, YYYY-MM-DD.",
            location="query",
            format="date",
        ),
        q(int_id("monitor_id", "Only incidents of this monitor (list_all_better_stack_monitors).")),
        q(
            int_id(
                "heartbeat_id",
                "Only incidents of this heartbeat (list_all_better_stack_heartbeats).",
            )
        ),
        q(b("resolved", "true: only resolved; false: only open. Omit for both.")),
        q(b("acknowledged", "true: only acknowledged; false: only unacknowledged. Omit for both.")),
        obj(
            "metadata",
            "Only incidents whose metadata has these values, key to value, "
            'e.g. {"Service": "api"}.',
            location="query",
            deep_object=True,
            guess=True,
        ),
        page=INCIDENT_PAGES,
    ),
    getting(
        INCIDENT,
        "/api/v3/incidents/{incident_id}",
        "Get one incident: cause, status, timestamps, who acknowledged/resolved it, its "
        "escalation policy, metadata and the monitor that triggered it.",
        INCIDENT_ID,
    ),
    creating(
        INCIDENT,
        "/api/v3/incidents",
        "Start an incident by hand. This alerts people right away, through the escalation "
        "policy if policy_id is given, else through the call/sms/email/push flags.",
        TEAM_OWNER,
        s("requester_email", "E-mail of the person reporting the incident.", format="email"),
        s("name", "Short name of the incident."),
        s("summary", "One-line summary shown in alerts."),
        s("description", "Full description, shown in the incident detail."),
        *NOTIFY,
        TEAM_WAIT,
        str_id(
            "policy_id",
            "Escalation policy to follow, from list_all_better_stack_escalation_policies.",
        ),
        obj(
            "metadata",
            'Metadata, key to list of values, e.g. {"Service": [{"type": "String", '
            '"value": "api"}]}.',
        ),
        method_tags=("notifies",),
    ),
    action(
        INCIDENT,
        "acknowledge",
        "POST",
        "/api/v3/incidents/{incident_id}/acknowledge",
        "Acknowledge an open incident: stops its escalation, so nobody further gets paged, "
        "and sets status Acknowledged. Fails with a conflict if already acknowledged. "
        + STATE_ANSWER,
        INCIDENT_ID,
        s("acknowledged_by", "E-mail or name recorded as acknowledging (default: the API token)."),
    ),
    action(
        INCIDENT,
        "resolve",
        "POST",
        "/api/v3/incidents/{incident_id}/resolve",
        "Resolve an incident: sets status Resolved and stops all alerting for it. Final unless "
        "reopened within 24 hours with better_stack_incidents_reopen. Fails with a conflict if "
        "already resolved. " + STATE_ANSWER,
        INCIDENT_ID,
        s("resolved_by", "E-mail or name recorded as resolving (default: the API token)."),
        destructive=True,
    ),
    action(
        INCIDENT,
        "escalate",
        "POST",
        "/api/v3/incidents/{incident_id}/escalate",
        "Escalate an incident now: notifies the chosen user, team, on-call schedule, escalation "
        "policy or the whole organisation. escalation_type decides which target field is "
        "needed: User → user_email or user_id; Team → team_name or team_id; Schedule → "
        "schedule_id; Policy → policy_id; Organization → none. Fails on a resolved incident. "
        + STATE_ANSWER,
        INCIDENT_ID,
        s(
            "escalation_type",
            "Who to escalate to.",
            required=True,
            enum=("User", "Team", "Schedule", "Policy", "Organization"),
        ),
        s("user_email", "User to notify (escalation_type User).", format="email"),
        int_id("user_id", "User id to notify (escalation_type User)."),
        s("team_name", "Team to notify (escalation_type Team)."),
        int_id("team_id", "Team id to notify (escalation_type Team)."),
        int_id(
            "schedule_id",
            "On-call schedule whose current on-call person is notified (escalation_type "
            "Schedule); from list_all_better_stack_on_call_schedules.",
        ),
        int_id(
            "policy_id",
            "Escalation policy to run (escalation_type Policy); from "
            "list_all_better_stack_escalation_policies.",
        ),
        *NOTIFY,
        method_tags=("notifies",),
    ),
    action(
        INCIDENT,
        "reopen",
        "POST",
        "/api/v3/incidents/{incident_id}/reopen",
        "Reopen a resolved incident (only within 24 hours of its resolution); it becomes open "
        "again. Fails with a conflict if it is not resolved, forbidden if shared from another "
        "team. " + STATE_ANSWER,
        INCIDENT_ID,
        s("reopened_by", "E-mail or name recorded as reopening (default: the API token)."),
    ),
    deleting(
        INCIDENT,
        "/api/v3/incidents/{incident_id}",
        "Delete an incident and its timeline permanently; cannot be undone. To close an "
        "incident use better_stack_incidents_resolve instead.",
        INCIDENT_ID,
    ),
    listing(
        TIMELINE,
        "/api/v3/incidents/{incident_id}/timeline",
        "List the timeline of one incident: alerts sent, acknowledgements, "
        "escalations, comments, responses. Each item has item_type, at (date-time) and data.",
        INCIDENT_ID,
        page=WORKER_PAGES,
    ),
    listing(
        COMMENT,
        "/api/v2/incidents/{incident_id}/comments",
        "List the comments on one incident (content in Markdown, author, created_at).",
        INCIDENT_ID,
        page=WORKER_PAGES,
    ),
    getting(
        COMMENT,
        "/api/v2/incidents/{incident_id}/comments/{comment_id}",
        "Get one comment of an incident.",
        INCIDENT_ID,
        COMMENT_ID,
    ),
    creating(
        COMMENT,
        "/api/v2/incidents/{incident_id}/comments",
        "Add a comment to an incident's timeline, visible to every responder.",
        INCIDENT_ID,
        s("content", "Comment text; Markdown is supported.", required=True),
    ),
    updating(
        COMMENT,
        "/api/v2/incidents/{incident_id}/comments/{comment_id}",
        "Replace the text of a comment.",
        INCIDENT_ID,
        COMMENT_ID,
        s("content", "New comment text; Markdown is supported.", required=True),
        guess=True,
    ),
    deleting(
        COMMENT,
        "/api/v2/incidents/{incident_id}/comments/{comment_id}",
        "Delete a comment from an incident permanently.",
        INCIDENT_ID,
        COMMENT_ID,
        guess=True,
    ),
)
