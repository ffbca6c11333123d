"""The stop flag of ``stackmcp up``: signals only counted, the waiting loop woken at once.

Run in a child interpreter, since the handlers stay installed for the process's life.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

_SCRIPT = textwrap.dedent(
    """
    import os, signal, threading, time
    from stackmcp.cli.stopping import StopRequested, StopRequests

    stop = StopRequests()
    stop.install()
    assert not stop.requested and not stop.hurry
    stop.check()

    # A signal from another thread wakes a long pause at once.
    threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGTERM)).start()
    started = time.monotonic()
    while not stop.requested:
        stop.pause(60)
    print("woke", time.monotonic() - started < 30)
    try:
        stop.check()
    except StopRequested:
        print("check raises")

    # A burst, delivered one at a time (pending signals of one kind coalesce).
    while not stop.hurry:
        os.kill(os.getpid(), signal.SIGINT)
        stop.pause(0.01)
    print("count", stop.count)
    stop.pause(0.01)  # nothing left to read: returns after the timeout
    print("done")
    """
)


def test_signals_are_counted_and_wake_the_pause() -> None:
    """The first signal requests a stop, the third asks to hurry; no KeyboardInterrupt."""
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n") == ["woke True", "check raises", "count 3", "done", ""]
