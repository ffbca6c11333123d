"""Fault knobs: token-bucket rate limit, added latency and 5xx injection.

The values start from :class:`~stackmcp.sandbox.config.SandboxConfig` and can be changed at run
time through ``PATCH /_sandbox/knobs``.
"""

from __future__ import annotations

import math
import time
from typing import Any

import msgspec

from stackmcp.sandbox.config import SandboxConfig

__all__ = ["ErrorInjector", "KnobPatch", "Knobs", "RateDecision", "TokenBucket", "validate_patch"]

INJECTED_STATUSES = (500, 502, 503)


class Knobs(msgspec.Struct, kw_only=True):
    """The current knob values (mutable; replaced as a whole on PATCH)."""

    rate_limit: float = 0.0
    rate_limit_burst: int = 10
    rate_limit_headers: bool = False
    latency_ms: float = 0.0
    error_rate: float = 0.0

    @classmethod
    def from_config(cls, config: SandboxConfig) -> Knobs:
        """The start values from the process configuration."""
        return cls(
            rate_limit=config.rate_limit,
            rate_limit_burst=config.rate_limit_burst,
            rate_limit_headers=config.rate_limit_headers,
            latency_ms=config.latency_ms,
            error_rate=config.error_rate,
        )


class KnobPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Body of ``PATCH /_sandbox/knobs``: any subset of the knobs."""

    rate_limit: float | None = None
    rate_limit_burst: int | None = None
    rate_limit_headers: bool | None = None
    latency_ms: float | None = None
    error_rate: float | None = None


def validate_patch(raw: Any, current: Knobs) -> tuple[Knobs | None, dict[str, list[str]]]:
    """Apply a PATCH body to ``current``; return the new knobs or field errors."""
    try:
        patch = msgspec.convert(raw, type=KnobPatch)
    except msgspec.ValidationError as exc:
        return None, {"knobs": [str(exc)]}
    errors: dict[str, list[str]] = {}
    checks = {
        "rate_limit": (patch.rate_limit, 0.0, math.inf),
        "rate_limit_burst": (patch.rate_limit_burst, 1, 1_000_000),
        "latency_ms": (patch.latency_ms, 0.0, 60_000.0),
        "error_rate": (patch.error_rate, 0.0, 1.0),
    }
    for name, (value, low, high) in checks.items():
        if value is not None and not (low <= value <= high and math.isfinite(value)):
            errors[name] = [f"must be between {low} and {high}"]
    if errors:
        return None, errors
    changes = {f: v for f in patch.__struct_fields__ if (v := getattr(patch, f)) is not None}
    return msgspec.structs.replace(current, **changes), {}


class RateDecision(msgspec.Struct, frozen=True):
    """Outcome of taking one token: allowed or not, plus header values."""

    allowed: bool
    limit: int
    remaining: int
    reset: int
    retry_after: int


class TokenBucket:
    """A refilling token bucket; ``rate`` tokens per second, at most ``burst`` stored."""

    def __init__(self) -> None:
        self.tokens: float | None = None
        self.updated = time.monotonic()

    def reset(self) -> None:
        """Refill completely (used when the knobs change or the sandbox is reset)."""
        self.tokens = None

    def take(self, rate: float, burst: int) -> RateDecision:
        """Take one token if one is available."""
        moment = time.monotonic()
        tokens = float(burst) if self.tokens is None else self.tokens
        if rate > 0:
            tokens = min(float(burst), tokens + (moment - self.updated) * rate)
        self.updated = moment
        allowed = rate <= 0 or tokens >= 1.0
        if allowed and rate > 0:
            tokens -= 1.0
        self.tokens = tokens
        refill = (burst - tokens) / rate if rate > 0 else 0.0
        wait = (1.0 - tokens) / rate if rate > 0 and tokens < 1.0 else 0.0
        return RateDecision(
            allowed=allowed,
            limit=burst,
            remaining=max(0, math.floor(tokens)),
            reset=math.ceil(refill),
            retry_after=max(1, math.ceil(wait)),
        )


class ErrorInjector:
    """Deterministic error injection: fails exactly ``rate`` of the requests, evenly spread.

    A running sum grows by ``rate`` per request and a request fails each time the sum crosses
    a whole number, so ``rate=1`` fails every request and ``rate=0.5`` every second one. The
    failing status cycles through 500, 502, 503.
    """

    def __init__(self) -> None:
        self.accumulated = 0.0
        self.failures = 0

    def reset(self) -> None:
        """Forget the running sum."""
        self.accumulated = 0.0
        self.failures = 0

    def next_status(self, rate: float) -> int | None:
        """The status to fail this request with, or None to let it through."""
        if rate <= 0:
            return None
        self.accumulated += rate
        if self.accumulated < 1.0 - 1e-9:
            return None
        self.accumulated -= 1.0
        status = INJECTED_STATUSES[self.failures % len(INJECTED_STATUSES)]
        self.failures += 1
        return status
