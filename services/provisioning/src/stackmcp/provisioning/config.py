"""Provisioning settings (section ``PROVISIONING``)."""

from __future__ import annotations

from typing import Annotated

import msgspec

__all__ = ["ProvisioningConfig"]


class ProvisioningConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How the admin API is served and what it mints (``STACKMCP_PROVISIONING_*``)."""

    host: str = "127.0.0.1"
    """Listen address (``0.0.0.0`` in a container)."""
    port: int = 8081
    """Listen port."""
    mcp_base_url: str = "http://127.0.0.1:8080"
    """Public base URL of the gateway; minted MCP server URLs are ``<this>/mcp/<token>``."""
    max_body_bytes: int = 65_536
    """Largest request body accepted (413 above)."""
    body_timeout: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    """Seconds a request body may take to arrive once its handler reads it (408 after)."""
    verify_timeout: Annotated[float, msgspec.Meta(gt=0)] | None = None
    """Seconds a "verify the Better Stack token first" check may take (unset:
    ``STACKMCP_NATS_REQUEST_TIMEOUT``)."""
    catalog_timeout: Annotated[float, msgspec.Meta(gt=0)] | None = None
    """Seconds to wait for the worker's tool catalogue when checking a filter (unset:
    ``STACKMCP_NATS_REQUEST_TIMEOUT``)."""
    min_expiry: float = 60.0
    """An ``expires_at`` must be at least this many seconds ahead."""
    console: bool = True
    """Serve the admin web console under ``/console`` (sign-in with the admin token)."""
    console_session_ttl: float = 28_800.0
    """Seconds a console sign-in lasts (8 hours); sign-out ends it at once."""
    console_secure_cookies: bool = False
    """Mark console cookies ``Secure`` (set it when the console is served over HTTPS)."""
