"""Supervised child processes that never outlive their supervisor.

Every child runs in its own session (a terminal Ctrl-C reaches only the supervisor, which then
stops children in order) and, on Linux, asks the kernel to send it SIGTERM when the supervisor
dies (``PR_SET_PDEATHSIG``), so a crashed or SIGKILLed supervisor leaves no orphans. Output goes
to a log file, never to the supervisor's terminal unless asked.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import functools
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from stackmcp.embedded.errors import ProcessStartError

__all__ = ["ManagedProcess"]

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_TAIL_BYTES = 16_384
_live: list[weakref.ref[ManagedProcess]] = []
_live_lock = threading.Lock()


@functools.cache
def _prctl() -> Any:
    """Return libc's ``prctl`` (resolved once, in the parent) or ``None`` off Linux."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def _child_setup() -> Callable[[], None] | None:
    """Build the ``preexec_fn`` that ties the child's life to this process (Linux only)."""
    prctl = _prctl()
    if prctl is None:
        return None
    parent_pid = os.getpid()
    sigterm = int(signal.SIGTERM)

    def setup() -> None:
        prctl(_PR_SET_PDEATHSIG, sigterm, 0, 0, 0)
        # The supervisor may have died between fork() and prctl(): then no signal will come.
        if os.getppid() != parent_pid:
            os._exit(1)

    return setup


def _stop_all_at_exit() -> None:
    with _live_lock:
        refs = list(reversed(_live))
    for ref in refs:
        proc = ref()
        if proc is not None:
            proc.stop(timeout=5.0)


@functools.cache
def _register_atexit() -> None:
    atexit.register(_stop_all_at_exit)


class ManagedProcess:
    """A child process with a log file, a bounded readiness wait and a reliable stop.

    ``PR_SET_PDEATHSIG`` fires when the *thread* that started the child exits, so start
    children from a long-lived thread (the main thread, or the thread running the event loop),
    not from a short-lived worker thread.

    Args:
        argv: Program and arguments.
        name: Name used in logs and errors; defaults to the program's file name.
        env: Complete environment for the child (``None`` inherits this process's).
        cwd: Working directory for the child.
        log_file: File that receives the child's stdout and stderr (appended to, parent
            directories created). ``None`` lets the child write to this process's stdout/stderr.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        name: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        log_file: Path | None = None,
    ) -> None:
        if not argv:
            raise ValueError("argv must not be empty")
        self.argv: tuple[str, ...] = tuple(str(a) for a in argv)
        self.name = name or Path(self.argv[0]).name
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.log_file = log_file
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    @property
    def pid(self) -> int | None:
        """Process id of the current (or last) child, ``None`` before :meth:`start`."""
        return self._proc.pid if self._proc is not None else None

    @property
    def is_running(self) -> bool:
        """Whether the child has been started and has not exited yet."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        """Exit status of the child, ``None`` while running or before start (negative = signal)."""
        return self._proc.poll() if self._proc is not None else None

    def start(self) -> Self:
        """Spawn the child. Does not wait for readiness (see :meth:`wait_ready`).

        Raises:
            RuntimeError: The child is already running.
            OSError: The program could not be executed.
        """
        if self.is_running:
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        if self.log_file is None:
            self._proc = self._spawn(None)
        else:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            with self.log_file.open("ab") as log:
                self._log_offset = log.tell()
                self._proc = self._spawn(log)
        _register_atexit()
        with _live_lock:
            _live.append(weakref.ref(self))
        logger.info("started %s pid=%s", self.name, self._proc.pid)
        return self

    def _spawn(self, log: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(  # noqa: S603 - argv comes from our own callers, no shell
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT if log is not None else None,
            env=self.env,
            cwd=self.cwd,
            start_new_session=True,
            preexec_fn=_child_setup(),  # noqa: PLW1509 - minimal, libc resolved in the parent
        )

    def wait_ready(
        self, probe: Callable[[], bool], *, timeout: float, interval: float = 0.02
    ) -> None:
        """Poll ``probe`` until it returns true while the child keeps running.

        Args:
            probe: Readiness check; called repeatedly, must not block for long.
            timeout: Upper bound in seconds.
            interval: Pause between probes.

        Raises:
            ProcessStartError: The child exited first, or ``timeout`` passed (the child is then
                left running for the caller to :meth:`stop`). The message names the child and
                shows the tail of its log.
        """
        proc = self._require_started()
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise self._start_error(f"exited with status {proc.returncode} during startup")
            # Re-check liveness after the probe: a stranger on our port could answer it.
            if probe() and proc.poll() is None:
                return
            if time.monotonic() >= deadline:
                raise self._start_error(f"did not become ready within {timeout:g}s")
            time.sleep(interval)

    def _start_error(self, reason: str) -> ProcessStartError:
        return ProcessStartError(
            f"{self.name} (pid {self.pid})",
            reason,
            returncode=self.returncode,
            log_tail=self.log_tail(),
        )

    def log_text(self) -> str:
        """Everything the child wrote to its log file since the last :meth:`start`."""
        if self.log_file is None:
            return ""
        try:
            with self.log_file.open("rb") as log:
                log.seek(self._log_offset)
                return log.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines of the log written since the last :meth:`start`."""
        if self.log_file is None:
            return ""
        try:
            with self.log_file.open("rb") as log:
                end = log.seek(0, os.SEEK_END)
                log.seek(max(self._log_offset, end - _TAIL_BYTES))
                text = log.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait(self, timeout: float) -> int:
        """Wait for the child to exit on its own and return its exit status.

        Raises:
            subprocess.TimeoutExpired: The child is still running after ``timeout`` seconds.
        """
        return self._require_started().wait(timeout)

    def stop(self, timeout: float = 10.0) -> int | None:
        """Stop the child: SIGTERM, wait up to ``timeout`` seconds, then SIGKILL.

        Leftover members of the child's process group are killed as well. Safe to call
        repeatedly and on a child that already exited.

        Returns:
            The child's exit status, or ``None`` if it was never started.
        """
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            self._signal(proc, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                logger.warning("%s pid=%s ignored SIGTERM, killing it", self.name, proc.pid)
                self._kill_group(proc.pid)
                proc.kill()
                proc.wait(5.0)
            # A group id is not reused while members remain: this only hits our grandchildren.
            self._kill_group(proc.pid)
        with _live_lock:
            _live[:] = [ref for ref in _live if ref() not in (None, self)]
        logger.info("stopped %s pid=%s status=%s", self.name, proc.pid, proc.returncode)
        return proc.returncode

    @staticmethod
    def _signal(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)

    @staticmethod
    def _kill_group(pgid: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)

    def _require_started(self) -> subprocess.Popen[bytes]:
        if self._proc is None:
            raise RuntimeError(f"{self.name} has not been started")
        return self._proc

    def __enter__(self) -> Self:
        if self._proc is None:
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
        state = "running" if self.is_running else f"returncode={self.returncode}"
        return f"<ManagedProcess {self.name} pid={self.pid} {state}>"
