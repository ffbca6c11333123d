"""Structured logging: JSON or text lines that carry trace ids and never carry secrets.

Only a service's ``main()`` calls :func:`configure_logging`. Every record passes two handler
filters: :class:`TraceContextFilter` adds ``trace_id``/``span_id`` of the current OpenTelemetry
span and the MCP server the code is serving (:func:`serving_server`), so a log search for a
server or a failed call leads to its trace, and :class:`RedactingFilter` masks stackmcp tokens,
``Bearer`` values and URL passwords in the message, its arguments and any exception text.
Tracebacks are left out unless ``STACKMCP_LOG_TRACEBACKS=true``: the exception type and its
(masked) message are kept.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any, TextIO

import msgspec
from opentelemetry import trace

from stackmcp.runtime.config import LogConfig
from stackmcp.runtime.redaction import redact

__all__ = [
    "JsonFormatter",
    "RedactingFilter",
    "TextFormatter",
    "TraceContextFilter",
    "bind_server",
    "configure_logging",
    "serving_server",
]

_ENCODER = msgspec.json.Encoder()
_SERVER_ID: ContextVar[str] = ContextVar("stackmcp_server_id", default="")


def bind_server(server_id: str) -> None:
    """From now on in this task (an HTTP request's own task), log records carry
    ``server_id``."""
    _SERVER_ID.set(server_id)


@contextlib.contextmanager
def serving_server(server_id: str) -> Iterator[None]:
    """Within this block (and the tasks it starts), log records carry ``server_id``."""
    token = _SERVER_ID.set(server_id)
    try:
        yield
    finally:
        _SERVER_ID.reset(token)


class TraceContextFilter(logging.Filter):
    """Add ``trace_id`` and ``span_id`` (hex, or empty) from the active span, and the
    ``server_id`` of the MCP server being served (or empty)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Annotate ``record``; never drops it."""
        record.server_id = _SERVER_ID.get()
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = format(context.trace_id, "032x")
            record.span_id = format(context.span_id, "016x")
        else:
            record.trace_id = ""
            record.span_id = ""
        return True


class RedactingFilter(logging.Filter):
    """Mask secrets in the rendered message and exception of every record."""

    def __init__(self, *, keep_tracebacks: bool = False) -> None:
        super().__init__()
        self.keep_tracebacks = keep_tracebacks

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite ``record`` in place so no handler sees the raw secret."""
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            record.exc_summary = redact(f"{type(exc).__name__}: {exc}")
            if self.keep_tracebacks:
                record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info) if self.keep_tracebacks else None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, service, server and trace ids."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as JSON."""
        entry: dict[str, Any] = {
            "ts": _iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "service": self.service,
        }
        for key in ("server_id", "trace_id", "span_id", "exc_summary", "exc_text"):
            value = getattr(record, key, "")
            if value:
                entry[key] = value
        return _ENCODER.encode(entry).decode()


class TextFormatter(logging.Formatter):
    """Human-readable lines for terminals, with the trace id when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as one line (plus a masked traceback when kept)."""
        line = f"{_iso(record.created)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        for key in ("server_id", "trace_id"):
            value = getattr(record, key, "")
            if value:
                line += f" {key}={value}"
        summary = getattr(record, "exc_summary", "")
        if summary:
            line += f" error={summary}"
        exc_text = getattr(record, "exc_text", "")
        if exc_text:
            line += "\n" + exc_text
        return line


def configure_logging(
    config: LogConfig, service: str, *, stream: TextIO | None = None
) -> logging.Handler:
    """Route every logger to one handler on ``stream`` (stderr by default).

    Args:
        config: level and format.
        service: service name written into JSON lines.
        stream: where lines go.

    Returns:
        The installed handler (tests remove it again).
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(TraceContextFilter())
    handler.addFilter(RedactingFilter(keep_tracebacks=config.tracebacks))
    handler.setFormatter(JsonFormatter(service) if config.format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(config.level.upper())
    # httpx logs full request URLs at INFO; they may hold tokens, and the spans have them anyway.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return handler


def _iso(created: float) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{seconds}.{int(created % 1 * 1000):03d}Z"
