"""Exceptions raised by the embedded infrastructure library."""

from __future__ import annotations


class EmbeddedError(Exception):
    """Base class for every error raised by ``stackmcp.embedded``."""


class BinaryNotFoundError(EmbeddedError):
    """A server binary (``nats-server``, ``valkey-server``) could not be located."""


class ProcessStartError(EmbeddedError):
    """A child process exited early or did not become ready in time.

    Attributes:
        name: Human-readable name of the child (e.g. ``"nats-server"``).
        returncode: Exit status if the child exited, ``None`` if it timed out while running.
        log_tail: Last lines the child wrote to its log during this start attempt.
    """

    def __init__(self, name: str, reason: str, *, returncode: int | None, log_tail: str) -> None:
        self.name = name
        self.returncode = returncode
        self.log_tail = log_tail
        message = f"{name} {reason}"
        if log_tail:
            indented = "\n".join(f"    {line}" for line in log_tail.splitlines())
            message += f"\n  last log lines:\n{indented}"
        else:
            message += " (log is empty)"
        super().__init__(message)
