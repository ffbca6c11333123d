"""A real ``valkey-server`` child process with append-only persistence, bound to loopback."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import quote

from stackmcp.embedded.binaries import valkey_server_binary
from stackmcp.embedded.errors import ProcessStartError
from stackmcp.embedded.ports import free_port
from stackmcp.embedded.process import ManagedProcess

__all__ = ["ValkeyServer"]

logger = logging.getLogger(__name__)

_READY_LINE = "Ready to accept connections"
_PORT_ATTEMPTS = 3


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


class ValkeyServer:
    """A ``valkey-server`` child process (AOF ``everysec``, no RDB snapshots).

    The configuration, including the password, is written to ``<data_dir>/valkey.conf``
    (mode 0600) so no secret appears on a command line.

    Args:
        data_dir: Working directory of the server (AOF files live in ``appendonlydir``).
        host: Address to bind; protected mode stays on.
        port: TCP port; ``0`` picks a free port at each :meth:`start`.
        password: ``requirepass`` value, or ``None`` for no authentication.
        log_file: Where the server's output goes; defaults to ``<data_dir>/valkey-server.log``.
    """

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
        self.log_file = log_file or self.data_dir / "valkey-server.log"
        self._requested_port = port
        self._port = port
        self._process: ManagedProcess | None = None

    @property
    def port(self) -> int:
        """TCP port (known once started, or when given explicitly)."""
        if self._port == 0:
            raise RuntimeError("ValkeyServer port is chosen at start(); start the server first")
        return self._port

    @property
    def url(self) -> str:
        """Client URL, ``redis://[:password@]127.0.0.1:PORT/0``."""
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/0"

    @property
    def config_file(self) -> Path:
        """The generated configuration file."""
        return self.data_dir / "valkey.conf"

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

    def config(self) -> str:
        """Configuration text for the current port assignment."""
        settings = {
            "port": str(self._port),
            "bind": self.host,
            "protected-mode": "yes",
            "daemonize": "no",
            "dir": str(self.data_dir.resolve()),
            "appendonly": "yes",
            "appendfsync": "everysec",
            "save": "",
            "logfile": "",
        }
        if self.password is not None:
            settings["requirepass"] = self.password
        return "".join(f"{key} {_quote_config(value)}\n" for key, value in settings.items())

    def _write_config(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.config_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(self.config())
        os.chmod(self.config_file, 0o600)

    def ping(self, timeout: float = 0.5) -> bool:
        """Whether the server answers ``PING`` (authenticating first when a password is set)."""
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
        return _READY_LINE in self._process.log_text() and self.ping()

    def start(self, timeout: float = 15.0) -> Self:
        """Spawn the server and wait until it answers ``PING`` (after loading its AOF).

        With an automatically chosen port, a start that loses a port race is retried.

        Raises:
            BinaryNotFoundError: ``valkey-server`` is not available.
            ProcessStartError: The server exited early or did not become ready in time.
        """
        if self.is_running:
            raise RuntimeError(f"valkey-server already running (pid {self.pid})")
        binary = str(valkey_server_binary())
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            self._port = self._requested_port or free_port(self.host)
            self._write_config()
            self._process = ManagedProcess(
                [binary, str(self.config_file)],
                name=f"valkey-server[{self._port}]",
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
                logger.info("valkey-server lost a port race, retrying attempt=%s", attempt + 1)
            else:
                logger.info("valkey-server ready port=%s pid=%s", self._port, self.pid)
                break
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server with SIGTERM (it flushes the AOF), SIGKILL after ``timeout``."""
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
        return f"<ValkeyServer port={self._port} pid={self.pid}>"
