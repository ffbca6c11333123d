"""The MCP server record as stored in Redis (provisioning writes it, expiry purges it).

A server is stored twice on purpose: its :class:`~stackmcp.contracts.grants.Grant` under the URL
token's hash (what the gateway resolves on every request) and this record under the server id
(what the admin API lists and the expiry service purges). The record holds the token's hash, never
the token.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from stackmcp.contracts._base import Message
from stackmcp.contracts.grants import Grant

__all__ = [
    "SERVER_EXPIRES_FIELD",
    "SERVER_RECORD_FIELD",
    "SERVER_STATUSES",
    "EndedGrant",
    "McpServerRecord",
    "ServerStatus",
]

ServerStatus = Literal["active", "expired", "revoked"]
SERVER_STATUSES: tuple[str, ...] = ("active", "expired", "revoked")

SERVER_RECORD_FIELD = "record"
"""Field of the :meth:`RedisKeys.mcp_server` hash holding the JSON :class:`McpServerRecord`."""
SERVER_EXPIRES_FIELD = "expires_at"
"""Field of the same hash holding ``expires_at`` as Unix seconds (absent without expiry), so a
Redis script can decide "is it due" without decoding JSON."""


class McpServerRecord(Message, frozen=True, kw_only=True, tag="stackmcp.mcp_server.v1.record"):
    """One MCP server: its grant, the hash of its URL token, and when it last changed."""

    grant: Grant
    token_hash: str
    """:func:`~stackmcp.contracts.tokens.hash_token` of the URL token."""
    updated_at: datetime
    status: ServerStatus = "active"
    """``expired`` or ``revoked`` servers stay listed for the history retention; their grant
    is gone, so their URL is refused."""
    ended_at: datetime | None = None
    """When it was revoked or expired."""
    ended_by: str | None = None
    """The operator who revoked it, or ``expiry``."""
    created_by: str | None = None
    """The operator who created it."""

    @property
    def id(self) -> str:
        """The server id (``grant.server_id``)."""
        return self.grant.server_id


class EndedGrant(Message, frozen=True, kw_only=True, tag="stackmcp.mcp_server.v1.ended_grant"):
    """What a revoked or expired URL was (under :meth:`RedisKeys.ended_grant`): lets a gateway
    record *why* it refused a request for a server that no longer exists."""

    server_id: str
    account_id: str
    name: str = ""
    status: Literal["expired", "revoked"]
    ended_at: datetime
    ended_by: str | None = None
