"""Timestamps in the API's format: ISO-8601 UTC with milliseconds (``2026-11-25T10:00:00.000Z``)."""

from __future__ import annotations

import datetime as dt

__all__ = ["iso", "now", "parse_day", "parse_time", "start_of_day"]

UTC = dt.UTC


def now() -> dt.datetime:
    """The current time, UTC, truncated to milliseconds."""
    current = dt.datetime.now(UTC)
    return current.replace(microsecond=current.microsecond // 1000 * 1000)


def iso(value: dt.datetime) -> str:
    """Format ``value`` as ``YYYY-MM-DDTHH:MM:SS.mmmZ`` in UTC."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def parse_time(text: object) -> dt.datetime | None:
    """Parse an ISO-8601 timestamp or a ``YYYY-MM-DD`` date (midnight UTC); None if invalid."""
    if not isinstance(text, str) or not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_day(text: object) -> dt.date | None:
    """Parse a strict ``YYYY-MM-DD`` date; None if invalid."""
    if not isinstance(text, str) or len(text) != 10:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def start_of_day(value: dt.datetime) -> dt.datetime:
    """Midnight UTC of the day ``value`` falls on."""
    return value.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
