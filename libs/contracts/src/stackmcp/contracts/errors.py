"""Stable error codes and the typed error body that crosses service boundaries.

A request/reply error on NATS carries the ADR-32 headers ``Nats-Service-Error-Code`` (the
numeric status below) and ``Nats-Service-Error`` (the message), plus an :class:`ErrorBody` as
JSON. The exception classes that raise and catch these live in ``stackmcp.runtime.errors``.
"""

from __future__ import annotations

import enum

import msgspec

__all__ = ["STATUS_BY_CODE", "ErrorBody", "ErrorCode"]


class ErrorCode(enum.StrEnum):
    """Stable machine-readable error codes. Never renamed, only added."""

    INVALID_ARGUMENT = "invalid_argument"
    UNAUTHENTICATED = "unauthenticated"
    PERMISSION_DENIED = "permission_denied"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    RATE_LIMITED = "rate_limited"
    UPSTREAM_ERROR = "upstream_error"
    UNAVAILABLE = "unavailable"
    DEADLINE_EXCEEDED = "deadline_exceeded"
    INTERNAL = "internal"


STATUS_BY_CODE: dict[ErrorCode, int] = {
    ErrorCode.INVALID_ARGUMENT: 400,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.PERMISSION_DENIED: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.INTERNAL: 500,
    ErrorCode.UPSTREAM_ERROR: 502,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.DEADLINE_EXCEEDED: 504,
}
"""Numeric status per code: the ``Nats-Service-Error-Code`` header and HTTP status."""


class ErrorBody(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What went wrong, safe to show to a caller (no stack traces, no secrets)."""

    code: ErrorCode
    """Stable code."""
    message: str
    """Human- and model-readable explanation saying what to fix."""
    retryable: bool = False
    """Whether the same request may succeed later."""
    retry_after: float | None = None
    """Seconds to wait before retrying, when known."""
    fields: dict[str, list[str]] | None = None
    """Field-level problems: field path → messages."""
