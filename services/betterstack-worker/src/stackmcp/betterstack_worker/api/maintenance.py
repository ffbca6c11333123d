"""Team-wide maintenance (v2, ``/api/v2/team-maintenance``): its state, start and end.

Starting it pauses every monitor, heartbeat and integration of the team (no alerts) until it
ends; Better Stack tells the team's Slack and Microsoft Teams integrations. Read-only API
tokens cannot start or end it (403).
"""

from __future__ import annotations

from stackmcp.betterstack_worker.api._common import action, i, s
from stackmcp.betterstack_worker.api.model import Operation, Resource

__all__ = ["OPERATIONS"]

MAINTENANCE = Resource(
    singular="team_maintenance",
    plural="team_maintenance",
    tags=("monitors", "heartbeats"),
    label="team maintenance",
)
PATH = "/api/v2/team-maintenance"
TEAM = s("team_name", "", location="query", team_default=True)

OPERATIONS: tuple[Operation, ...] = (
    action(
        MAINTENANCE,
        "status",
        "GET",
        PATH,
        "Whether the team is in maintenance, and until when (maintenance_to).",
        TEAM,
        read=True,
        title="Team maintenance status",
    ),
    action(
        MAINTENANCE,
        "start",
        "PUT",
        PATH,
        "Start team-wide maintenance: no monitor, heartbeat or integration alerts until it ends. "
        "Give duration or until; again moves the end. Slack/Teams are told.",
        i("duration", "Seconds from now.", minimum=1),
        s("until", "End time.", format="date-time"),
        s("team_name", "", team_default=True),
        destructive=True,
        idempotent=True,
        method_tags=("notifies",),
        title="Start team maintenance",
    ),
    action(
        MAINTENANCE,
        "end",
        "DELETE",
        PATH,
        "End team-wide maintenance now; alerting resumes.",
        TEAM,
        envelope="empty",
        success=(204,),
        idempotent=True,
        title="End team maintenance",
    ),
)
