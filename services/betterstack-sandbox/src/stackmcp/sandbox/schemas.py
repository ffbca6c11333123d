"""Attribute tables of the bigger resources: kind and create-time default of every field."""

from __future__ import annotations

from stackmcp.sandbox.fields import Field

__all__ = [
    "GROUP",
    "HEARTBEAT_FIELDS",
    "MONITOR_FIELDS",
    "NOTIFY",
    "POLICY_FIELDS",
    "STATUS_PAGE_FIELDS",
]

STR, INT, BOOL, LIST, DICT, IDSTR, ANY = "str", "int", "bool", "list", "dict", "idstr", "any"
NOTIFY = {
    "call": Field(BOOL, False),
    "sms": Field(BOOL, False),
    "email": Field(BOOL, True),
    "push": Field(BOOL, True),
    "critical_alert": Field(BOOL, False),
}
MAINTENANCE = {
    "maintenance_from": Field(STR),
    "maintenance_to": Field(STR),
    "maintenance_timezone": Field(STR, "UTC"),
    "maintenance_days": Field(LIST, []),
}
GROUP = {"name": Field(STR), "sort_index": Field(INT), "paused": Field(BOOL, False)}

MONITOR_FIELDS = {
    "url": Field(STR),
    "pronounceable_name": Field(STR),
    "monitor_type": Field(STR, "status"),
    "monitor_group_id": Field(INT),
    "policy_id": Field(IDSTR),
    "expiration_policy_id": Field(INT),
    "required_keyword": Field(STR),
    "expected_status_codes": Field(LIST, []),
    "verify_ssl": Field(BOOL, True),
    "check_frequency": Field(INT, 30),
    **NOTIFY,
    "team_wait": Field(INT),
    "http_method": Field(STR, "get"),
    "request_timeout": Field(INT, 30),
    "recovery_period": Field(INT, 180),
    "confirmation_period": Field(INT, 0),
    "request_headers": Field(LIST, []),
    "request_body": Field(STR, ""),
    "auth_username": Field(STR, ""),
    "auth_password": Field(STR, ""),
    "follow_redirects": Field(BOOL, True),
    "remember_cookies": Field(BOOL, True),
    "port": Field(STR),
    "regions": Field(LIST, ["us", "eu", "as", "au"]),
    "ip_version": Field(STR),
    "proxy_host": Field(STR),
    "proxy_port": Field(INT),
    **MAINTENANCE,
    "ssl_expiration": Field(INT),
    "domain_expiration": Field(INT),
    "playwright_script": Field(STR),
    "scenario_name": Field(STR),
    "environment_variables": Field(DICT, {}),
    "paused": Field(BOOL, False),
}
HEARTBEAT_FIELDS = {
    "name": Field(STR),
    "period": Field(INT),
    "grace": Field(INT),
    **NOTIFY,
    "team_wait": Field(INT),
    "heartbeat_group_id": Field(INT),
    "sort_index": Field(INT),
    "paused": Field(BOOL, False),
    **MAINTENANCE,
    "policy_id": Field(IDSTR),
    "server_timezone": Field(STR, "UTC"),
}
POLICY_FIELDS = {
    "name": Field(STR),
    "repeat_count": Field(INT, 0),
    "repeat_delay": Field(INT, 0),
    "incident_token": Field(STR),
    "policy_group_id": Field(INT),
    "fallback_policy_id": Field(INT),
    "steps": Field(LIST, []),
}
STATUS_PAGE_FIELDS = {
    "company_name": Field(STR),
    "company_url": Field(STR),
    "contact_url": Field(STR),
    "logo_url": Field(STR),
    "dark_logo_url": Field(STR),
    "whitelabeled": Field(BOOL, False),
    "timezone": Field(STR, "UTC"),
    "subdomain": Field(STR),
    "custom_domain": Field(STR),
    "min_incident_length": Field(INT, 0),
    "subscribable": Field(BOOL, False),
    "published": Field(BOOL, True),
    "hide_from_search_engines": Field(BOOL, False),
    "custom_css": Field(STR),
    "custom_javascript": Field(STR),
    "google_analytics_id": Field(STR),
    "announcement": Field(STR),
    "announcement_embed_visible": Field(BOOL, False),
    "announcement_embed_link": Field(STR),
    "announcement_embed_css": Field(STR),
    "password_enabled": Field(BOOL, False),
    "password": Field(STR),
    "require_sso": Field(BOOL, False),
    "history": Field(INT, 90),
    "design": Field(STR, "v2"),
    "theme": Field(STR, "light"),
    "layout": Field(STR, "vertical"),
    "automatic_reports": Field(BOOL, False),
    "status_page_group_id": Field(INT),
    "navigation_links": Field(LIST, []),
    "ip_allowlist": Field(LIST, []),
}
