"""Settings of the local one-machine run (``stackmcp up``)."""

from __future__ import annotations

import msgspec

__all__ = ["LocalConfig"]


class LocalConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What ``stackmcp up`` starts and where it keeps data (section ``LOCAL``)."""

    data_dir: str = ".stackmcp"
    """Directory for NATS JetStream files, the Valkey append-only file and logs."""
    nats_port: int = 14222
    """Client port of the embedded nats-server (0 = any free port)."""
    redis_port: int = 16379
    """Port of the embedded Valkey server (0 = any free port)."""
    sandbox: bool = True
    """Start the Better Stack sandbox (the emulated API the demo talks to)."""
    start_timeout: float = 30.0
    """Seconds each component may take to become ready."""
