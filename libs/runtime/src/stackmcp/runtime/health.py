"""A tiny HTTP health listener for services that serve no HTTP of their own (worker, expiry).

Kubernetes probes need something to ask. The gateway and provisioning answer ``/healthz`` and
``/readyz`` on their own port; the NATS-only services start this listener when
``STACKMCP_HEALTH_PORT`` is set. It speaks just enough HTTP/1.1 for a probe:

* ``GET /healthz``: 200 while the event loop answers at all (liveness);
* ``GET /readyz``: 200 when the service's ``ready()`` check passes, else 503 (readiness);
* ``GET /metrics``: the process's metrics in the Prometheus text format (a scrape target);
* any other path 404, any method but GET 405; one request per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Annotated

import msgspec
from nats.aio.client import Client

from stackmcp.runtime.config import ConfigError
from stackmcp.runtime.metrics import PROMETHEUS_CONTENT_TYPE, prometheus_text

__all__ = ["HealthConfig", "HealthServer", "NatsReadiness"]

logger = logging.getLogger(__name__)

_READ_TIMEOUT = 5.0
_MAX_HEAD = 8192
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            503: "Service Unavailable"}  # fmt: skip
_PATHS = (b"/healthz", b"/readyz", b"/metrics")
_JSON = "application/json"


class HealthConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where the health listener listens (section ``HEALTH``: ``STACKMCP_HEALTH_<FIELD>``)."""

    host: str = "127.0.0.1"
    """Listen address (``0.0.0.0`` in a container, so the kubelet can reach it)."""
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 0
    """Listen port; 0 = no listener."""


class HealthServer:
    """Answers liveness and readiness probes until closed.

    Args:
        config: listen address; nothing is started when ``config.port`` is 0.
        ready: the readiness check, called once per ``/readyz`` request; it must be cheap and
            must not block (e.g. "NATS connected and not draining").
    """

    def __init__(self, config: HealthConfig, ready: Callable[[], bool]) -> None:
        self._config = config
        self._ready = ready
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int | None:
        """The port listened on, ``None`` when off or not started."""
        if self._server is None:
            return None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        """Bind and start answering (no-op when the port is 0).

        Raises:
            ConfigError: the address cannot be listened on (in use, unknown host).
        """
        host, port = self._config.host, self._config.port
        if port == 0:
            return
        try:
            self._server = await asyncio.start_server(self._handle, host, port, limit=_MAX_HEAD)
        except OSError as exc:
            raise ConfigError(
                f"STACKMCP_HEALTH_HOST/PORT: cannot listen on {host}:{port} ({exc.strerror})"
            ) from None
        logger.info("health probes on http://%s:%d", self._config.host, self.port)

    async def close(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(_READ_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
            status, path = self._answer(head.split(b"\r\n", 1)[0])
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            status, path = 400, b""
        except ConnectionError:
            return
        if status == 200 and path == b"/metrics":
            content_type, body = PROMETHEUS_CONTENT_TYPE, prometheus_text()
        else:
            content_type = _JSON
            body = msgspec.json.encode({"status": "ok" if status == 200 else _REASONS[status]})
        writer.write(
            b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n%s"
            % (status, _REASONS[status].encode(), content_type.encode(), len(body), body)
        )
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    def _answer(self, request_line: bytes) -> tuple[int, bytes]:
        """The status for ``request_line`` and the path it asked for."""
        parts = request_line.split(b" ")
        if len(parts) != 3:
            return 400, b""
        method, target, _ = parts
        path = target.split(b"?", 1)[0]
        if path not in _PATHS:
            return 404, path
        if method != b"GET":
            return 405, path
        if path == b"/readyz" and not self._ready():
            return 503, path
        return 200, path


class NatsReadiness:
    """Readiness of a NATS-driven service: serving, connected, and not stopping.

    Before :meth:`serving` is called (connections still being made) the service is not ready;
    afterwards it is ready while its NATS client is connected and ``stop`` is not set, so a
    draining replica leaves its endpoints before it exits.
    """

    def __init__(self, stop: asyncio.Event) -> None:
        self._stop = stop
        self._client: Client | None = None

    def serving(self, client: Client) -> None:
        """Mark the service as serving through ``client``."""
        self._client = client

    def __call__(self) -> bool:
        """Whether the service is ready now."""
        client = self._client
        return client is not None and client.is_connected and not self._stop.is_set()
