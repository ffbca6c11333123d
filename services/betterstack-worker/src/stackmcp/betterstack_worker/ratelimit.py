"""Upstream rate-limit signals normalised to the IETF ``ratelimit-*`` fields.

Understands ``RateLimit-Limit/-Remaining/-Reset``, the combined ``RateLimit: limit=…,
remaining=…, reset=…`` header, ``X-RateLimit-*`` (whose reset may be a Unix time) and
``Retry-After`` (seconds or an HTTP date). Absent signals stay absent; nothing is invented.
"""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Mapping

from stackmcp.contracts.tools import RateLimitInfo

__all__ = ["parse_rate_limit", "rate_limit_headers"]

_EPOCH_THRESHOLD = 1_000_000_000  # a "reset" this large is a Unix time, not a delta
_COMBINED_RE = re.compile(r"\b(limit|remaining|reset)\s*=\s*(\d+)", re.I)


def parse_rate_limit(
    headers: Mapping[str, str], *, now: float | None = None
) -> RateLimitInfo | None:
    """Return the normalised signals in ``headers`` (case-insensitive), or ``None`` if none."""
    lower = {k.lower(): v for k, v in headers.items()}
    now = time.time() if now is None else now
    values: dict[str, int] = {}
    combined = lower.get("ratelimit")
    if combined:
        values.update((k.lower(), int(v)) for k, v in _COMBINED_RE.findall(combined))
    for field in ("limit", "remaining", "reset"):
        for name in (f"ratelimit-{field}", f"x-ratelimit-{field}", f"x-rate-limit-{field}"):
            number = _int(lower.get(name))
            if number is not None and field not in values:
                values[field] = number
    if "reset" in values and values["reset"] >= _EPOCH_THRESHOLD:
        values["reset"] = max(0, math.ceil(values["reset"] - now))
    retry_after = _retry_after(lower.get("retry-after"), now)
    if not values and retry_after is None:
        return None
    return RateLimitInfo(
        limit=values.get("limit"),
        remaining=values.get("remaining"),
        reset=values.get("reset"),
        retry_after=retry_after,
    )


def rate_limit_headers(info: RateLimitInfo | None) -> dict[str, str]:
    """The IETF response headers for ``info`` (what the gateway sends back)."""
    if info is None:
        return {}
    return {name: str(value) for name, value in info.fields().items()}


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    text = text.strip().split(",")[0].split(";")[0].strip()
    try:
        return max(0, math.ceil(float(text)))
    except ValueError:
        return None


def _retry_after(text: str | None, now: float) -> int | None:
    if text is None:
        return None
    seconds = _int(text)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0, math.ceil(when.timestamp() - now))
