"""Status pages, status-page groups, sections and resources (v2)."""

from __future__ import annotations

from stackmcp.betterstack_worker.api._common import (
    TEAM_OWNER,
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
    s,
    str_id,
    updating,
)
from stackmcp.betterstack_worker.api.model import Operation, Param, Resource

__all__ = ["OPERATIONS", "STATUS_PAGE", "STATUS_PAGE_ID"]

STATUS_PAGE = Resource(
    singular="status_page", plural="status_pages", tags=("status_pages",), label="status page"
)
GROUP = Resource(
    singular="status_page_group",
    plural="status_page_groups",
    tags=("status_pages",),
    label="status page group",
)
SECTION = Resource(
    singular="status_page_section",
    plural="status_page_sections",
    tags=("status_pages",),
    label="status page section",
)
RESOURCE = Resource(
    singular="status_page_resource",
    plural="status_page_resources",
    tags=("status_pages",),
    label="status page resource",
)

STATUS_PAGE_ID = path_id("status_page_id", "From list_all_better_stack_status_pages.")
GROUP_ID = path_id("status_page_group_id", "From list_all_better_stack_status_page_groups.")
SECTION_ID = path_id("section_id", "From list_all_better_stack_status_page_sections.")
RESOURCE_ID = path_id(
    "status_page_resource_id",
    "From list_all_better_stack_status_page_resources.",
)

PAGE_BODY: tuple[Param, ...] = (
    s("company_name", "", required=True),
    s("company_url", "", required=True, format="uri"),
    s("subdomain", "Globally unique.", required=True),
    s("timezone", "E.g. UTC or Prague.", required=True),
    s("contact_url", "Where visitors can get support.", format="uri"),
    s("logo_url", "", format="uri"),
    s("dark_logo_url", "", format="uri"),
    b("whitelabeled", "Hide the Better Stack branding."),
    s("custom_domain", ""),
    i("min_incident_length", "Seconds an incident must last to be shown.", minimum=0),
    b("subscribable", ""),
    b("published", ""),
    b("hide_from_search_engines", ""),
    s("custom_css", ""),
    s("custom_javascript", ""),
    s("google_analytics_id", ""),
    s("announcement", "Banner text; empty removes it."),
    b("announcement_embed_visible", ""),
    s("announcement_embed_link", "", format="uri"),
    s("announcement_embed_css", ""),
    b("password_enabled", ""),
    s("password", "Write-only."),
    b("require_sso", ""),
    i("history", "Days of history shown.", minimum=7, maximum=365),
    s("design", "", enum=("v1", "v2")),
    s("theme", "", enum=("light", "dark")),
    s("layout", "", enum=("vertical", "horizontal")),
    b("automatic_reports", "Publish reports automatically for monitor incidents."),
    int_id("status_page_group_id", "Status page group id.", nullable=True),
    arr(
        "navigation_links",
        "",
        obj("link", "One link.", s("text", "Link text."), s("href", "Target URL.", format="uri")),
    ),
    arr("ip_allowlist", "Only these IPs/CIDRs may view the page.", s("ip", "IP or CIDR.")),
)
SECTION_BODY = (
    s("name", "Section heading; empty hides the heading."),
    i("position", "0-based; inserting shifts the following ones.", minimum=0),
    b("fixed_position", ""),
)
RESOURCE_BODY = (
    s(
        "resource_type",
        "Kind of tracked item; ManuallyTrackedItem needs no resource_id.",
        required=True,
        enum=(
            "ManuallyTrackedItem",
            "Monitor",
            "MonitorGroup",
            "Heartbeat",
            "HeartbeatGroup",
            "WebhookIntegration",
            "EmailIntegration",
            "IncomingWebhook",
            "ResourceGroup",
            "LogsChart",
            "CatalogReference",
        ),
    ),
    str_id("resource_id", "Id of the monitor, heartbeat, ... shown; send with resource_type."),
    s("public_name", "Name shown to visitors.", required=True),
    int_id("status_page_section_id", "Section id (default: the first section)."),
    s(
        "widget_type",
        "",
        enum=("plain", "history", "intraday_history", "response_times", "chart_only"),
    ),
    s("explanation", "Help text shown next to the item."),
    i("position", "0-based, within the section.", minimum=0),
    b("fixed_position", ""),
    s("mark_as_down_for", "Duration after which the item shows as down."),
    obj("mark_as_down_metadata_rule", ""),
    s("mark_as_degraded_for", "Duration after which the item shows as degraded."),
    obj("mark_as_degraded_metadata_rule", ""),
)

