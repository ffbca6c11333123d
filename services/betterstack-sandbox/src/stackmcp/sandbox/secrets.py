"""Credentials the sandbox hands out (URL tokens), all marked so tests can scan for leaks.

Better Stack puts a secret token in the URL of every heartbeat (what a cron job calls to report
in) and incoming webhook (what starts incidents); whoever holds the URL can use it. Every such
value here, and every credential of the seed data, contains :data:`SECRET_MARK`.
"""

from __future__ import annotations

import hashlib

__all__ = ["SECRET_MARK", "incoming_webhook_url", "ping_url", "secret_token"]

SECRET_MARK = "sandbox-secret-"  # noqa: S105 - marks fake demo credentials
"""Prefix of every credential value the sandbox stores or generates."""


def secret_token(kind: str, item_id: int) -> str:
    """A deterministic, marked token for item ``item_id`` of ``kind``."""
    digest = hashlib.sha256(f"{kind}-{item_id}".encode()).hexdigest()[:16]
    return f"{SECRET_MARK}{digest}"


def ping_url(heartbeat_id: int) -> str:
    """The ping URL of a heartbeat (``…/api/v1/heartbeat/<token>``)."""
    return (
        f"https://uptime.betterstack.com/api/v1/heartbeat/{secret_token('heartbeat', heartbeat_id)}"
    )


def incoming_webhook_url(webhook_id: int) -> str:
    """The URL that starts incidents through an incoming webhook."""
    token = secret_token("incoming-webhook", webhook_id)
    return f"https://uptime.betterstack.com/api/v1/incoming-webhook/{token}"
