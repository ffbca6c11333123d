"""Uptime monitors, heartbeats and their groups (v2)."""

from __future__ import annotations

from stackmcp.betterstack_worker.api._common import (
    FROM_TO,
    MAINTENANCE,
    NOTIFY,
    POLICY_ID,
    TEAM_FILTER,
    TEAM_OWNER,
    TEAM_WAIT,
    UPSTREAM_PAGES,
    action,
    arr,
    b,
    creating,
    deleting,
    getting,
    i,
    int_id,
    listing,
    obj,
    optional,
    path_id,
    q,
    s,
    str_id,
    updating,
)
from stackmcp.betterstack_worker.api.model import Operation, Resource

__all__ = ["OPERATIONS"]

MONITOR = Resource(singular="monitor", plural="monitors", tags=("monitors",), label="monitor")
MONITOR_GROUP = Resource(
    singular="monitor_group", plural="monitor_groups", tags=("monitors",), label="monitor group"
)
HEARTBEAT = Resource(
    singular="heartbeat", plural="heartbeats", tags=("heartbeats",), label="heartbeat"
)
HEARTBEAT_GROUP = Resource(
    singular="heartbeat_group",
    plural="heartbeat_groups",
    tags=("heartbeats",),
    label="heartbeat group",
)

MONITOR_ID = path_id("monitor_id", "From list_all_better_stack_monitors.")
MONITOR_GROUP_ID = path_id("monitor_group_id", "From list_all_better_stack_monitor_groups.")
HEARTBEAT_ID = path_id("heartbeat_id", "From list_all_better_stack_heartbeats.")
HEARTBEAT_GROUP_ID = path_id("heartbeat_group_id", "From list_all_better_stack_heartbeat_groups.")
EXPIRY_DAYS = (1, 2, 3, 7, 14, 30, 60)
MONITOR_STATUSES = ("up", "down", "paused", "pending", "maintenance", "validating")

MONITOR_BODY = (
    s(
        "monitor_type",
        "What the check verifies: status (2xx), expected_status_code, keyword, "
        "keyword_absence, ping, tcp, udp, smtp, pop, imap, dns or playwright (default status).",
        enum=(
            "status",
            "expected_status_code",
            "keyword",
            "keyword_absence",
            "ping",
            "tcp",
            "udp",
            "smtp",
            "pop",
            "imap",
            "dns",
            "playwright",
        ),
    ),
    s("url", "URL or host to check (not needed for playwright monitors with scenario_name)."),
    s("pronounceable_name", "Name read out in voice calls and shown in the UI."),
    *NOTIFY,
    i("check_frequency", "Seconds between checks.", minimum=1),
    arr(
        "request_headers",
        "Extra HTTP request headers. On update, {id, _destroy: true} removes one.",
        obj(
            "header",
            "One header.",
            s("name", "Header name."),
            s("value", "Header value."),
            str_id("id", "Existing header id (update only)."),
            b("_destroy", "True removes the header with this id (update only)."),
        ),
    ),
    arr(
        "expected_status_codes",
        "Accepted HTTP status codes (expected_status_code monitors).",
        i("code", "HTTP status code.", minimum=100, maximum=599),
    ),
    i(
        "domain_expiration",
        "Alert this many days before the domain expires; null disables.",
        enum=EXPIRY_DAYS,
        nullable=True,
    ),
    i(
        "ssl_expiration",
        "Alert this many days before the TLS certificate expires; null disables.",
        enum=EXPIRY_DAYS,
        nullable=True,
    ),
    POLICY_ID,
    int_id(
        "expiration_policy_id",
        "Escalation policy for domain/TLS expiry alerts; null alerts the whole team.",
        nullable=True,
    ),
    b("follow_redirects", ""),
    s("required_keyword", "Keyword that must (or must not) appear (keyword monitors, udp)."),
    TEAM_WAIT,
    b("paused", "true pauses the monitor (no checks, no alerts), false resumes it."),
    s("port", "Port for tcp, udp, smtp, pop and imap monitors."),
    arr(
        "regions",
        "",
        s("region", "Region.", enum=("us", "eu", "as", "au")),
    ),
    int_id("monitor_group_id", "Monitor group id; null removes it from its group.", nullable=True),
    i("recovery_period", "Seconds the target must be up before the incident auto-resolves."),
    b("verify_ssl", ""),
    i("confirmation_period", "Seconds of failure before an incident is started."),
    s(
        "http_method",
        "",
        enum=("get", "head", "post", "put", "patch"),
    ),
    i("request_timeout", "Seconds before the check times out."),
    s("request_body", ""),
    s("auth_username", "HTTP basic auth user name."),
    s("auth_password", "HTTP basic auth password."),
    *MAINTENANCE,
    b("remember_cookies", "Keep cookies between redirects."),
    s("ip_version", "Force IPv4 or IPv6.", enum=("ipv4", "ipv6")),
    s("proxy_host", ""),
    i("proxy_port", ""),
    s("playwright_script", "Playwright scenario source (playwright monitors)."),
    s("scenario_name", "Playwright scenario name (playwright monitors)."),
    obj("environment_variables", "Variables for the Playwright scenario, name to value."),
)

