"""What the admin API answers: response bodies, built from stored records.

Nothing here ever carries a Better Stack credential or a token hash (a server's ``fingerprint``
is the first 8 hex characters of its token's hash, enough to tell servers apart, useless to
reach one); the URL token, API token and admin token appear only in the ``Created*`` views,
answered once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from stackmcp.contracts.accounts import AccountRecord
from stackmcp.contracts.apitokens import ApiTokenRecord
from stackmcp.contracts.errors import ErrorBody
from stackmcp.contracts.grants import Grant
from stackmcp.contracts.policy import Exposure
from stackmcp.contracts.servers import McpServerRecord
from stackmcp.contracts.usage import Usage
from stackmcp.provisioning.admintokens import AdminTokenRecord
from stackmcp.provisioning.serverconfig import budget_map, pin_map

__all__ = [
    "FINGERPRINT_LENGTH",
    "AccountList",
    "AccountView",
    "AdminTokenList",
    "AdminTokenView",
    "ApiTokenList",
    "ApiTokenView",
    "CreatedAdminTokenView",
    "CreatedApiTokenView",
    "CreatedServerView",
    "ErrorView",
    "ServerConfigView",
    "ServerList",
    "ServerView",
    "account_view",
    "admin_token_view",
    "api_token_view",
    "config_view",
    "server_status",
    "server_view",
    "url_fingerprint",
]


FINGERPRINT_LENGTH = 8
"""Hex characters of the token hash shown as a server's ``fingerprint``."""


def url_fingerprint(token_hash: str) -> str:
    """What tells a server's URL apart from others' without revealing it: the first 8 hex
    characters of the stored token hash (shown e.g. as ``fp 3f8ff961``). A rotated server gets
    a new one."""
    return token_hash[:FINGERPRINT_LENGTH]


class _View(msgspec.Struct, frozen=True, kw_only=True):
    pass


class AccountView(_View, frozen=True, kw_only=True):
    """An integrated account (the Better Stack token is never returned)."""

    id: str
    integration: str
    name: str
    base_url: str
    team_name: str | None
    created_at: datetime
    mcp_server_count: int
    """Active MCP servers (revoked and expired ones kept for history are not counted)."""


class ServerConfigView(_View, frozen=True, kw_only=True):
    """Which tools a server exposes, on what terms, and whether it needs an API token too."""

    methods: list[str]
    tags: list[str]
    require_api_token_auth: bool
    exclude_tags: list[str]
    exclude_tools: list[str]
    confirm: str
    """``none``, ``destructive`` or ``writes``: which calls wait for a person's confirmation."""
    budgets: dict[str, str]
    """Target (tool name, ``read``, ``write`` or method) → calls per window, e.g. ``"3/h"``."""
    pin: dict[str, list[str]]
    """An id parameter → the only values it may take."""
    reveal_secrets: bool
    provenance: bool
    tool_exposure: str = "all"
    """``all`` (every tool in ``tools/list``) or ``discovery`` (three meta-tools)."""


class ServerView(_View, frozen=True, kw_only=True):
    """An MCP server (its URL is shown only when created)."""

    id: str
    account_id: str
    name: str
    config: ServerConfigView
    expires_at: datetime | None
    status: str
    """``active``, ``expired`` (past ``expires_at``, purged or not yet) or ``revoked``."""
    ended_at: datetime | None
    """When it was revoked or expiry purged it (``null`` while active)."""
    ended_by: str | None
    """The operator who revoked it, or ``expiry``."""
    created_by: str | None
    """The operator who created it (``null`` for servers created before operators were named)."""
    fingerprint: str
    """The first 8 hex characters of the URL token's hash: tells servers apart in logs and
    listings without revealing anything that reaches the server."""
    tool_count: int | None
    """Tools the server exposes (``null`` when the catalogue is momentarily unavailable)."""
    withheld: dict[str, str] | None
    """Tools its methods and tags match but its exclusions or pins withhold → why (``null``
    when the catalogue is momentarily unavailable)."""
    created_at: datetime | None
    updated_at: datetime
    last_used_at: datetime | None
    """When a gateway last served a request of it (``null``: not in the last three days)."""
    calls_24h: int
    """Tool calls in the last 24 hours (the current hour included)."""
    errors_24h: int
    """Of those, the calls that did not end ``ok``."""


