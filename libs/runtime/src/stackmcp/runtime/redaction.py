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


# Every pattern above needs one of these; most text has none, and one search is cheaper than
# three substitutions (the audit trail redacts every key and string of every tool call).
_MAYBE = re.compile(r"smcp_|://|bearer", re.IGNORECASE)


def redact(text: str) -> str:
    """Return ``text`` with stackmcp tokens, Bearer values and URL passwords masked."""
    if not _MAYBE.search(text):
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text
