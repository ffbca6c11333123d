"""Demo status pages: sections, resources, an open incident report and a planned maintenance."""

from __future__ import annotations

import datetime as dt
from typing import Any

from stackmcp.sandbox import clock
from stackmcp.sandbox.config import TEAM_NAME
from stackmcp.sandbox.secrets import SECRET_MARK
from stackmcp.sandbox.state import SandboxState

__all__ = ["seed_status_pages"]

HOUR = dt.timedelta(hours=1)


def _page(now: dt.datetime, name: str, subdomain: str, group: int | None) -> dict[str, Any]:
    stamp = clock.iso(now - 120 * 24 * HOUR)
    return {
        "company_name": name,
        "company_url": "https://www.example.com",
        "contact_url": "mailto:support@example.com",
        "logo_url": None,
        "dark_logo_url": None,
        "whitelabeled": False,
        "timezone": "UTC",
        "subdomain": subdomain,
        "custom_domain": None,
        "min_incident_length": 0,
        "subscribable": True,
        "published": True,
        "hide_from_search_engines": False,
        "custom_css": None,
        "custom_javascript": None,
        "google_analytics_id": None,
        "announcement": None,
        "announcement_embed_visible": False,
        "announcement_embed_link": None,
        "announcement_embed_css": None,
        "password_enabled": False,
        "password": None,
        "require_sso": False,
        "history": 90,
        "design": "v2",
        "theme": "light",
        "layout": "vertical",
        "automatic_reports": False,
        "status_page_group_id": group,
        "navigation_links": [],
        "ip_allowlist": [],
        "team_name": TEAM_NAME,
        "created_at": stamp,
        "updated_at": stamp,
    }


def _resource(page: int, section: int, position: int, name: str, monitor: int) -> dict[str, Any]:
    return {
        "status_page_id": page,
        "status_page_section_id": section,
        "resource_id": monitor,
        "resource_type": "Monitor",
        "public_name": name,
        "explanation": "",
        "history": True,
        "widget_type": "history",
        "position": position,
        "fixed_position": False,
        "mark_as_down_for": None,
        "mark_as_down_metadata_rule": None,
        "mark_as_degraded_for": None,
        "mark_as_degraded_metadata_rule": None,
    }


def _update(
    report: int, page: int, message: str, at: dt.datetime, affected: list[dict[str, str]]
) -> dict[str, Any]:
    return {
        "message": message,
        "published_at": clock.iso(at),
        "published_at_timezone": "UTC",
        "notify_subscribers": True,
        "status_report_id": report,
        "affected_resources": affected,
        "_status_page_id": page,
    }


def seed_status_pages(state: SandboxState, now: dt.datetime) -> None:
    """Insert status page group 1, pages 1-2 (2 password-protected), sections 1-3, resources
    1-4, reports 1-2."""
    store = state.store
    store["status_page_groups"].insert(
        {
            "name": "Public pages",
            "sort_index": 0,
            "team_name": TEAM_NAME,
            "created_at": clock.iso(now),
            "updated_at": clock.iso(now),
        }
    )
    store["status_pages"].insert(_page(now, "Stackmcp Demo", "stackmcp-demo", 1))
    internal = _page(now, "Stackmcp Internal", "stackmcp-internal", None)
    internal.update(password_enabled=True, password=f"{SECRET_MARK}status-page-password")
    store["status_pages"].insert(internal)
    for page, name, position in ((1, "Core services", 0), (1, "Website", 1), (2, "", 0)):
        store["status_page_sections"].insert(
            {
                "name": name,
                "position": position,
                "fixed_position": False,
                "status_page_id": page,
                "created_at": clock.iso(now),
                "updated_at": clock.iso(now),
            }
        )
    for args in (
        (1, 1, 0, "Checkout", 1),
        (1, 1, 1, "Payments", 2),
        (1, 1, 2, "Login", 3),
        (1, 2, 0, "Website", 4),
    ):
        store["status_page_resources"].insert(_resource(*args))
    started = now - 18 * dt.timedelta(minutes=1)
    affected = [{"status_page_resource_id": "1", "status": "downtime"}]
    store["status_reports"].insert(
        {
            "title": "Checkout unavailable",
            "report_type": "manual",
            "starts_at": clock.iso(started),
            "ends_at": None,
            "status_page_id": 1,
            "affected_resources": affected,
            "published_at": clock.iso(started),
        }
    )
    store["status_updates"].insert(
        _update(1, 1, "We are investigating failed checkouts.", started, affected)
    )
    store["status_updates"].insert(
        _update(
            1,
            1,
            "A faulty deploy was identified and rolled back.",
            now - 8 * dt.timedelta(minutes=1),
            affected,
        )
    )
    window = clock.start_of_day(now) + 3 * 24 * HOUR + 2 * HOUR
    planned = [{"status_page_resource_id": "2", "status": "maintenance"}]
    store["status_reports"].insert(
        {
            "title": "Payments database maintenance",
            "report_type": "maintenance",
            "starts_at": clock.iso(window),
            "ends_at": clock.iso(window + 2 * HOUR),
            "status_page_id": 1,
            "affected_resources": planned,
            "published_at": clock.iso(now - 24 * HOUR),
        }
    )
    store["status_updates"].insert(
        _update(2, 1, "Planned maintenance of the payments database.", now - 24 * HOUR, planned)
    )
