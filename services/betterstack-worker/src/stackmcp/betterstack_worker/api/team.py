"""Team members and roles (served by betterstack.com, not the uptime host) and metadata (v3)."""

from __future__ import annotations

from stackmcp.betterstack_worker.api._common import (
    TEAM_FILTER,
    action,
    arr,
    int_id,
    listing,
    obj,
    path_id,
    s,
    str_id,
)
from stackmcp.betterstack_worker.api.model import Operation, Resource

__all__ = ["OPERATIONS"]

MEMBER = Resource(
    singular="team_member", plural="team_members", tags=("team",), label="team member"
)
ROLE = Resource(singular="team_role", plural="team_roles", tags=("team",), label="team role")
METADATA = Resource(
    singular="metadata_record", plural="metadata", tags=("metadata",), label="metadata"
)

EMAIL_QUERY = s(
    "email", "E-mail of the team member.", location="query", required=True, format="email"
)
OWNER_TYPES = (
    "Monitor",
    "Heartbeat",
    "Incident",
    "WebhookIntegration",
    "EmailIntegration",
    "IncomingWebhook",
    "CallRouting",
)
VALUE_TYPES = (
    "String",
    "User",
    "Team",
    "Policy",
    "Schedule",
    "SlackIntegration",
    "LinearIntegration",
    "JiraIntegration",
    "MicrosoftTeamsWebhook",
    "ZapierWebhook",
    "NativeWebhook",
    "PagerDutyWebhook",
)

OPERATIONS: tuple[Operation, ...] = (
    action(
        MEMBER,
        "find_by_email",
        "GET",
        "/api/v2/team-members",
        "Look up a team member (or pending invitation) by e-mail: name, role, join or "
        "invitation date. Not found if nobody has that e-mail.",
        EMAIL_QUERY,
        TEAM_FILTER,
        host="betterstack",
        read=True,
        title="Find team member by e-mail",
    ),
    action(
        MEMBER,
        "invite",
        "POST",
        "/api/v2/team-members",
        "Invite someone to the team by e-mail; Better Stack e-mails them an invitation. The "
        "answer's message says whether an invitation was sent or they already belong.",
        TEAM_FILTER,
        s("email", "", required=True, format="email"),
        s(
            "role",
            "Role to give (admin cannot be given here).",
            enum=("responder", "member", "team_lead", "billing_admin"),
        ),
        int_id("role_id", "Custom role id instead of role, from list_all_better_stack_team_roles."),
        host="betterstack",
        success=(200, 201),
        keep_keys=("message",),
        method_tags=("notifies",),
    ),
    action(
        MEMBER,
        "change_role",
        "POST",
        "/api/v2/team-members/{member_id}/change-role/{role_id}",
        "Change a team member's role; their permissions change at once.",
        path_id("member_id", "From better_stack_team_members_find_by_email."),
        path_id("role_id", "From list_all_better_stack_team_roles."),
        host="betterstack",
        idempotent=True,
        title="Change team member role",
    ),
    action(
        MEMBER,
        "remove",
        "DELETE",
        "/api/v2/team-members",
        "Remove someone from the team (or withdraw their invitation); they lose access at once.",
        EMAIL_QUERY,
        TEAM_FILTER,
        host="betterstack",
        envelope="empty",
        success=(204,),
        destructive=True,
        idempotent=True,
    ),
    listing(
        ROLE,
        "/api/v2/roles",
        "List the roles that can be given to team members (name and role key).",
        host="betterstack",
    ),
    listing(
        METADATA,
        "/api/v3/metadata",
        "List metadata records (key and values attached to monitors, heartbeats, incidents, "
        "integrations); filter by owner.",
        TEAM_FILTER,
        str_id(
            "owner_id", "Only metadata of this resource id (give owner_type too).", location="query"
        ),
        s("owner_type", "", location="query", enum=OWNER_TYPES),
    ),
    action(
        METADATA,
        "upsert",
        "POST",
        "/api/v3/metadata",
        "Set the values of one metadata key on a resource, creating or replacing it. An empty "
        "values list removes the key (the result is then null).",
        str_id("owner_id", "Id of the resource the metadata belongs to.", required=True),
        s("owner_type", "", required=True, enum=OWNER_TYPES),
        s("key", "E.g. Service.", required=True),
        arr(
            "values",
            "Values: String uses value; reference types use item_id, email or name.",
            obj(
                "value",
                "One value.",
                s("type", "Value kind.", required=True, enum=VALUE_TYPES),
                s("value", "Text (type String)."),
                str_id("item_id", "Id of the referenced item."),
                s("email", "E-mail of the referenced user.", format="email"),
                s("name", "Name of the referenced item."),
            ),
            required=True,
        ),
        success=(200, 201, 204),
        idempotent=True,
        title="Set metadata values",
    ),
)