GROUP_BODY = (
    s("name", "", required=True),
    b("paused", "true pauses every member of the group."),
    i("sort_index", "", nullable=True),
)

HEARTBEAT_BODY = (
    s("name", "Heartbeat name.", required=True),
    i("period", "Expected seconds between two pings from your job.", required=True, minimum=1),
    i(
        "grace",
        "Extra seconds to wait after a missed ping before alerting (about 20% of period).",
        required=True,
        minimum=0,
    ),
    *NOTIFY,
    TEAM_WAIT,
    int_id(
        "heartbeat_group_id", "Heartbeat group id; null removes it from its group.", nullable=True
    ),
    i("sort_index", "", nullable=True),
    b("paused", "true pauses the heartbeat, false resumes it."),
    *MAINTENANCE,
    POLICY_ID,
    s("server_timezone", "Time zone of the pinging server, e.g. UTC."),
)

RESUME = (
    s(
        "resume_at",
        "With paused: true, resume then (at most 30 days ahead).",
        location="worker",
        format="date-time",
    ),
    i(
        "for_minutes",
        "With paused: true, resume after this many minutes.",
        location="worker",
        minimum=1,
        maximum=43200,
    ),
)
"""Worker arguments of the pause tools: the resume is scheduled once the pause succeeded
(:mod:`~stackmcp.betterstack_worker.execution.resume`)."""

AVAILABILITY_NOTE = (
    "Returns availability (percent) and total_downtime, longest_incident, average_incident "
    "(seconds) and number_of_incidents. Without from/to it covers the whole lifetime."
)

