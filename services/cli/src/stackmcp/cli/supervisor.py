"""Start stackmcp's processes on one machine, watch them, and stop them in reverse order."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from stackmcp.cli.stopping import StopRequests
from stackmcp.embedded import EmbeddedInfra, ManagedProcess

__all__ = ["Component", "Supervisor", "http_ok", "log_says", "python_service"]

logger = logging.getLogger(__name__)


@dataclass
class Component:
    """One running part of the local system, as shown to the operator."""

    name: str
    address: str
    note: str
    pid: int | None
    process: ManagedProcess | None = field(default=None, repr=False)


def python_service(
    module: str, *, name: str, env: Mapping[str, str], log_dir: Path
) -> ManagedProcess:
    """Return (not started) a child running ``python -m <module>`` with ``env`` added."""
    child_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    return ManagedProcess(
        [sys.executable, "-m", module], name=name, env=child_env, log_file=log_dir / f"{name}.log"
    )


def http_ok(url: str) -> Callable[[], bool]:
    """Return a probe that is true once ``url`` answers 200."""

    def probe() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - our own URL
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    return probe


class Supervisor:
    """Owns the infrastructure and child services of one ``stackmcp up`` run."""

    def __init__(self, infra: EmbeddedInfra) -> None:
        self.infra = infra
        self.components: list[Component] = []
        for server_name, server in (
            ("nats", infra.nats_server),
            ("valkey", infra.valkey_server),
        ):
            if server is not None:
                note = "embedded, JetStream on" if server_name == "nats" else "embedded, AOF on"
                url = infra.nats_url if server_name == "nats" else infra.redis_url
                self.components.append(Component(server_name, url, note, server.pid))
        if infra.nats_server is None:
            self.components.append(Component("nats", infra.nats_url, "external", None))
        if infra.valkey_server is None:
            self.components.append(Component("redis", infra.redis_url, "external", None))

    def start_service(
        self,
        process: ManagedProcess,
        *,
        address: str,
        note: str,
        ready: Callable[[], bool],
        timeout: float,
    ) -> None:
        """Start ``process`` and wait until ``ready``; it is stopped with the rest later."""
        process.start()
        self.components.append(Component(process.name, address, note, process.pid, process))
        process.wait_ready(ready, timeout=timeout)

    def wait(self, stop: StopRequests, poll: float = 0.5) -> str | None:
        """Block until a stop is requested or a child exits; return the dead child's name.

        A child that exits after a stop was requested is not a failure (``None``).
        """
        while not stop.requested:
            stop.pause(poll)
            dead = self._dead()
            if dead is not None and not stop.requested:
                return dead
        return None

    def _dead(self) -> str | None:
        for component in self.components:
            if component.process is not None and not component.process.is_running:
                return component.name
        for name, server in (
            ("nats", self.infra.nats_server),
            ("valkey", self.infra.valkey_server),
        ):
            if server is not None and not server.is_running:
                return name
        return None

    def stop(self, stop: StopRequests | None = None, timeout: float = 15.0) -> bool:
        """Stop services in reverse start order, then Valkey and NATS. Safe to call again.

        Each process gets SIGTERM and up to ``timeout`` seconds; once ``stop`` has counted
        enough signals (:attr:`StopRequests.hurry`), whatever is left is killed at once.

        Returns:
            Whether anything had to be killed because of repeated signals.
        """
        hurried = False
        for name, process in self._processes():
            started = time.monotonic()
            hurried = _stop_process(process, stop, timeout) or hurried
            logger.info("stopped %s in %.1fs", name, time.monotonic() - started)
        self.infra.stop()
        return hurried

    def _processes(self) -> list[tuple[str, ManagedProcess]]:
        """Every child process, in the order to stop them."""
        found = [(c.name, c.process) for c in reversed(self.components) if c.process is not None]
        for name, server in (
            ("valkey", self.infra.valkey_server),
            ("nats", self.infra.nats_server),
        ):
            if server is not None and server.process is not None:
                found.append((name, server.process))
        return found


def _stop_process(process: ManagedProcess, stop: StopRequests | None, timeout: float) -> bool:
    """SIGTERM ``process`` and wait for it, killing it early when ``stop`` says hurry.

    Returns:
        Whether it was killed because of the hurry.
    """
    hurry = stop is not None and stop.hurry
    if process.is_running and process.pid is not None and not hurry:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while process.is_running and time.monotonic() < deadline:
            if stop is None:
                time.sleep(0.05)
                continue
            if stop.hurry:
                hurry = True
                break
            stop.pause(0.05)
    killed = hurry and process.is_running
    # Already gone: this only tidies up; still running: SIGTERM again, then SIGKILL at once.
    process.stop(timeout=0 if process.is_running else timeout)
    return killed


def log_says(log_file: Path, text: str) -> Callable[[], bool]:
    """Return a probe that is true once ``text`` is written to ``log_file`` after this call.

    For services without an HTTP port (worker, expiry): their "ready" log line. Only what is
    appended from now on counts, since log files are kept across runs.
    """
    try:
        start = log_file.stat().st_size
    except OSError:
        start = 0

    def probe() -> bool:
        try:
            with log_file.open("rb") as file:
                file.seek(start)
                return text.encode() in file.read()
        except OSError:
            return False

    return probe
