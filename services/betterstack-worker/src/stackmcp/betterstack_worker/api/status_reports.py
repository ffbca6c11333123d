"""Status reports (incidents and maintenance published on a status page) and their updates."""

from __future__ import annotations

import msgspec

from stackmcp.betterstack_worker.api._common import (
    arr,
    b,
    creating,
    deleting,
    getting,
    listing,
    obj,
    optional,
    path_id,
    s,
    str_id,
    updating,
)
from stackmcp.betterstack_worker.api.model import Operation, Param, Resource
from stackmcp.betterstack_worker.api.status_pages import STATUS_PAGE_ID

__all__ = ["OPERATIONS"]

REPORT = Resource(
    singular="status_page_report",
    plural="status_page_reports",
    tags=("status_pages",),
    label="status page report",
)
UPDATE = Resource(
    singular="status_page_report_update",
    plural="status_page_report_updates",
    tags=("status_pages",),
    label="status page report update",
)

REPORT_ID = path_id("status_report_id", "From list_all_better_stack_status_page_reports.")
UPDATE_ID = path_id("status_update_id", "From list_all_better_stack_status_page_report_updates.")
BASE = "/api/v2/status-pages/{status_page_id}/status-reports"

AFFECTED = arr(
    "affected_resources",
    "Status of each affected item shown on the page.",
    obj(
        "affected",
        "One affected item.",
        str_id(
            "status_page_resource_id",
            "From list_all_better_stack_status_page_resources.",
            required=True,
        ),
        s(
            "status",
            "Its state; maintenance only in maintenance reports.",
            required=True,
            enum=("resolved", "degraded", "downtime", "maintenance"),
        ),
    ),
)
REPORT_TYPE = s(
    "report_type", "manual (an incident) or maintenance.", enum=("manual", "maintenance")
)
REPORT_BODY: tuple[Param, ...] = (
    s("title", "", required=True),
    s("message", "Text of the first update.", required=True),
    REPORT_TYPE,
    b("notify_subscribers", "E-mail the page's subscribers (default true)."),
    AFFECTED,
    s("published_at", "Default now.", format="date-time"),
    s("starts_at", "Default now.", format="date-time"),
    s("ends_at", "Required for maintenance.", format="date-time"),
)
UPDATE_BODY: tuple[Param, ...] = (
    s("message", "", required=True),
    b("notify_subscribers", "E-mail the page's subscribers (default false)."),
    AFFECTED,
    s("published_at", "Default now.", format="date-time"),
)

UPDATE_BODY_CREATE = tuple(
    msgspec.structs.replace(p, required=True) if p is AFFECTED else p for p in UPDATE_BODY
)

OPERATIONS: tuple[Operation, ...] = (
    listing(
        REPORT,
        BASE,
        "List the reports (incidents and maintenance) published on one status page, with "
        "title, type, start/end and affected items.",
        STATUS_PAGE_ID,
    ),
    getting(
        REPORT,
        BASE + "/{status_report_id}",
        "Get one status report with all its updates.",
        STATUS_PAGE_ID,
        REPORT_ID,
    ),
    creating(
        REPORT,
        BASE,
        "Publish a report (incident or planned maintenance) on a status page; by default "
        "this e-mails the page's subscribers.",
        STATUS_PAGE_ID,
        *REPORT_BODY,
        method_tags=("notifies",),
    ),
    updating(
        REPORT,
        BASE + "/{status_report_id}",
        "Change a status report's title, type, period or affected items.",
        STATUS_PAGE_ID,
        REPORT_ID,
        s("title", ""),
        REPORT_TYPE,
        AFFECTED,
        s("starts_at", "", format="date-time"),
        s("ends_at", "", format="date-time"),
        guess=True,
    ),
    deleting(
        REPORT,
        BASE + "/{status_report_id}",
        "Delete a status report and its updates from the status page permanently.",
        STATUS_PAGE_ID,
        REPORT_ID,
    ),
    listing(
        UPDATE,
        BASE + "/{status_report_id}/status-updates",
        "List the updates of one status report.",
        STATUS_PAGE_ID,
        REPORT_ID,
    ),
    getting(
        UPDATE,
        BASE + "/{status_report_id}/status-updates/{status_update_id}",
        "Get one update of a status report.",
        STATUS_PAGE_ID,
        REPORT_ID,
        UPDATE_ID,
    ),
    creating(
        UPDATE,
        BASE + "/{status_report_id}/status-updates",
        "Post a new update to a status report, e.g. to say the issue is resolved "
        "(affected_resources status resolved). Subscribers are e-mailed only if "
        "notify_subscribers is true.",
        STATUS_PAGE_ID,
        REPORT_ID,
        *UPDATE_BODY_CREATE,
    ),
    updating(
        UPDATE,
        BASE + "/{status_report_id}/status-updates/{status_update_id}",
        "Change the text or affected items of a status update.",
        STATUS_PAGE_ID,
        REPORT_ID,
        UPDATE_ID,
        *optional(UPDATE_BODY),
    ),
    deleting(
        UPDATE,
        BASE + "/{status_report_id}/status-updates/{status_update_id}",
        "Delete one update of a status report permanently.",
        STATUS_PAGE_ID,
        REPORT_ID,
        UPDATE_ID,
        guess=True,
    ),
)
