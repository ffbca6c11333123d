"""Stop requests from SIGINT and SIGTERM, with no work done inside the signal handler.

The handler only appends the signal's number to a list: no lock, no I/O, nothing that a second
signal arriving during the first one's handling could deadlock on (``threading.Event.set`` takes
a non-reentrant lock, and did hang when ``uv`` forwarded a SIGTERM the process had just received).
``signal.set_wakeup_fd`` writes a byte to a socket for every signal, so :meth:`StopRequests.pause`
wakes at once; stopping the children and printing happen in the main loop that polls it.

The first signal asks for a clean stop; a second one (often the same signal forwarded by ``uv``)
changes nothing; from the third on, what is still running is killed.
"""

from __future__ import annotations

import contextlib
import select
import signal
import socket
from types import FrameType

__all__ = ["KILL_AFTER", "StopRequested", "StopRequests"]

KILL_AFTER = 3
"""The signal count from which the stop stops waiting and kills what is left."""

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequested(Exception):
    """A stop signal arrived while something was still starting."""


class StopRequests:
    """SIGINT and SIGTERM as a count the main thread polls (create and install it there)."""

    def __init__(self) -> None:
        self._received: list[int] = []
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)

    def install(self) -> None:
        """Handle SIGINT and SIGTERM from now on, for the rest of the process's life.

        The handlers are never put back: a duplicate signal arriving while the process exits must
        not kill it with the default action.

        Raises:
            ValueError: not called from the main thread.
        """
        signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        for signum in _SIGNALS:
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self._received.append(signum)  # one atomic call: nothing here can block or re-enter

    @property
    def count(self) -> int:
        """How many stop signals arrived so far."""
        return len(self._received)

    @property
    def requested(self) -> bool:
        """Whether a stop signal arrived."""
        return bool(self._received)

    @property
    def hurry(self) -> bool:
        """Whether enough signals arrived to kill rather than wait (:data:`KILL_AFTER`)."""
        return len(self._received) >= KILL_AFTER

    def pause(self, timeout: float) -> None:
        """Sleep up to ``timeout`` seconds, returning early when a signal arrives."""
        with contextlib.suppress(InterruptedError):
            select.select([self._reader], [], [], timeout)
        with contextlib.suppress(BlockingIOError):
            while self._reader.recv(4096):
                pass

    def check(self) -> None:
        """Raise :class:`StopRequested` when a stop was asked for (for loops that start things).

        Raises:
            StopRequested: a stop signal arrived.
        """
        if self._received:
            raise StopRequested
