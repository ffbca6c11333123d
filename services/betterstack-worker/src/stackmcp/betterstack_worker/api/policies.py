"""Escalation policies (v3) and their groups, severities ("urgencies") and severity groups."""

from __future__ import annotations

from stackmcp.betterstack_worker.api._common import (
    NOTIFY,
    TEAM_FILTER,
    TEAM_OWNER,
    UPSTREAM_PAGES,
    action,
    arr,
    creating,
    deleting,
    getting,
    i,
    int_id,
    listing,
    obj,
    optional,
    path_id,
    s,
    updating,
)
from stackmcp.betterstack_worker.api.model import Operation, Resource

__all__ = ["OPERATIONS"]

POLICY = Resource(
    singular="escalation_policy",
    plural="escalation_policies",
    tags=("escalation_policies",),
    label="escalation policy",
)
POLICY_GROUP = Resource(
    singular="escalation_policy_group",
    plural="escalation_policy_groups",
    tags=("escalation_policies",),
    label="escalation policy group",
)
SEVERITY = Resource(
    singular="severity", plural="severities", tags=("severities",), label="severity"
)
SEVERITY_GROUP = Resource(
    singular="severity_group",
    plural="severity_groups",
    tags=("severities",),
    label="severity group",
)

POLICY_ID = path_id("policy_id", "From list_all_better_stack_escalation_policies.")
POLICY_GROUP_ID = path_id(
    "policy_group_id",
    "From list_all_better_stack_escalation_policy_groups.",
)
SEVERITY_ID = path_id("severity_id", "From list_all_better_stack_severities.")
SEVERITY_GROUP_ID = path_id("severity_group_id", "From list_all_better_stack_severity_groups.")

MEMBER_TYPES = (
    "current_on_call",
    "entire_team",
    "all_slack_integrations",
    "all_microsoft_teams_integrations",
    "all_zapier_integrations",
    "all_webhook_integrations",
    "all_splunk_on_call_integrations",
    "incident_metadata",
    "user",
    "webhook",
    "slack_integration",
    "microsoft_teams_integration",
    "zapier_webhook",
    "pagerduty_integration",
    "policy",
)
STEP = obj(
    "step",
    "One step. Escalation steps page step_members after wait_before seconds.",
    s(
        "type",
        "Step kind.",
        required=True,
        enum=("escalation", "time_branching", "metadata_branching", "instructions"),
    ),
    i("wait_before", "Seconds to wait before this step.", minimum=0),
    int_id("urgency_id", "Severity id (list_all_better_stack_severities) for escalation steps."),
    arr(
        "step_members",
        "Who is notified (escalation steps).",
        obj(
            "member",
            "A target; id/email/team_id/metadata_key as the type needs.",
            s("type", "Target kind.", required=True, enum=MEMBER_TYPES),
            int_id("id", "Id of the user, integration or policy."),
            s("email", "User e-mail.", format="email"),
            int_id("team_id", "Team id (entire_team / current_on_call)."),
            s("metadata_key", "Metadata key naming the target (incident_metadata)."),
        ),
    ),
    s("timezone", "Time zone for time_branching, e.g. UTC."),
    arr("days", "Weekdays for time_branching.", s("day", "Weekday, mon..sun.")),
    s("time_from", "time_branching window start, HH:MM."),
    s("time_to", "time_branching window end, HH:MM."),
    s("metadata_key", "Metadata key for metadata_branching."),
    arr("metadata_values", "Values for metadata_branching.", s("value", "Value.")),
    int_id("policy_id", "Policy to branch to."),
    s("instructions_comment", "Instructions text (instructions steps)."),
    open_object=True,
)
POLICY_BODY = (
    s("name", "", required=True),
    i("repeat_count", "How many times to repeat all steps if nobody acknowledges.", minimum=0),
    i("repeat_delay", "Seconds between repeats.", minimum=0),
    arr("steps", "Ordered steps; an empty list makes a silent policy.", STEP),
    int_id("policy_group_id", "Escalation policy group id.", nullable=True),
    int_id("fallback_policy_id", "Policy used when this one matches nobody.", nullable=True),
)
NAMED_GROUP = (
    s("name", "", required=True),
    i("sort_index", "", nullable=True),
)
SEVERITY_BODY = (
    s("name", "E.g. High.", required=True),
    *NOTIFY,
    int_id(
        "severity_group_id",
        "Severity group id.",
        nullable=True,
        upstream_names=("urgency_group_id",),
    ),
)

