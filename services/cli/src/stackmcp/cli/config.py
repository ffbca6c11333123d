"""Settings of the local one-machine run (``stackmcp up``)."""

from __future__ import annotations

import msgspec

__all__ = ["BetterStackConfig", "DataConfig", "LocalConfig", "UpConfig"]


class LocalConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What ``stackmcp up`` starts (section ``LOCAL``)."""

    nats_port: int = 14222
    """Client port of the embedded nats-server (0 = any free port)."""
    redis_port: int = 16379
    """Port of the embedded Valkey server (0 = any free port)."""
    sandbox: bool = True
    """Start the Better Stack sandbox (the emulated API the demo talks to)."""
    start_timeout: float = 30.0
    """Seconds each component may take to become ready."""


class DataConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where ``stackmcp up`` keeps its state (section ``DATA``)."""

    dir: str = ".stackmcp"
    """JetStream files, the Valkey append-only file, logs, and the local secrets (admin token,
    encryption key, demo server URL) in owner-only files."""


class UpConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Extras of ``stackmcp up`` (section ``UP``)."""

    info: str = ""
    """When set, a file to write once everything is ready: the printed facts as JSON
    (``mcp_url``, ``gateway_url``, ``provisioning_url``, ``sandbox_url``, ``admin_token``,
    ``account_id``, ``server_id``), owner-readable only."""


class BetterStackConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A real Better Stack account for ``stackmcp up`` (section ``BETTERSTACK``).

    With ``token`` set, no sandbox is started: the demo account connects the real API (the token
    is verified first) and the demo MCP server is read-only.
    """

    token: str = ""
    """A Better Stack Uptime API token."""
    base_url: str = "https://uptime.betterstack.com"
    """The Uptime API base URL."""
    team_name: str = ""
    """Team to act for, when the token is a global one."""
