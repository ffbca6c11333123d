"""Gateway settings (section ``GATEWAY``)."""

from __future__ import annotations

import msgspec

__all__ = ["GatewayConfig"]


class GatewayConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How the gateway serves MCP (``STACKMCP_GATEWAY_*``)."""

    host: str = "127.0.0.1"
    """Listen address (``0.0.0.0`` in a container)."""
    port: int = 8080
    """Listen port."""
    public_url: str = ""
    """External base URL (e.g. ``https://mcp.example.com``) for the 2024-11-05 SSE ``endpoint``
    event. Empty: the event carries a path, which clients resolve against the URL they used, so
    it is right behind any reverse proxy."""
    allowed_origins: tuple[str, ...] = ()
    """Browser origins allowed to call (``https://claude.ai``); a request with any other
    ``Origin`` gets 403. Requests without ``Origin`` (non-browser clients) are allowed."""
    max_body_bytes: int = 1_048_576
    """Largest request body accepted (413 above)."""
    call_timeout: float = 30.0
    """Seconds a tool call may take end to end before the client gets a timeout result."""
    catalog_refresh: float = 30.0
    """Seconds between checks for a new worker catalogue version."""
    session_ttl: float = 86_400.0
    """Seconds an idle MCP session is kept in Redis."""
    sse_keepalive: float = 15.0
    """Seconds between SSE keep-alive comments."""
    tools_page_size: int = 200
    """Tools per ``tools/list`` page (the full catalogue fits in one page by default)."""
    cache_ttl: float = 30.0
    """Seconds a cached grant is trusted without hearing an event (backstop)."""
