"""The stackmcp exception tree: one class per stable error code.

::

    StackmcpError
    ├── InvalidArgument      400  bad arguments or request fields
    ├── Unauthenticated      401  missing or unknown credentials
    ├── PermissionDenied     403
    ├── NotFound             404
    ├── Conflict             409
    ├── RateLimited          429  retryable, carries retry_after
    ├── Internal             500  a bug; the message stays generic
    ├── UpstreamError        502  the upstream API failed
    ├── Unavailable          503  a dependency is down (retryable)
    └── DeadlineExceeded     504  a timeout (retryable)

Raise these inside services; transports turn them into NATS error replies, HTTP statuses,
JSON-RPC errors or ``isError`` tool results. Messages must be safe to show to a caller.
"""

from __future__ import annotations

from typing import ClassVar

from stackmcp.contracts.errors import STATUS_BY_CODE, ErrorBody, ErrorCode

__all__ = [
    "Conflict",
    "DeadlineExceeded",
    "Internal",
    "InvalidArgument",
    "NotFound",
    "PermissionDenied",
    "RateLimited",
    "StackmcpError",
    "Unauthenticated",
    "Unavailable",
    "UpstreamError",
    "error_from_body",
]


class StackmcpError(Exception):
    """Base of every expected error. ``str(exc)`` is the caller-safe message."""

    code: ClassVar[ErrorCode] = ErrorCode.INTERNAL
    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        fields: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.fields = fields

    @property
    def status(self) -> int:
        """The numeric status matching :attr:`code`."""
        return STATUS_BY_CODE[self.code]

    def to_body(self) -> ErrorBody:
        """Return the wire form of this error."""
        return ErrorBody(
            code=self.code,
            message=self.message,
            retryable=self.retryable,
            retry_after=self.retry_after,
            fields=self.fields,
        )


class InvalidArgument(StackmcpError):
    """Arguments or request fields are malformed."""

    code = ErrorCode.INVALID_ARGUMENT


class Unauthenticated(StackmcpError):
    """Credentials are missing or unknown."""

    code = ErrorCode.UNAUTHENTICATED


class PermissionDenied(StackmcpError):
    """The caller is known but may not do this."""

    code = ErrorCode.PERMISSION_DENIED


class NotFound(StackmcpError):
    """The thing asked for does not exist (or is not visible to the caller)."""

    code = ErrorCode.NOT_FOUND


class Conflict(StackmcpError):
    """The request conflicts with the current state."""

    code = ErrorCode.CONFLICT


class RateLimited(StackmcpError):
    """Too many requests; retry after ``retry_after`` seconds."""

    code = ErrorCode.RATE_LIMITED
    retryable = True


class Internal(StackmcpError):
    """A bug. The message is generic; details go to the logs only."""

    code = ErrorCode.INTERNAL


class UpstreamError(StackmcpError):
    """The upstream API answered with an error or an unexpected body."""

    code = ErrorCode.UPSTREAM_ERROR
    retryable = True


class Unavailable(StackmcpError):
    """A dependency (NATS responders, Redis, the upstream) cannot be reached."""

    code = ErrorCode.UNAVAILABLE
    retryable = True


class DeadlineExceeded(StackmcpError):
    """An operation did not finish in time."""

    code = ErrorCode.DEADLINE_EXCEEDED
    retryable = True


_BY_CODE: dict[ErrorCode, type[StackmcpError]] = {
    cls.code: cls
    for cls in (
        InvalidArgument,
        Unauthenticated,
        PermissionDenied,
        NotFound,
        Conflict,
        RateLimited,
        Internal,
        UpstreamError,
        Unavailable,
        DeadlineExceeded,
    )
}


def error_from_body(body: ErrorBody) -> StackmcpError:
    """Rebuild the exception a remote service raised from its wire form."""
    cls = _BY_CODE.get(body.code, Internal)
    return cls(body.message, retry_after=body.retry_after, fields=body.fields)
