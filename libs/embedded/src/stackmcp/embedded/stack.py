"""The local infrastructure behind ``stackmcp up`` and the tests: NATS and Valkey.

For each of NATS and Redis, an external URL (``STACKMCP_NATS_URL`` / ``STACKMCP_REDIS_URL``)
wins and nothing is started; otherwise an embedded server runs under ``data_dir``::

    <data_dir>/nats     JetStream store
    <data_dir>/valkey   AOF files and generated valkey.conf
    <data_dir>/logs     nats-server.log, valkey-server.log
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import TracebackType
from typing import Self

from stackmcp.embedded.nats import NatsServer
from stackmcp.embedded.valkey import ValkeyServer

__all__ = ["EmbeddedInfra"]

logger = logging.getLogger(__name__)


class EmbeddedInfra:
    """NATS and Redis endpoints for one local run, started embedded where not given.

    Build it with :meth:`start`; stop it with :meth:`stop` or by leaving a ``with`` block.
    Restarting on the same ``data_dir`` keeps JetStream streams and Valkey keys.
    """

    def __init__(
        self,
        *,
        nats_url: str,
        redis_url: str,
        nats_server: NatsServer | None = None,
        valkey_server: ValkeyServer | None = None,
    ) -> None:
        self.nats_url = nats_url
        """URL services use for NATS (embedded or external)."""
        self.redis_url = redis_url
        """URL services use for Redis (embedded Valkey or external)."""
        self.nats_server = nats_server
        """The embedded NATS server, ``None`` when an external URL was given."""
        self.valkey_server = valkey_server
        """The embedded Valkey server, ``None`` when an external URL was given."""

    @classmethod
    def start(
        cls,
        data_dir: Path,
        *,
        nats_url: str | None = None,
        redis_url: str | None = None,
        nats_port: int = 0,
        redis_port: int = 0,
        timeout: float = 15.0,
    ) -> Self:
        """Start whatever is not provided externally and return the running infrastructure.

        Args:
            data_dir: Root of the embedded servers' state and logs.
            nats_url: External NATS URL; empty or ``None`` starts an embedded ``nats-server``.
            redis_url: External Redis URL; empty or ``None`` starts an embedded Valkey.
            nats_port: Client port of the embedded NATS (``0`` = any free port).
            redis_port: Port of the embedded Valkey (``0`` = any free port).
            timeout: Readiness bound per server, in seconds.

        Raises:
            BinaryNotFoundError: A needed server binary is not installed.
            ProcessStartError: An embedded server failed to start; nothing is left running.
        """
        data_dir = Path(data_dir)
        logs = data_dir / "logs"
        nats_server: NatsServer | None = None
        valkey_server: ValkeyServer | None = None
        try:
            if not nats_url:
                nats_server = NatsServer(
                    data_dir / "nats", port=nats_port, log_file=logs / "nats-server.log"
                ).start(timeout)
                nats_url = nats_server.url
            if not redis_url:
                valkey_server = ValkeyServer(
                    data_dir / "valkey", port=redis_port, log_file=logs / "valkey-server.log"
                ).start(timeout)
                redis_url = valkey_server.url
        except BaseException:
            if nats_server is not None:
                nats_server.stop()
            raise
        return cls(
            nats_url=nats_url,
            redis_url=redis_url,
            nats_server=nats_server,
            valkey_server=valkey_server,
        )

    @property
    def started(self) -> tuple[str, ...]:
        """Names of the servers this object started (``"nats"``, ``"valkey"``), in order."""
        names = [("nats", self.nats_server), ("valkey", self.valkey_server)]
        return tuple(name for name, server in names if server is not None)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the embedded servers in reverse start order. Idempotent."""
        if self.valkey_server is not None:
            self.valkey_server.stop(timeout)
        if self.nats_server is not None:
            self.nats_server.stop(timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<EmbeddedInfra started={self.started}>"
