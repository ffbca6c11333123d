"""Secret token formats: recognisable prefixes and the one-way hash they are stored under."""

from __future__ import annotations

import hashlib
import re
import secrets

__all__ = [
    "ADMIN_TOKEN_PREFIX",
    "API_TOKEN_PREFIX",
    "SECRET_TOKEN_RE",
    "SERVER_TOKEN_PREFIX",
    "hash_token",
    "new_token",
]

SERVER_TOKEN_PREFIX = "smcp_srv_"  # noqa: S105 - a prefix, not a secret
"""Prefix of MCP server URL tokens; lets secret scanners find leaked ones."""
API_TOKEN_PREFIX = "smcp_api_"  # noqa: S105
"""Prefix of API tokens (the second factor)."""
ADMIN_TOKEN_PREFIX = "smcp_adm_"  # noqa: S105
"""Prefix of admin tokens for the provisioning API."""

SECRET_TOKEN_RE = re.compile(r"smcp_[a-z]{3}_[A-Za-z0-9_-]{16,}")
"""Matches any stackmcp secret token, for masking in logs."""


def new_token(prefix: str) -> str:
    """Return a fresh token: ``prefix`` followed by 256 random bits, URL-safe."""
    return prefix + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Return the hex SHA-256 of ``token``: the only form in which tokens are stored.

    Tokens carry 256 random bits, so a fast unsalted hash is not brute-forceable.
    """
    return hashlib.sha256(token.encode()).hexdigest()
