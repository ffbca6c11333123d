"""A real ``nats-server`` child process (JetStream on by default) and a local cluster helper."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from stackmcp.embedded._http import get_json
from stackmcp.embedded.binaries import nats_server_binary
from stackmcp.embedded.errors import EmbeddedError, ProcessStartError
from stackmcp.embedded.ports import free_port, tcp_accepts
from stackmcp.embedded.process import ManagedProcess

__all__ = ["NatsServer", "nats_cluster"]

logger = logging.getLogger(__name__)

_READY_LINE = "Server is ready"
_PORT_ATTEMPTS = 3


def _port_in_use(error: ProcessStartError) -> bool:
    return "address already in use" in error.log_tail.lower()


class NatsServer:
    """A ``nats-server`` child process bound to loopback.

    Args:
        data_dir: Directory for this server's state; JetStream stores under
            ``<data_dir>/jetstream``.
        host: Address to listen on.
        port: Client port; ``0`` picks a free port at each :meth:`start`.
        jetstream: Enable JetStream (``-js -sd <data_dir>/jetstream``).
        server_name: Server name (required to be unique within a cluster).
        cluster_name: Cluster name; with ``cluster_port`` this node joins a cluster.
        cluster_port: Port for route connections (``0`` picks one, ``None`` disables routes).
        routes: Route URLs (``nats://host:cluster_port``) of the other cluster members.
        monitor_port: HTTP monitoring port (``0`` picks one, ``None`` disables it).
        log_file: Where the server's output goes; defaults to ``<data_dir>/nats-server.log``.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        jetstream: bool = True,
        server_name: str | None = None,
        cluster_name: str | None = None,
        cluster_port: int | None = None,
        routes: Sequence[str] = (),
        monitor_port: int | None = None,
        log_file: Path | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.jetstream = jetstream
        self.server_name = server_name
        self.cluster_name = cluster_name
        self.routes = tuple(routes)
        self.log_file = log_file or self.data_dir / "nats-server.log"
        self._requested = (port, cluster_port, monitor_port)
        self._port = port
        self._cluster_port = cluster_port
        self._monitor_port = monitor_port
        self._process: ManagedProcess | None = None

    @property
    def store_dir(self) -> Path:
        """JetStream storage directory."""
        return self.data_dir / "jetstream"

    @property
    def port(self) -> int:
        """Client port (known once started, or when given explicitly)."""
        if self._port == 0:
            raise RuntimeError("NatsServer port is chosen at start(); start the server first")
        return self._port

    @property
    def url(self) -> str:
        """Client URL, ``nats://127.0.0.1:PORT``."""
        return f"nats://{self.host}:{self.port}"

    @property
    def monitor_port(self) -> int | None:
        """HTTP monitoring port, ``None`` when monitoring is off."""
        return self._monitor_port

    @property
    def cluster_port(self) -> int | None:
        """Route port, ``None`` when clustering is off."""
        return self._cluster_port

    @property
    def cluster_url(self) -> str | None:
        """Route URL other nodes use to reach this one, ``None`` when clustering is off."""
        return None if self._cluster_port is None else f"nats://{self.host}:{self._cluster_port}"

    @property
    def process(self) -> ManagedProcess | None:
        """The underlying child process, ``None`` before :meth:`start`."""
        return self._process

    @property
    def pid(self) -> int | None:
        """Process id of the server, ``None`` before :meth:`start`."""
        return self._process.pid if self._process else None

    @property
    def is_running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.is_running

    def argv(self) -> list[str]:
        """Command line for the current port assignment."""
        args = [str(nats_server_binary()), "-a", self.host, "-p", str(self._port)]
        if self.server_name:
            args += ["-n", self.server_name]
        if self.jetstream:
            args += ["-js", "-sd", str(self.store_dir)]
        if self._monitor_port is not None:
            args += ["-m", str(self._monitor_port)]
        if self._cluster_port is not None:
            args += ["--cluster", f"nats://{self.host}:{self._cluster_port}"]
            if self.cluster_name:
                args += ["--cluster_name", self.cluster_name]
            if self.routes:
                args += ["--routes", ",".join(self.routes)]
        return args

    def launch(self) -> Self:
        """Spawn the server without waiting for it (see :meth:`wait_ready`).

        Raises:
            BinaryNotFoundError: ``nats-server`` is not installed.
            RuntimeError: The server is already running.
        """
        if self.is_running:
            raise RuntimeError(f"nats-server already running (pid {self.pid})")
        port, cluster_port, monitor_port = self._requested
        self._port = port or free_port(self.host)
        self._cluster_port = cluster_port or (free_port(self.host) if cluster_port == 0 else None)
        self._monitor_port = monitor_port or (free_port(self.host) if monitor_port == 0 else None)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._process = ManagedProcess(
            self.argv(),
            name=f"nats-server[{self.server_name or self._port}]",
            log_file=self.log_file,
        ).start()
        return self

    def wait_ready(self, timeout: float = 15.0) -> None:
        """Wait until the server logged readiness, accepts clients and reports healthy.

        Raises:
            ProcessStartError: The server exited or was not ready within ``timeout``.
        """
        if self._process is None:
            raise RuntimeError("nats-server has not been launched")
        self._process.wait_ready(self._ready, timeout=timeout)

    def _ready(self) -> bool:
        assert self._process is not None
        if _READY_LINE not in self._process.log_text():
            return False
        if not tcp_accepts(self.host, self._port):
            return False
        return self._monitor_port is None or self.healthz(js_enabled_only=True)

    def start(self, timeout: float = 15.0) -> Self:
        """Spawn the server and wait until it is ready.

        With an automatically chosen port, a start that loses a port race is retried.

        Raises:
            BinaryNotFoundError: ``nats-server`` is not installed.
            ProcessStartError: The server exited early or did not become ready in time.
        """
        auto_ports = 0 in self._requested
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            self.launch()
            try:
                self.wait_ready(timeout)
            except ProcessStartError as exc:
                self.stop()
                if not (auto_ports and _port_in_use(exc) and attempt < _PORT_ATTEMPTS):
                    raise
                logger.info("nats-server lost a port race, retrying attempt=%s", attempt + 1)
            else:
                logger.info("nats-server ready url=%s pid=%s", self.url, self.pid)
                break
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout``). Idempotent."""
        if self._process is not None:
            self._process.stop(timeout)

    def healthz(self, *, js_enabled_only: bool = False) -> bool:
        """Whether the monitoring endpoint ``/healthz`` reports OK (``False`` without monitor)."""
        if self._monitor_port is None:
            return False
        path = "/healthz?js-enabled-only=true" if js_enabled_only else "/healthz"
        try:
            status, _ = get_json(self.host, self._monitor_port, path)
        except OSError:
            return False
        return status == 200

    def monitor(self, endpoint: str) -> Any:
        """Return the decoded JSON of a monitoring endpoint such as ``"routez"`` or ``"jsz"``.

        Raises:
            EmbeddedError: Monitoring is off or the endpoint did not answer 200.
            OSError: The monitoring port could not be reached.
        """
        if self._monitor_port is None:
            raise EmbeddedError("nats-server was started without a monitor port")
        status, body = get_json(self.host, self._monitor_port, f"/{endpoint.lstrip('/')}")
        if status != 200:
            raise EmbeddedError(f"nats-server /{endpoint} answered HTTP {status}")
        return body

    def __enter__(self) -> Self:
        if not self.is_running:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<NatsServer name={self.server_name} port={self._port} pid={self.pid}>"


def _distinct_free_ports(host: str, count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port(host)
        if port not in ports:
            ports.append(port)
    return ports


def nats_cluster(
    base_dir: Path,
    size: int = 3,
    *,
    cluster_name: str = "stackmcp",
    host: str = "127.0.0.1",
    jetstream: bool = True,
    timeout: float = 20.0,
) -> list[NatsServer]:
    """Start a ``size``-node NATS cluster on ``host`` and wait until it is fully formed.

    Node ``i`` keeps its state in ``<base_dir>/n<i>``, is named ``<cluster_name>-n<i>``, has a
    monitor port, and routes to every other node. The cluster is ready when every node
    routes to all others and (with JetStream) reports healthy, and the meta leader sees every
    other node as current.
    The caller stops the servers (e.g. ``for s in servers: s.stop()``).

    Raises:
        BinaryNotFoundError: ``nats-server`` is not installed.
        ProcessStartError: A node exited early or the cluster did not form within ``timeout``.
    """
    if size < 1:
        raise ValueError("size must be at least 1")
    ports = _distinct_free_ports(host, 3 * size)
    names = [f"{cluster_name}-n{i}" for i in range(size)]
    route_urls = [f"nats://{host}:{ports[3 * i + 1]}" for i in range(size)]
    servers = [
        NatsServer(
            Path(base_dir) / f"n{i}",
            host=host,
            port=ports[3 * i],
            jetstream=jetstream,
            server_name=names[i],
            cluster_name=cluster_name,
            cluster_port=ports[3 * i + 1],
            routes=[url for j, url in enumerate(route_urls) if j != i],
            monitor_port=ports[3 * i + 2],
        )
        for i in range(size)
    ]
    try:
        for server in servers:
            server.launch()
        deadline = time.monotonic() + timeout
        for server in servers:
            server.wait_ready(max(0.1, deadline - time.monotonic()))
        for server in servers:
            peers = {name for name in names if name != server.server_name}
            assert server.process is not None
            server.process.wait_ready(
                functools.partial(_routes_to, server, peers),
                timeout=max(0.1, deadline - time.monotonic()),
            )
        if jetstream and size > 1:
            assert servers[0].process is not None
            servers[0].process.wait_ready(
                functools.partial(_meta_current, servers),
                timeout=max(0.1, deadline - time.monotonic()),
            )
    except BaseException:
        for server in reversed(servers):
            server.stop()
        raise
    logger.info("nats cluster ready name=%s urls=%s", cluster_name, [s.url for s in servers])
    return servers


def _meta_current(servers: list[NatsServer]) -> bool:
    """Whether the JetStream meta leader sees every other node as current.

    A leader alone (healthy nodes, followers still catching up) times out the first stream
    create on a slow machine; once all are current, JetStream API calls answer promptly.
    """
    try:
        meta = servers[0].monitor("jsz").get("meta_cluster") or {}
        leader = next((s for s in servers if s.server_name == meta.get("leader")), None)
        if leader is None:
            return False
        replicas = (leader.monitor("jsz").get("meta_cluster") or {}).get("replicas") or []
    except (OSError, EmbeddedError):
        return False
    return len(replicas) == len(servers) - 1 and all(r.get("current") for r in replicas)


def _routes_to(server: NatsServer, peers: set[str]) -> bool:
    try:
        routez = server.monitor("routez")
    except (OSError, EmbeddedError):
        return False
    remote = {route.get("remote_name") for route in routez.get("routes") or []}
    return peers <= remote and (not server.jetstream or server.healthz())