OPERATIONS: tuple[Operation, ...] = (
    listing(
        MONITOR,
        "/api/v2/monitors",
        "List uptime monitors with their status (up, down, paused, pending, maintenance, "
        "validating), URL, type and check settings.",
        q(s("url", "Only monitors checking exactly this URL.")),
        q(s("pronounceable_name", "Only monitors with this name.")),
        s(
            "status",
            "Only this status (filtered per page in the worker).",
            location="worker",
            enum=MONITOR_STATUSES,
        ),
        b("compact", "Only id, name, url, type, status, check times.", location="worker"),
        TEAM_FILTER,
    ),
    getting(MONITOR, "/api/v2/monitors/{monitor_id}", "Get one monitor.", MONITOR_ID),
    creating(
        MONITOR,
        "/api/v2/monitors",
        "Create an uptime monitor; checks start right away.",
        TEAM_OWNER,
        *MONITOR_BODY,
    ),
    updating(
        MONITOR,
        "/api/v2/monitors/{monitor_id}",
        "Change a monitor. Pause or resume with paused.",
        MONITOR_ID,
        *MONITOR_BODY,
        *RESUME,
    ),
    deleting(
        MONITOR,
        "/api/v2/monitors/{monitor_id}",
        "Delete a monitor and its history permanently.",
        MONITOR_ID,
    ),
    action(
        MONITOR,
        "response_times",
        "GET",
        "/api/v2/monitors/{monitor_id}/response-times",
        "Response times of a monitor over the last 24 hours, per region; times in seconds "
        "(total, name lookup, connection, TLS handshake, data transfer).",
        MONITOR_ID,
        read=True,
        title="Monitor response times",
    ),
    action(
        MONITOR,
        "availability",
        "GET",
        "/api/v2/monitors/{monitor_id}/sla",
        f"Availability (SLA) summary of a monitor. {AVAILABILITY_NOTE}",
        MONITOR_ID,
        *FROM_TO,
        read=True,
        title="Monitor availability",
    ),
    listing(MONITOR_GROUP, "/api/v2/monitor-groups", "List monitor groups.", TEAM_FILTER),
    getting(
        MONITOR_GROUP,
        "/api/v2/monitor-groups/{monitor_group_id}",
        "Get one monitor group.",
        MONITOR_GROUP_ID,
    ),
    action(
        MONITOR_GROUP,
        "list_monitors",
        "GET",
        "/api/v2/monitor-groups/{monitor_group_id}/monitors",
        "List the monitors in one monitor group.",
        MONITOR_GROUP_ID,
        read=True,
        envelope="jsonapi_list",
        page=UPSTREAM_PAGES,
        title="List monitors in a group",
    ),
    creating(
        MONITOR_GROUP, "/api/v2/monitor-groups", "Create a monitor group.", TEAM_OWNER, *GROUP_BODY
    ),
    updating(
        MONITOR_GROUP,
        "/api/v2/monitor-groups/{monitor_group_id}",
        "Rename, reorder, pause or resume a monitor group (paused applies to all members).",
        MONITOR_GROUP_ID,
        *optional(GROUP_BODY),
    ),
    deleting(
        MONITOR_GROUP,
        "/api/v2/monitor-groups/{monitor_group_id}",
        "Delete a monitor group permanently.",
        MONITOR_GROUP_ID,
    ),
    listing(
        HEARTBEAT,
        "/api/v2/heartbeats",
        "List heartbeats (cron/job check-ins) with status (up, down, paused, pending), "
        "period and grace in seconds, and the ping URL. Missed ones carry last_ping_before.",
        TEAM_FILTER,
        compose="heartbeat_pings",
    ),
    getting(HEARTBEAT, "/api/v2/heartbeats/{heartbeat_id}", "Get one heartbeat.", HEARTBEAT_ID),
    creating(
        HEARTBEAT,
        "/api/v2/heartbeats",
        "Create a heartbeat; the answer holds the URL your job must ping every period seconds.",
        TEAM_OWNER,
        *HEARTBEAT_BODY,
    ),
    updating(
        HEARTBEAT,
        "/api/v2/heartbeats/{heartbeat_id}",
        "Change a heartbeat. Pause or resume with paused.",
        HEARTBEAT_ID,
        *optional(HEARTBEAT_BODY),
        *RESUME,
    ),
    deleting(
        HEARTBEAT,
        "/api/v2/heartbeats/{heartbeat_id}",
        "Delete a heartbeat permanently; pings to its URL stop being recorded.",
        HEARTBEAT_ID,
    ),
    action(
        HEARTBEAT,
        "availability",
        "GET",
        "/api/v2/heartbeats/{heartbeat_id}/availability",
        f"Availability summary of a heartbeat. {AVAILABILITY_NOTE}",
        HEARTBEAT_ID,
        *FROM_TO,
        read=True,
        title="Heartbeat availability",
    ),
    listing(HEARTBEAT_GROUP, "/api/v2/heartbeat-groups", "List heartbeat groups.", TEAM_FILTER),
    getting(
        HEARTBEAT_GROUP,
        "/api/v2/heartbeat-groups/{heartbeat_group_id}",
        "Get one heartbeat group.",
        HEARTBEAT_GROUP_ID,
    ),
    action(
        HEARTBEAT_GROUP,
        "list_heartbeats",
        "GET",
        "/api/v2/heartbeat-groups/{heartbeat_group_id}/heartbeats",
        "List the heartbeats in one heartbeat group.",
        HEARTBEAT_GROUP_ID,
        read=True,
        envelope="jsonapi_list",
        page=UPSTREAM_PAGES,
        title="List heartbeats in a group",
    ),
    creating(
        HEARTBEAT_GROUP,
        "/api/v2/heartbeat-groups",
        "Create a heartbeat group.",
        TEAM_OWNER,
        *GROUP_BODY,
    ),
    updating(
        HEARTBEAT_GROUP,
        "/api/v2/heartbeat-groups/{heartbeat_group_id}",
        "Rename, reorder, pause or resume a heartbeat group (paused applies to all members).",
        HEARTBEAT_GROUP_ID,
        *optional(GROUP_BODY),
    ),
    deleting(
        HEARTBEAT_GROUP,
        "/api/v2/heartbeat-groups/{heartbeat_group_id}",
        "Delete a heartbeat group permanently.",
        HEARTBEAT_GROUP_ID,
    ),
)