OPERATIONS: tuple[Operation, ...] = (
    listing(
        STATUS_PAGE,
        "/api/v2/status-pages",
        "List status pages with their subdomain, custom domain and aggregate_state "
        "(operational, degraded, downtime, maintenance).",
    ),
    getting(
        STATUS_PAGE, "/api/v2/status-pages/{status_page_id}", "Get one status page.", STATUS_PAGE_ID
    ),
    creating(
        STATUS_PAGE,
        "/api/v2/status-pages",
        "Create a status page; add sections and resources to it afterwards.",
        TEAM_OWNER,
        *PAGE_BODY,
    ),
    updating(
        STATUS_PAGE,
        "/api/v2/status-pages/{status_page_id}",
        "Change a status page's settings or announcement.",
        STATUS_PAGE_ID,
        *optional(PAGE_BODY),
    ),
    deleting(
        STATUS_PAGE,
        "/api/v2/status-pages/{status_page_id}",
        "Delete a status page permanently; its public URL stops working.",
        STATUS_PAGE_ID,
    ),
    listing(GROUP, "/api/v2/status-page-groups", "List status page groups."),
    getting(
        GROUP,
        "/api/v2/status-page-groups/{status_page_group_id}",
        "Get one status page group.",
        GROUP_ID,
    ),
    action(
        GROUP,
        "list_status_pages",
        "GET",
        "/api/v2/status-page-groups/{status_page_group_id}/status-pages",
        "List the status pages in one status page group.",
        GROUP_ID,
        read=True,
        envelope="jsonapi_list",
        page=UPSTREAM_PAGES,
        title="List status pages in a group",
    ),
    creating(
        GROUP,
        "/api/v2/status-page-groups",
        "Create a status page group.",
        TEAM_OWNER,
        s("name", "", required=True),
        i("sort_index", "", nullable=True),
    ),
    updating(
        GROUP,
        "/api/v2/status-page-groups/{status_page_group_id}",
        "Rename or reorder a status page group.",
        GROUP_ID,
        s("name", ""),
        i("sort_index", "", nullable=True),
    ),
    deleting(
        GROUP,
        "/api/v2/status-page-groups/{status_page_group_id}",
        "Delete a status page group permanently.",
        GROUP_ID,
    ),
    listing(
        SECTION,
        "/api/v2/status-pages/{status_page_id}/sections",
        "List the sections of one status page, with name and position.",
        STATUS_PAGE_ID,
    ),
    getting(
        SECTION,
        "/api/v2/status-pages/{status_page_id}/sections/{section_id}",
        "Get one section of a status page.",
        STATUS_PAGE_ID,
        SECTION_ID,
    ),
    creating(
        SECTION,
        "/api/v2/status-pages/{status_page_id}/sections",
        "Add a section to a status page.",
        STATUS_PAGE_ID,
        *SECTION_BODY,
    ),
    updating(
        SECTION,
        "/api/v2/status-pages/{status_page_id}/sections/{section_id}",
        "Rename or move a section of a status page.",
        STATUS_PAGE_ID,
        SECTION_ID,
        *SECTION_BODY,
    ),
    deleting(
        SECTION,
        "/api/v2/status-pages/{status_page_id}/sections/{section_id}",
        "Remove a section from a status page permanently.",
        STATUS_PAGE_ID,
        SECTION_ID,
    ),
    listing(
        RESOURCE,
        "/api/v2/status-pages/{status_page_id}/resources",
        "List the items shown on one status page (monitors, heartbeats, manual items) with "
        "their public name, current status and availability.",
        STATUS_PAGE_ID,
    ),
    getting(
        RESOURCE,
        "/api/v2/status-pages/{status_page_id}/resources/{status_page_resource_id}",
        "Get one item of a status page, with its status history.",
        STATUS_PAGE_ID,
        RESOURCE_ID,
    ),
    creating(
        RESOURCE,
        "/api/v2/status-pages/{status_page_id}/resources",
        "Show a monitor, heartbeat or manual item on a status page.",
        STATUS_PAGE_ID,
        *RESOURCE_BODY,
    ),
    updating(
        RESOURCE,
        "/api/v2/status-pages/{status_page_id}/resources/{status_page_resource_id}",
        "Change how an item is shown on a status page.",
        STATUS_PAGE_ID,
        RESOURCE_ID,
        *optional(RESOURCE_BODY),
    ),
    deleting(
        RESOURCE,
        "/api/v2/status-pages/{status_page_id}/resources/{status_page_resource_id}",
        "Remove an item from a status page permanently.",
        STATUS_PAGE_ID,
        RESOURCE_ID,
    ),
)
