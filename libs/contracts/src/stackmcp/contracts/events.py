"""Lifecycle events published on JetStream (``<prefix>.evt.*``)."""

from __future__ import annotations

from datetime import datetime

from stackmcp.contracts._base import Event
from stackmcp.contracts.grants import Grant

__all__ = [
    "AccountCreated",
    "AccountDeleted",
    "AccountUpdated",
    "ApiTokenCreated",
    "ApiTokenRevoked",
    "LifecycleEvent",
    "McpServerCreated",
    "McpServerDeleted",
    "McpServerExpired",
    "McpServerRotated",
    "McpServerUpdated",
]


class AccountCreated(Event, frozen=True, kw_only=True, tag="stackmcp.account.v1.created"):
    """An integrated account was connected."""

    account_id: str
    integration: str = "betterstack"
    name: str = ""


class AccountDeleted(Event, frozen=True, kw_only=True, tag="stackmcp.account.v1.deleted"):
    """An integrated account was removed; its MCP servers are revoked with it."""

    account_id: str
    server_ids: tuple[str, ...] = ()


class AccountUpdated(Event, frozen=True, kw_only=True, tag="stackmcp.account.v1.updated"):
    """An integrated account was renamed or got a new Better Stack token; workers drop their
    cached copy at once (the token itself never travels)."""

    account_id: str
    name: str = ""


class McpServerCreated(Event, frozen=True, kw_only=True, tag="stackmcp.mcp_server.v1.created"):
    """An MCP server (grant) was minted."""

    grant: Grant
    token_hash: str
    """Hash of the URL token; lets gateways drop exactly this cached grant."""


class McpServerUpdated(Event, frozen=True, kw_only=True, tag="stackmcp.mcp_server.v1.updated"):
    """An MCP server's name, filters or expiry changed."""

    grant: Grant
    token_hash: str


class McpServerRotated(Event, frozen=True, kw_only=True, tag="stackmcp.mcp_server.v1.rotated"):
    """An MCP server got a new URL token: same server id and grant, the old URL refused."""

    grant: Grant
    token_hash: str
    """Hash of the new URL token."""
    previous_token_hash: str
    """Hash of the URL token it replaced; lets gateways drop that cached grant and end the old
    URL's open streams."""


class McpServerDeleted(Event, frozen=True, kw_only=True, tag="stackmcp.mcp_server.v1.deleted"):
    """An MCP server was revoked."""

    server_id: str
    account_id: str
    token_hash: str


class McpServerExpired(Event, frozen=True, kw_only=True, tag="stackmcp.mcp_server.v1.expired"):
    """An MCP server passed ``expires_at`` and was purged."""

    server_id: str
    account_id: str
    token_hash: str
    expired_at: datetime
    name: str = ""
    """The server's name (for the audit record of the expiry)."""


class ApiTokenCreated(Event, frozen=True, kw_only=True, tag="stackmcp.api_token.v1.created"):
    """An API token was created (the token itself never travels)."""

    token_id: str
    name: str = ""


class ApiTokenRevoked(Event, frozen=True, kw_only=True, tag="stackmcp.api_token.v1.revoked"):
    """An API token was revoked; gateways stop accepting it at once."""

    token_hash: str
    """Hash of the revoked token; lets gateways drop exactly this cached token."""
    token_id: str = ""


LifecycleEvent = (
    AccountCreated
    | AccountDeleted
    | AccountUpdated
    | McpServerCreated
    | McpServerUpdated
    | McpServerRotated
    | McpServerDeleted
    | McpServerExpired
    | ApiTokenCreated
    | ApiTokenRevoked
)
"""Every event type; decode with ``msgspec.json.Decoder(LifecycleEvent)``."""
