"""On-call schedules (the API calls them on-call calendars), their events and rotations (v2)."""

from __future__ import annotations

from stackmcp.betterstack_worker.api._common import (
    TEAM_FILTER,
    TEAM_OWNER,
    WORKER_PAGES,
    action,
    arr,
    b,
    creating,
    deleting,
    getting,
    i,
    listing,
    path_id,
    s,
    updating,
)
from stackmcp.betterstack_worker.api.model import Operation, Resource

__all__ = ["OPERATIONS"]

SCHEDULE = Resource(
    singular="on_call_schedule",
    plural="on_call_schedules",
    tags=("on-call",),
    label="on-call schedule",
)
EVENT = Resource(
    singular="on_call_event", plural="on_call_events", tags=("on-call",), label="on-call event"
)

SCHEDULE_ID = path_id(
    "schedule_id",
    "On-call schedule id from list_all_better_stack_on_call_schedules, or default for the "
    "team's default schedule.",
    kind="digits_or_default",
)
USERS = arr(
    "users",
    "E-mails of the people on call, in order.",
    s("email", "User e-mail.", format="email"),
    required=True,
    min_items=1,
)
ROTATION_NOTE = "rotation_length shifts of rotation_interval each, cycling through users."

OPERATIONS: tuple[Operation, ...] = (
    listing(
        SCHEDULE,
        "/api/v2/on-calls",
        "List on-call schedules with who is on call right now on each (names, e-mails, "
        "phone numbers). The team's default schedule has default_calendar true.",
        TEAM_FILTER,
    ),
    getting(
        SCHEDULE,
        "/api/v2/on-calls/{schedule_id}",
        "Get one on-call schedule and who is on call on it now (or at date).",
        SCHEDULE_ID,
        s(
            "date",
            "Ask who is on call at this instant instead of now (ISO 8601 date-time).",
            location="query",
            format="date-time",
            guess=True,
        ),
    ),
    creating(
        SCHEDULE,
        "/api/v2/on-calls",
        "Create an empty on-call schedule; add people with create_a_better_stack_on_call_event "
        "or better_stack_on_call_schedules_create_rotation.",
        TEAM_OWNER,
        s("name", "Schedule name.", required=True),
    ),
    updating(
        SCHEDULE,
        "/api/v2/on-calls/{schedule_id}",
        "Rename an on-call schedule.",
        SCHEDULE_ID,
        s("name", "New schedule name."),
    ),
    deleting(
        SCHEDULE,
        "/api/v2/on-calls/{schedule_id}",
        "Delete an on-call schedule and all its shifts permanently; escalations that target "
        "it will reach nobody.",
        SCHEDULE_ID,
    ),
    listing(
        EVENT,
        "/api/v2/on-calls/{schedule_id}/events",
        "List the shifts (events) of one on-call schedule: users, starts_at, ends_at "
        "(date-times, UTC) and whether it is an override.",
        SCHEDULE_ID,
        envelope="raw_list",
        list_key="events",
        page=WORKER_PAGES,
    ),
    creating(
        EVENT,
        "/api/v2/on-calls/{schedule_id}/events",
        "Add a shift to an on-call schedule, e.g. an override while someone is away. The "
        "people listed are paged for incidents routed to this schedule during the shift.",
        SCHEDULE_ID,
        s(
            "starts_at",
            "Shift start (ISO 8601 date-time); today 00:00 UTC or later.",
            required=True,
            format="date-time",
        ),
        s("ends_at", "Shift end (ISO 8601 date-time).", required=True, format="date-time"),
        USERS,
        b("override", "true: replaces the regular rotation during this shift."),
        envelope="raw_object",
        success=(200, 201),
    ),
    action(
        SCHEDULE,
        "get_rotation",
        "GET",
        "/api/v2/on-calls/{schedule_id}/rotation",
        f"Get the rotation of an on-call schedule: {ROTATION_NOTE} Not found if it has none.",
        SCHEDULE_ID,
        TEAM_FILTER,
        read=True,
        envelope="raw_object",
        title="Get on-call rotation",
    ),
    action(
        SCHEDULE,
        "create_rotation",
        "POST",
        "/api/v2/on-calls/{schedule_id}/rotation",
        f"Set the rotation of an on-call schedule: {ROTATION_NOTE} Replaces every "
        "non-override shift from today on.",
        SCHEDULE_ID,
        TEAM_OWNER,
        USERS,
        i(
            "rotation_length",
            "Number of rotation_interval units per shift.",
            required=True,
            minimum=1,
        ),
        s(
            "rotation_interval",
            "Unit of rotation_length.",
            required=True,
            enum=("hour", "day", "week"),
            upstream_names=("rotation_interval", "rotation_period"),
        ),
        s(
            "start_rotations_at",
            "When the rotation starts (ISO 8601 date-time).",
            required=True,
            format="date-time",
        ),
        s(
            "end_rotations_at",
            "When the rotation ends (ISO 8601 date-time).",
            required=True,
            format="date-time",
        ),
        envelope="raw_object",
        success=(200, 201),
        destructive=True,
        idempotent=True,
        title="Set on-call rotation",
    ),
)
