"""Configuration of the Better Stack sandbox (section ``SANDBOX``).

Every field is read from ``STACKMCP_SANDBOX_<FIELD>``. The *knobs* (rate limit, latency, error
injection) only give the start values; they can be changed at run time through the admin API
(see :mod:`stackmcp.sandbox.admin`).
"""

from __future__ import annotations

import msgspec

__all__ = ["TEAM_NAME", "SandboxConfig"]

TEAM_NAME = "Stackmcp Demo"
"""The one team every accepted token belongs to."""


class SandboxConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Settings of one sandbox process."""

    host: str = "127.0.0.1"
    """Address to listen on."""
    port: int = 8090
    """TCP port; 0 picks a free port at start-up."""
    token: str = "sandbox-token"  # noqa: S105 - a well-known demo token, not a secret
    """The accepted ``Authorization: Bearer`` token."""
    extra_tokens: tuple[str, ...] = ()
    """More accepted tokens (comma-separated in the environment); all see the same team."""
    read_only_tokens: tuple[str, ...] = ()
    """Accepted tokens that may only read: every other method is refused with 403 (comma-separated
    in the environment)."""
    seed: bool = True
    """Load the demo data set at start-up and on ``POST /_sandbox/reset``."""
    rate_limit: float = 0.0
    """Token-bucket refill rate in requests per second over authenticated API calls; 0 = off."""
    rate_limit_burst: int = 10
    """Token-bucket capacity."""
    rate_limit_headers: bool = False
    """Send ``RateLimit-Limit``/``-Remaining``/``-Reset`` on every API answer."""
    latency_ms: float = 0.0
    """Milliseconds added before each API answer."""
    error_rate: float = 0.0
    """Fraction (0..1) of authenticated API requests answered 500/502/503."""
    public_url: str = ""
    """Base of absolute pagination URLs; empty derives it from the request."""
