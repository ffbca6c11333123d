"""Per-server usage counters: last use and calls/errors per hour, kept cheaply in Redis.

Gateways add to :meth:`RedisKeys.server_usage` (one hash per server) in batches; the admin API
reads it to show ``last_used_at`` and the last 24 hours' counts without touching the audit stream.
Fields: ``last_used`` (Unix seconds), ``c:<hour>`` and ``e:<hour>`` (calls and errors in the hour
that starts at ``<hour> * 3600`` Unix seconds). The hash expires :data:`USAGE_TTL` after its last
change, so a server nobody uses stops costing memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import msgspec

__all__ = [
    "LAST_USED_FIELD",
    "USAGE_HOURS",
    "USAGE_TTL",
    "Usage",
    "calls_field",
    "errors_field",
    "hour_of",
    "summarize_usage",
]

LAST_USED_FIELD = "last_used"
USAGE_HOURS = 24
"""Hours the counts cover (the current, partial hour included)."""
USAGE_TTL = 3 * 24 * 3600
"""Seconds the hash lives after its last change."""


def hour_of(unix_seconds: float) -> int:
    """The hour bucket a time falls in."""
    return int(unix_seconds // 3600)


def calls_field(hour: int) -> str:
    """The field counting one hour's calls."""
    return f"c:{hour}"


def errors_field(hour: int) -> str:
    """The field counting one hour's calls that did not end ``ok``."""
    return f"e:{hour}"


class Usage(msgspec.Struct, frozen=True, kw_only=True):
    """What the counters say about one server."""

    last_used_at: datetime | None = None
    calls_24h: int = 0
    errors_24h: int = 0


def summarize_usage(fields: Mapping[bytes | str, bytes | str], now: float) -> Usage:
    """Sum the last :data:`USAGE_HOURS` hour buckets of a usage hash read with ``HGETALL``."""
    first = hour_of(now) - USAGE_HOURS + 1
    calls = errors = 0
    last_used: datetime | None = None
    for raw_name, raw_value in fields.items():
        name = raw_name.decode() if isinstance(raw_name, bytes) else raw_name
        value = raw_value.decode() if isinstance(raw_value, bytes) else raw_value
        try:
            if name == LAST_USED_FIELD:
                last_used = datetime.fromtimestamp(float(value), UTC)
                continue
            kind, _, hour = name.partition(":")
            if int(hour) < first:
                continue
            if kind == "c":
                calls += int(value)
            elif kind == "e":
                errors += int(value)
        except ValueError:
            continue
    return Usage(last_used_at=last_used, calls_24h=calls, errors_24h=errors)
