"""The grant: what one MCP server URL may do, as stored in Redis and carried in events."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Literal

import msgspec

from stackmcp.contracts._base import Message
from stackmcp.contracts.tagnames import TAG_ALIASES, canonical_tags

__all__ = [
    "CONFIRM_MODES",
    "TOOL_EXPOSURES",
    "Budget",
    "ConfirmMode",
    "Grant",
    "Pin",
    "ToolExposure",
    "grant_key_ttl",
]

ConfirmMode = Literal["none", "destructive", "writes"]
"""Which tool calls wait for a person's confirmation: none, destructive tools, or every write."""
CONFIRM_MODES: tuple[str, ...] = ("none", "destructive", "writes")
ToolExposure = Literal["all", "discovery"]
"""How ``tools/list`` shows a server's tools: all of them, or three meta-tools
(``search_tools``, ``get_tool_schema``, ``call_tool``) that reach the same tools."""
TOOL_EXPOSURES: tuple[str, ...] = ("all", "discovery")


class Budget(msgspec.Struct, frozen=True, kw_only=True):
    """At most ``limit`` calls per ``window`` seconds of the tools ``target`` names: a tool
    name, a method class (``read``, ``write``) or a method (``resolve``)."""

    target: str
    limit: int
    window: int


class Pin(msgspec.Struct, frozen=True, kw_only=True):
    """The only values the parameter ``param`` (e.g. ``incident_id``) may take."""

    param: str
    values: tuple[str, ...]


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
    exclude_tags: tuple[str, ...] = ()
    """Tools carrying any of these tags are removed after ``methods`` and ``tags``."""
    exclude_tools: tuple[str, ...] = ()
    """Tools removed by name after ``methods`` and ``tags``."""
    confirm: ConfirmMode = "none"
    """Which calls need a person's confirmation before they run."""
    budgets: tuple[Budget, ...] = ()
    """Per-tool or per-class call budgets, enforced across replicas."""
    pin: tuple[Pin, ...] = ()
    """Parameter values the server is limited to (e.g. one incident)."""
    reveal_secrets: bool = False
    """When false, credential fields in results are ``"[redacted]"``."""
    provenance: bool = True
    """When true, writes leave a note on the Better Stack timeline naming server and client."""
    tool_exposure: ToolExposure = "all"
    """``all``: ``tools/list`` shows every exposed tool; ``discovery``: it shows three
    meta-tools that search, describe and call them (every rule of a direct call applies)."""

    def __post_init__(self) -> None:
        """Tags in the catalogue's spelling, also in grants stored before a tag was renamed."""
        for name in ("tags", "exclude_tags"):
            value = getattr(self, name)
            if any(tag in TAG_ALIASES for tag in value):
                msgspec.structs.force_setattr(self, name, canonical_tags(value))

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
