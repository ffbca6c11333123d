"""Worker settings (section ``WORKER``) and the cursor key derived from the credential key."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

import msgspec

from stackmcp.runtime.config import ConfigError
from stackmcp.runtime.crypto import CryptoConfig

__all__ = ["WorkerConfig", "cursor_key"]


class WorkerConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How the worker serves tool calls (section ``WORKER``)."""

    cursor_key: str = ""
    """HMAC key for pagination cursors (base64url, at least 16 bytes), the same on every
    replica; when empty it is derived from ``STACKMCP_CRYPTO_KEY``."""
    cursor_ttl: float = 3600.0
    """Seconds a pagination cursor stays valid."""
    account_cache_ttl: float = 5.0
    """Seconds a decrypted account is reused before Redis is read again."""
    max_concurrency: int = 64
    """Tool calls one replica runs at once; more wait in NATS for a free slot."""
    presence_interval: float = 1.0
    """Seconds between the "alive" announcements gateways route calls by; a worker silent for
    three intervals gets no new calls."""


def cursor_key(worker: WorkerConfig, crypto: CryptoConfig) -> bytes:
    """The cursor HMAC key: the configured one, or one derived from the credential key.

    Deriving it means one secret fewer to distribute; the derivation is one-way, so a cursor
    reveals nothing about the credential key.

    Raises:
        ConfigError: neither key is usable.
    """
    if worker.cursor_key:
        raw = _b64(worker.cursor_key)
        if raw is None or len(raw) < 16:
            raise ConfigError("STACKMCP_WORKER_CURSOR_KEY must be at least 16 bytes, base64url")
        return raw
    base = _b64(crypto.key) if crypto.key else None
    if not base:
        raise ConfigError(
            "STACKMCP_CRYPTO_KEY is required (32 bytes, base64url); the worker decrypts account "
            "credentials with it"
        )
    return hmac.new(base, b"stackmcp cursor key v1", hashlib.sha256).digest()


def _b64(text: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