OPERATIONS: tuple[Operation, ...] = (
    listing(
        POLICY,
        "/api/v3/policies",
        "List escalation policies: who gets notified, in which order and after how many "
        "seconds, when an incident is not acknowledged.",
        TEAM_FILTER,
    ),
    getting(POLICY, "/api/v3/policies/{policy_id}", "Get one escalation policy.", POLICY_ID),
    creating(POLICY, "/api/v3/policies", "Create an escalation policy.", TEAM_OWNER, *POLICY_BODY),
    updating(
        POLICY,
        "/api/v3/policies/{policy_id}",
        "Change an escalation policy; steps, when given, replace all existing steps.",
        POLICY_ID,
        *optional(POLICY_BODY),
    ),
    deleting(
        POLICY,
        "/api/v3/policies/{policy_id}",
        "Delete an escalation policy permanently; monitors using it fall back to their own "
        "notification settings.",
        POLICY_ID,
    ),
    listing(POLICY_GROUP, "/api/v2/policy-groups", "List escalation policy groups."),
    getting(
        POLICY_GROUP,
        "/api/v2/policy-groups/{policy_group_id}",
        "Get one escalation policy group.",
        POLICY_GROUP_ID,
    ),
    action(
        POLICY_GROUP,
        "list_policies",
        "GET",
        "/api/v3/policy-groups/{policy_group_id}/policies",
        "List the escalation policies in one policy group.",
        POLICY_GROUP_ID,
        read=True,
        envelope="jsonapi_list",
        page=UPSTREAM_PAGES,
        title="List escalation policies in a group",
    ),
    creating(
        POLICY_GROUP,
        "/api/v2/policy-groups",
        "Create an escalation policy group.",
        TEAM_OWNER,
        *NAMED_GROUP,
    ),
    updating(
        POLICY_GROUP,
        "/api/v2/policy-groups/{policy_group_id}",
        "Rename or reorder an escalation policy group.",
        POLICY_GROUP_ID,
        *optional(NAMED_GROUP),
    ),
    deleting(
        POLICY_GROUP,
        "/api/v2/policy-groups/{policy_group_id}",
        "Delete an escalation policy group permanently.",
        POLICY_GROUP_ID,
    ),
    listing(
        SEVERITY,
        "/api/v2/urgencies",
        "List severities (alert urgency levels): how each one notifies (call, sms, email, push).",
        TEAM_FILTER,
    ),
    getting(SEVERITY, "/api/v2/urgencies/{severity_id}", "Get one severity.", SEVERITY_ID),
    creating(SEVERITY, "/api/v2/urgencies", "Create a severity.", TEAM_OWNER, *SEVERITY_BODY),
    updating(
        SEVERITY,
        "/api/v2/urgencies/{severity_id}",
        "Change a severity's name or notification channels.",
        SEVERITY_ID,
        *optional(SEVERITY_BODY),
    ),
    deleting(
        SEVERITY,
        "/api/v2/urgencies/{severity_id}",
        "Delete a severity permanently.",
        SEVERITY_ID,
    ),
    listing(SEVERITY_GROUP, "/api/v2/urgency-groups", "List severity groups."),
    getting(
        SEVERITY_GROUP,
        "/api/v2/urgency-groups/{severity_group_id}",
        "Get one severity group.",
        SEVERITY_GROUP_ID,
    ),
    creating(
        SEVERITY_GROUP,
        "/api/v2/urgency-groups",
        "Create a severity group.",
        TEAM_OWNER,
        *NAMED_GROUP,
    ),
    updating(
        SEVERITY_GROUP,
        "/api/v2/urgency-groups/{severity_group_id}",
        "Rename or reorder a severity group.",
        SEVERITY_GROUP_ID,
        *optional(NAMED_GROUP),
    ),
    deleting(
        SEVERITY_GROUP,
        "/api/v2/urgency-groups/{severity_group_id}",
        "Delete a severity group permanently.",
        SEVERITY_GROUP_ID,
    ),
)
