"""What the admin API answers: response bodies, built from stored records.

Nothing here ever carries a Better Stack credential or a token hash; the URL token and API
token appear only in the ``Created*`` views, answered once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from stackmcp.contracts.accounts import AccountRecord
from stackmcp.contracts.apitokens import ApiTokenRecord
from stackmcp.contracts.errors import ErrorBody
from stackmcp.contracts.servers import McpServerRecord

__all__ = [
    "AccountList",
    "AccountView",
    "ApiTokenList",
    "ApiTokenView",
    "CreatedApiTokenView",
    "CreatedServerView",
    "ErrorView",
    "ServerConfigView",
    "ServerList",
    "ServerView",
    "account_view",
    "api_token_view",
    "server_view",
]


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


class ServerConfigView(_View, frozen=True, kw_only=True):
    """Which tools a server exposes and whether it needs an API token too."""

    methods: list[str]
    tags: list[str]
    require_api_token_auth: bool


class ServerView(_View, frozen=True, kw_only=True):
    """An MCP server (its URL is shown only when created)."""

    id: str
    account_id: str
    name: str
    config: ServerConfigView
    expires_at: datetime | None
    status: str
    """``active``, or ``expired`` while waiting to be purged."""
    tool_count: int | None
    """Tools the filter exposes (``null`` when the catalogue is momentarily unavailable)."""
    created_at: datetime | None
    updated_at: datetime


class CreatedServerView(ServerView, frozen=True, kw_only=True):
    """A server just minted: the only answer that carries its URL."""

    url: str
    client_config: dict[str, Any]


class ApiTokenView(_View, frozen=True, kw_only=True):
    """An API token (the token itself is shown only when created)."""

    id: str
    name: str
    created_at: datetime


class CreatedApiTokenView(ApiTokenView, frozen=True, kw_only=True):
    """An API token just created: the only answer that carries the token."""

    token: str


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


def server_view(record: McpServerRecord, now: datetime, tool_count: int | None) -> ServerView:
    """The public view of an MCP server."""
    grant = record.grant
    return ServerView(
        id=grant.server_id,
        account_id=grant.account_id,
        name=grant.name,
        config=ServerConfigView(
            methods=list(grant.methods),
            tags=list(grant.tags),
            require_api_token_auth=grant.require_api_token_auth,
        ),
        expires_at=grant.expires_at,
        status="expired" if grant.is_expired(now) else "active",
        tool_count=tool_count,
        created_at=grant.created_at,
        updated_at=record.updated_at,
    )


def api_token_view(record: ApiTokenRecord) -> ApiTokenView:
    """The public view of an API token."""
    return ApiTokenView(id=record.id, name=record.name, created_at=record.created_at)
