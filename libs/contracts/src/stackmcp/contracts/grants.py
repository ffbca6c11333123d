"""The grant: what one MCP server URL may do, as stored in Redis and carried in events."""

from __future__ import annotations

from datetime import datetime

from stackmcp.contracts._base import Message

__all__ = ["Grant"]


class Grant(Message, frozen=True, kw_only=True, tag="stackmcp.grant.v1"):
    """Scope of one MCP server: which account, which tools, until when."""

    server_id: str
    account_id: str
    integration: str = "betterstack"
    name: str = ""
    methods: tuple[str, ...] = ("read",)
    """``read``, ``write``, ``custom`` or exact method names."""
    tags: tuple[str, ...] = ()
    """Any-of tag filter; empty means no tag restriction."""
    require_api_token_auth: bool = False
    """When true, calls also need ``Authorization: Bearer <api token>``."""
    expires_at: datetime | None = None
    """The grant is refused from this instant on, whatever has been purged."""
    created_at: datetime | None = None

    def is_expired(self, now: datetime) -> bool:
        """Whether the grant is past ``expires_at`` at ``now`` (timezone-aware)."""
        return self.expires_at is not None and now >= self.expires_at
