"""How to reach and authenticate to the provisioning admin API (section ``ADMIN``).

Shared by the provisioning service (which accepts the token) and the ``stackmcp`` CLI (which
sends it). On Kubernetes the token comes from a mounted Secret: set ``STACKMCP_ADMIN_TOKEN_FILE``
instead of ``STACKMCP_ADMIN_TOKEN``.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from stackmcp.runtime.config import ConfigError

__all__ = ["AdminConfig", "admin_token"]


class AdminConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Admin API address and token (section ``ADMIN``)."""

    url: str = "http://127.0.0.1:8081"
    """Base URL of the provisioning admin API (what the CLI talks to)."""
    token: str = ""
    """The admin token (``smcp_adm_...``, at least 24 characters): provisioning accepts it, the
    CLI sends it. Unset everywhere: provisioning generates one and prints it once."""
    token_file: str = ""
    """A file holding the admin token (e.g. a mounted Secret); used when ``token`` is empty."""


def admin_token(config: AdminConfig) -> str | None:
    """The configured admin token, from ``token`` or ``token_file``; ``None`` when neither is set.

    Raises:
        ConfigError: ``token_file`` is set but cannot be read or is empty.
    """
    if config.token:
        return config.token.strip()
    if not config.token_file:
        return None
    try:
        text = Path(config.token_file).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(
            f"STACKMCP_ADMIN_TOKEN_FILE={config.token_file!r} cannot be read: {exc.strerror}"
        ) from None
    if not text:
        raise ConfigError(f"STACKMCP_ADMIN_TOKEN_FILE={config.token_file!r} is empty")
    return text
