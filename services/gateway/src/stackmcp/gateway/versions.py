"""MCP protocol revisions the gateway speaks, and how a request picks its era."""

from __future__ import annotations

__all__ = [
    "HANDSHAKE_VERSIONS",
    "LATEST_HANDSHAKE",
    "MODERN_VERSIONS",
    "SSE_TRANSPORT_VERSIONS",
    "negotiate",
]

HANDSHAKE_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
"""Revisions reached through ``initialize`` (sessions)."""
MODERN_VERSIONS = ("2026-07-28",)
"""Stateless revisions: every request carries its version in ``_meta`` and headers."""
LATEST_HANDSHAKE = HANDSHAKE_VERSIONS[-1]
SSE_TRANSPORT_VERSIONS = HANDSHAKE_VERSIONS
"""Revisions accepted over the 2024-11-05 HTTP+SSE transport."""


def negotiate(requested: object) -> str:
    """The version to answer ``initialize`` with: the client's if known, else the latest."""
    if isinstance(requested, str) and requested in HANDSHAKE_VERSIONS:
        return requested
    return LATEST_HANDSHAKE
