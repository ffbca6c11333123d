"""Masking of secrets in any text bound for logs or callers."""

from __future__ import annotations

import re

from stackmcp.contracts.tokens import SECRET_TOKEN_RE

__all__ = ["REDACTED", "redact"]

REDACTED = "[REDACTED]"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (SECRET_TOKEN_RE, REDACTED),
    # Bearer credentials in headers, curl lines, reprs: keep the scheme, drop the value.
    (re.compile(r"(?i)\b(bearer)(\s+|%20)[A-Za-z0-9._~+/=-]+"), r"\1\2" + REDACTED),
    # Passwords embedded in URLs: redis://user:secret@host, nats://u:p@host.
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]*:)[^\s@/]+@"), r"\1" + REDACTED + "@"),
)


def redact(text: str) -> str:
    """Return ``text`` with stackmcp tokens, Bearer values and URL passwords masked."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text
