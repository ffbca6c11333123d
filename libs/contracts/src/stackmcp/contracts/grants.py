"""The grant: what one MCP server URL may do, as stored in Redis and carried in events."""

from __future__ import annotations

import math
from datetime import datetime

from stackmcp.contracts._base import Message

__all__ = ["Grant", "grant_key_ttl"]


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


def grant_key_ttl(grant: Grant, now: datetime) -> int | None:
    """Seconds of Redis key expiry for ``grant`` stored at ``now``, or ``None`` without expiry.

    Rounded up to whole seconds (and at least 1), so the key never disappears before
    ``expires_at``: the key expiry is the safety net, the gateway's own clock check is the rule.
    """
    if grant.expires_at is None:
        return None
    return max(1, math.ceil((grant.expires_at - now).total_seconds()))
