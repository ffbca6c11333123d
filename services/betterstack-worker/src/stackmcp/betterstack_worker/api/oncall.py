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
    tags=("on_call",),
    label="on-call schedule",
)
EVENT = Resource(
    singular="on_call_event", plural="on_call_events", tags=("on_call",), label="on-call event"
)

SCHEDULE_ID = path_id(
    "schedule_id",
    "From list_all_better_stack_on_call_schedules, or default.",
    kind="digits_or_default",
)
USERS = arr(
    "users",
    "E-mails of who is on call, in order.",
    s("email", "User e-mail.", format="email"),
    required=True,
    min_items=1,
)
ROTATION_NOTE = "users take turns, each for rotation_length rotation_intervals."

OPERATIONS: tuple[Operation, ...] = (
    listing(
        SCHEDULE,
        "/api/v2/on-calls",
        "List on-call schedules and who is on call now on each (name, e-mail, phone); "
        "default_calendar marks the default.",
        TEAM_FILTER,
    ),
    getting(
        SCHEDULE,
        "/api/v2/on-calls/{schedule_id}",
        "Get an on-call schedule and who is on call now (or at date).",
        SCHEDULE_ID,
        s(
            "date",
            "Instead of now.",
            location="query",
            format="date-time",
            guess=True,
        ),
    ),
    creating(
        SCHEDULE,
        "/api/v2/on-calls",
        "Create an empty on-call schedule (then add shifts or a rotation).",
        TEAM_OWNER,
        s("name", "", required=True),
    ),
    updating(
        SCHEDULE,
        "/api/v2/on-calls/{schedule_id}",
        "Rename an on-call schedule.",
        SCHEDULE_ID,
        s("name", "New name."),
    ),
    deleting(
        SCHEDULE,
        "/api/v2/on-calls/{schedule_id}",
        "Delete an on-call schedule and its shifts for good; escalations to it reach nobody.",
        SCHEDULE_ID,
    ),
    listing(
        EVENT,
        "/api/v2/on-calls/{schedule_id}/events",
        "List an on-call schedule's shifts: users, starts_at, ends_at (UTC), override.",
        SCHEDULE_ID,
        envelope="raw_list",
        list_key="events",
        page=WORKER_PAGES,
    ),
    creating(
        EVENT,
        "/api/v2/on-calls/{schedule_id}/events",
        "Add a shift to an on-call schedule (e.g. cover for someone away); its users get the "
        "schedule's pages meanwhile.",
        SCHEDULE_ID,
        s("starts_at", "Today 00:00 UTC or later.", required=True, format="date-time"),
        s("ends_at", "", required=True, format="date-time"),
        USERS,
        b("override", "Replaces the rotation meanwhile."),
        envelope="raw_object",
        success=(200, 201),
    ),
    action(
        SCHEDULE,
        "get_rotation",
        "GET",
        "/api/v2/on-calls/{schedule_id}/rotation",
        f"Get an on-call schedule's rotation: {ROTATION_NOTE} Not found if none.",
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
        f"Set an on-call schedule's rotation: {ROTATION_NOTE} Replaces all non-override "
        "shifts from today.",
        SCHEDULE_ID,
        TEAM_OWNER,
        USERS,
        i("rotation_length", "", required=True, minimum=1),
        s(
            "rotation_interval",
            "",
            required=True,
            enum=("hour", "day", "week"),
            upstream_names=("rotation_interval", "rotation_period"),
        ),
        s("start_rotations_at", "", required=True, format="date-time"),
        s("end_rotations_at", "", required=True, format="date-time"),
        envelope="raw_object",
        success=(200, 201),
        destructive=True,
        idempotent=True,
        title="Set on-call rotation",
    ),
)
