"""Printing for the admin commands: aligned tables, ``key: value`` blocks, times for people."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

__all__ = ["cell", "emit", "key_values", "parse_time", "relative", "table", "when"]

_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def emit(out: TextIO, text: str) -> None:
    """Write ``text`` (a final newline added when missing); quiet when the reader went away."""
    if text and not text.endswith("\n"):
        text += "\n"
    try:
        out.write(text)
        out.flush()
    except BrokenPipeError:
        # The reader (e.g. ``head``) stopped early; silence the final flush at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell, two spaces apart; the last one is not padded."""
    everything = [list(headers), *(list(row) for row in rows)]
    widths = [max(len(row[i]) for row in everything) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in everything
    ]
    return "\n".join(lines) + "\n"


def key_values(pairs: Sequence[tuple[str, str]]) -> str:
    """``key: value`` lines with the values aligned."""
    width = max((len(key) for key, _ in pairs), default=0) + 1
    return "".join(f"{(key + ':').ljust(width)} {value}\n" for key, value in pairs)


def cell(value: Any) -> str:
    """A JSON value as a table cell: lists comma-joined, ``None`` as ``-``, booleans yes/no."""
    if value is None or value == []:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def parse_time(text: str) -> datetime | None:
    """An ISO-8601 time from the API (``Z`` allowed) as an aware datetime; ``None`` if not one."""
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def relative(moment: datetime, now: datetime) -> str:
    """``in 59m``, ``1h30m ago``, ``now``: days or hours with the next unit, else one unit."""
    seconds = int((moment - now).total_seconds())  # toward zero: 3599.6 s is "in 59m"
    if seconds == 0:
        return "now"
    left = abs(seconds)
    text = ""
    for index, (unit, size) in enumerate(_UNITS):
        if left >= size:
            text = f"{left // size}{unit}"
            if unit in ("d", "h"):
                next_unit, next_size = _UNITS[index + 1]
                rest = left % size // next_size
                text += f"{rest}{next_unit}" if rest else ""
            break
    return f"in {text}" if seconds > 0 else f"{text} ago"


def when(value: Any, now: datetime | None = None, *, never: str = "never") -> str:
    """An API time as ``2026-12-01T00:00:00Z (in 2d4h)``; ``never`` for ``None``."""
    if value is None:
        return never
    moment = parse_time(str(value))
    if moment is None:
        return str(value)
    shown = moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return f"{shown} ({relative(moment, now or datetime.now(UTC))})"