class CreatedServerView(ServerView, frozen=True, kw_only=True):
    """A server just minted (or its URL rotated): the only answer that carries its URL."""

    url: str
    client_config: dict[str, Any]
    warnings: list[str] = msgspec.field(default_factory=list)
    """Things the operator should know, e.g. another active server of the account has the
    same name."""


class ApiTokenView(_View, frozen=True, kw_only=True):
    """An API token (the token itself is shown only when created)."""

    id: str
    name: str
    created_at: datetime


class CreatedApiTokenView(ApiTokenView, frozen=True, kw_only=True):
    """An API token just created: the only answer that carries the token."""

    token: str


class AdminTokenView(_View, frozen=True, kw_only=True):
    """A named admin token (the token itself is shown only when created)."""

    id: str
    name: str
    """The operator name every change made with it is recorded under."""
    created_at: datetime
    created_by: str


class CreatedAdminTokenView(AdminTokenView, frozen=True, kw_only=True):
    """A named admin token just created: the only answer that carries the token."""

    token: str


class AdminTokenList(_View, frozen=True, kw_only=True):
    """``GET /admin-token``."""

    items: list[AdminTokenView]


class AccountList(_View, frozen=True, kw_only=True):
    """``GET /integrated-account``."""

    items: list[AccountView]


class ServerList(_View, frozen=True, kw_only=True):
    """``GET /integrated-account/{id}/mcp``."""

    items: list[ServerView]


class ApiTokenList(_View, frozen=True, kw_only=True):
    """``GET /api-token``."""

    items: list[ApiTokenView]


class ErrorView(_View, frozen=True, kw_only=True):
    """Every non-2xx answer."""

    error: ErrorBody


def account_view(record: AccountRecord, server_count: int) -> AccountView:
    """The public view of an account."""
    return AccountView(
        id=record.id,
        integration=record.integration,
        name=record.name,
        base_url=record.base_url,
        team_name=record.team_name,
        created_at=record.created_at,
        mcp_server_count=server_count,
    )


def server_status(record: McpServerRecord, now: datetime) -> str:
    """``revoked`` or ``expired`` as stored; an active server past ``expires_at`` that expiry
    has not purged yet is ``expired`` too (its URL is refused already)."""
    if record.status != "active":
        return record.status
    return "expired" if record.grant.is_expired(now) else "active"


def config_view(grant: Grant) -> ServerConfigView:
    """A grant's configuration as the API writes it."""
    return ServerConfigView(
        methods=list(grant.methods),
        tags=list(grant.tags),
        require_api_token_auth=grant.require_api_token_auth,
        exclude_tags=list(grant.exclude_tags),
        exclude_tools=list(grant.exclude_tools),
        confirm=grant.confirm,
        budgets=budget_map(grant.budgets),
        pin=pin_map(grant.pin),
        reveal_secrets=grant.reveal_secrets,
        provenance=grant.provenance,
        tool_exposure=grant.tool_exposure,
    )


def server_view(
    record: McpServerRecord,
    now: datetime,
    exposure: Exposure | None,
    usage: Usage | None = None,
) -> ServerView:
    """The public view of an MCP server; ``exposure`` from ``Provisioner.exposure`` (none: the
    catalogue is unavailable), ``usage`` from ``Provisioner.usage`` (none: zeros)."""
    grant = record.grant
    usage = usage or Usage()
    return ServerView(
        id=grant.server_id,
        account_id=grant.account_id,
        name=grant.name,
        config=config_view(grant),
        expires_at=grant.expires_at,
        status=server_status(record, now),
        ended_at=record.ended_at,
        ended_by=record.ended_by,
        created_by=record.created_by,
        fingerprint=url_fingerprint(record.token_hash),
        tool_count=None if exposure is None else len(exposure.tools),
        withheld=None if exposure is None else dict(exposure.withheld),
        created_at=grant.created_at,
        updated_at=record.updated_at,
        last_used_at=usage.last_used_at,
        calls_24h=usage.calls_24h,
        errors_24h=usage.errors_24h,
    )


def api_token_view(record: ApiTokenRecord) -> ApiTokenView:
    """The public view of an API token."""
    return ApiTokenView(id=record.id, name=record.name, created_at=record.created_at)


def admin_token_view(record: AdminTokenRecord) -> AdminTokenView:
    """The public view of a named admin token (never its hash)."""
    return AdminTokenView(
        id=record.id, name=record.name, created_at=record.created_at, created_by=record.created_by
    )
