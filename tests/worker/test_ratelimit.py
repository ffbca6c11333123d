"""Rate-limit signals from any upstream header style, normalised to ratelimit-*."""

from __future__ import annotations

import email.utils

import pytest

from stackmcp.betterstack_worker.ratelimit import parse_rate_limit, rate_limit_headers
from stackmcp.contracts.tools import RateLimitInfo

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            {"RateLimit-Limit": "8", "RateLimit-Remaining": "0", "RateLimit-Reset": "2"},
            RateLimitInfo(limit=8, remaining=0, reset=2),
        ),
        (
            {"RateLimit": "limit=100, remaining=42, reset=30"},
            RateLimitInfo(limit=100, remaining=42, reset=30),
        ),
        (
            {
                "X-RateLimit-Limit": "60",
                "X-RateLimit-Remaining": "5",
                "X-RateLimit-Reset": str(int(NOW) + 17),
            },
            RateLimitInfo(limit=60, remaining=5, reset=17),
        ),
        ({"Retry-After": "3"}, RateLimitInfo(retry_after=3)),
        ({"retry-after": "1.2"}, RateLimitInfo(retry_after=2)),
        (
            {"Retry-After": email.utils.formatdate(NOW + 90, usegmt=True)},
            RateLimitInfo(retry_after=90),
        ),
    ],
)
def test_header_styles_are_normalised(headers: dict[str, str], expected: RateLimitInfo) -> None:
    """Each style yields the same IETF fields; Unix-time resets become seconds from now."""
    assert parse_rate_limit(headers, now=NOW) == expected


def test_no_signals_means_none_and_garbage_is_ignored() -> None:
    """Nothing is invented when the upstream sends nothing usable."""
    assert parse_rate_limit({"Content-Type": "application/json"}) is None
    assert parse_rate_limit({"RateLimit-Limit": "lots", "Retry-After": "soon"}) is None


def test_response_headers_carry_only_known_values() -> None:
    """The gateway's headers list exactly the fields that are known."""
    assert rate_limit_headers(RateLimitInfo(limit=8, remaining=0, retry_after=2)) == {
        "ratelimit-limit": "8",
        "ratelimit-remaining": "0",
        "retry-after": "2",
    }
    assert rate_limit_headers(None) == {}
