"""API tokens: the installation-wide second factor some MCP servers require.

Provisioning stores one :class:`ApiTokenRecord` per token under :meth:`RedisKeys.api_token`
(keyed by the token's hash) and adds the hash to :attr:`RedisKeys.api_tokens`. The token itself
(prefix :data:`~stackmcp.contracts.tokens.API_TOKEN_PREFIX`) is shown once and never stored.
"""

from __future__ import annotations

from datetime import datetime

from stackmcp.contracts._base import Message

__all__ = ["ApiTokenRecord"]


class ApiTokenRecord(Message, frozen=True, kw_only=True, tag="stackmcp.api_token.v1.record"):
    """One API token, valid for every MCP server that requires API-token auth."""

    id: str
    name: str
    """Operator-chosen label, e.g. ``ci``."""
    token_hash: str
    """:func:`~stackmcp.contracts.tokens.hash_token` of the token (hex SHA-256)."""
    created_at: datetime
    last_used_at: datetime | None = None
