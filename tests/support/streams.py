"""Read a child process's output line by line with a deadline (no unbounded waits)."""

from __future__ import annotations

import queue
import subprocess
import threading
import time
from typing import IO


class LineReader:
    """Collect lines from ``stream`` on a background thread; wait for one that matches."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: IO[str]) -> None:
        try:
            for line in stream:
                self._queue.put(line.rstrip("\n"))
        except (ValueError, OSError):  # closed underneath us by terminate()
            pass
        self._queue.put(None)

    def wait_for(self, needle: str, timeout: float) -> str:
        """Return the first line containing ``needle``; fail after ``timeout`` seconds or EOF."""
        deadline = time.monotonic() + timeout
        for line in self.lines:
            if needle in line:
                return line
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                raise AssertionError(f"output ended before {needle!r}:\n" + self.text())
            self.lines.append(line)
            if needle in line:
                return line
        raise AssertionError(f"no {needle!r} within {timeout}s:\n" + self.text())

    def drain(self, timeout: float = 5.0) -> str:
        """Collect the remaining output (until EOF or ``timeout``) and return all of it."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
        return self.text()

    def text(self) -> str:
        """Everything read so far."""
        return "\n".join(self.lines)


def terminate(proc: subprocess.Popen[str], timeout: float = 15.0) -> None:
    """Make sure ``proc`` is gone: SIGTERM, then SIGKILL after ``timeout``."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
