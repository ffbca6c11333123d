"""Gateway settings (section ``GATEWAY``)."""

from __future__ import annotations

from typing import Annotated

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
    event and the OAuth issuer. Empty: the event carries a path, which clients resolve against
    the URL they used, and the issuer is ``<scheme>://<Host>`` of each request (set it behind a
    proxy that terminates TLS, so OAuth metadata names ``https``)."""
    allowed_origins: tuple[str, ...] = ()
    """Browser origins allowed to call (``https://claude.ai``); a request with any other
    ``Origin`` gets 403. Requests without ``Origin`` (non-browser clients) are allowed."""
    max_connections: int = 4096
    """Client connections served at once, idle keep-alive connections and SSE streams
    included; more wait to be accepted."""
    max_body_bytes: int = 1_048_576
    """Largest request body accepted (413 above)."""
    call_timeout: float = 30.0
    """Seconds a tool call may take end to end (its deadline) before the client gets a timeout
    result; no worker starts upstream work past it."""
    catalog_refresh: float = 30.0
    """Seconds between checks for a new worker catalogue version."""
    session_ttl: float = 3600.0
    """Seconds an idle MCP session is kept in Redis (and its local copies at most that long)."""
    max_sessions_per_server: int = 100
    """Live sessions one MCP server may hold; opening one more ends its least active session
    (whose client gets "Session not found" and initializes again)."""
    max_sse_streams_per_server: int = 20
    """Open SSE streams (2024-11-05 HTTP+SSE streams and session GET streams together) one MCP
    server may hold on one gateway replica (429 above)."""
    body_timeout: float = 10.0
    """Seconds a client may take to send a request body (408 after that)."""
    worker_silence: float = 1.0
    """Seconds without a sign from the worker running a call before it counts as stalled or
    dead: reads move to another worker, writes are abandoned unless already under way."""
    server_rate_limit: int = 500
    """Tool calls one MCP server may make per ``rate_limit_window`` (0 = unlimited)."""
    account_rate_limit: int = 50
    """Tool calls all MCP servers of one Better Stack account may make per
    ``rate_limit_window`` (0 = unlimited); protects the account's own API limit."""
    rate_limit_window: int = 10
    """Length in seconds of the fixed windows the rate limits count in, on every replica."""
    cache_max_entries: int = 10_000
    """Grants, API tokens and sessions each kept in the local cache at most."""
    sse_keepalive: float = 15.0
    """Seconds between SSE keep-alive comments."""
    tools_page_size: int = 200
    """Tools per ``tools/list`` page (the full catalogue fits in one page by default)."""
    cache_ttl: float = 30.0
    """Seconds a cached grant is trusted without hearing an event (backstop)."""
    confirm_timeout: float = 120.0
    """Seconds a person has to answer a confirmation prompt (elicitation) before the call
    ends unrun, and the seconds a ``confirm_token`` stays valid."""
    oauth_redirect_uris: tuple[str, ...] = ()
    """Redirect URIs OAuth clients may register besides the Claude callbacks
    (``https://claude.ai/api/mcp/auth_callback``, ``https://claude.com/api/mcp/auth_callback``)
    and loopback ``http://127.0.0.1|localhost|[::1]:<any port>/…``; compared exactly."""
    oauth_allow_loopback_clients: bool = False
    """Let client metadata documents (CIMD ``client_id`` URLs) be fetched from loopback
    addresses (tests only; still https). Private, link-local and other special addresses are
    always refused."""
    oauth_access_token_ttl: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 3600.0
    """Seconds an OAuth access token lives (at most one hour, and never past the server's
    ``expires_at``)."""
    oauth_refresh_token_ttl: Annotated[float, msgspec.Meta(gt=0)] = 2_592_000.0
    """Seconds an OAuth refresh token lives (30 days; never past the server's ``expires_at``);
    each use replaces it with a new one."""
