"""Checking a Better Stack API token before an account is connected.

Provisioning sends the account record with the token sealed; the worker opens it, makes the
cheapest authenticated read (one monitor), and answers. A token the upstream refuses is a field
error on ``betterstack_token``, so the operator sees it next to what they typed; an upstream that
cannot be reached is an :class:`UpstreamError` naming the base URL and why ("Better Stack
unreachable at http://127.0.0.1:9: connection refused"), so it is never mistaken for a missing
worker.
"""

from __future__ import annotations

import logging
import socket
import ssl

from stackmcp.betterstack_worker.execution.accounts import betterstack_origin
from stackmcp.betterstack_worker.upstream import UpstreamClient, UpstreamHttpError
from stackmcp.contracts.accounts import (
    AccountVerifyRequest,
    AccountVerifyResponse,
    credential_context,
)
from stackmcp.runtime.crypto import DecryptionError, SecretBox
from stackmcp.runtime.errors import DeadlineExceeded, InvalidArgument, Unavailable, UpstreamError

__all__ = ["AccountVerifier"]

logger = logging.getLogger(__name__)

PROBE_PATH = "/api/v2/monitors"
REFUSED = "Better Stack refused the token"
"""The summary of a refused token (the field message says how Better Stack answered)."""


class AccountVerifier:
    """Answers ``account.verify`` requests."""

    def __init__(self, box: SecretBox, upstream: UpstreamClient, *, timeout: float = 10.0) -> None:
        self._box = box
        self._upstream = upstream
        self._timeout = timeout

    async def verify(self, request: AccountVerifyRequest) -> AccountVerifyResponse:
        """List one monitor with the account's token.

        Raises:
            InvalidArgument: the upstream refused the token (with a ``betterstack_token`` field).
            UpstreamError: the upstream failed otherwise.
            Unavailable, DeadlineExceeded: the upstream could not be reached in time.
        """
        account = request.account
        try:
            token = self._box.open(account.sealed_token, context=credential_context(account.id))
        except DecryptionError:
            raise InvalidArgument(
                "the token could not be opened: provisioning and the worker must share "
                "STACKMCP_CRYPTO_KEY"
            ) from None
        origin = account.base_url.rstrip("/")
        query: dict[str, str | int] = {"per_page": 1}
        if account.team_name:
            query["team_name"] = account.team_name
        try:
            await self._upstream.send(
                "GET", origin, PROBE_PATH, token=token, query=query, timeout=self._timeout,
                route=PROBE_PATH,
            )  # fmt: skip
        except (Unavailable, DeadlineExceeded) as exc:
            reason = (
                f"no answer within {self._timeout:g}s"
                if isinstance(exc, DeadlineExceeded)
                else unreachable_reason(exc)
            )
            raise UpstreamError(f"Better Stack unreachable at {origin}: {reason}") from None
        except UpstreamHttpError as exc:
            if exc.status in (401, 403):
                raise InvalidArgument(
                    REFUSED,
                    fields={
                        "betterstack_token": [
                            f"Better Stack answered HTTP {exc.status}: use an Uptime API token "
                            "(Settings → API tokens) of the team, or set team_name for a global "
                            "token"
                        ]
                    },
                ) from None
            raise UpstreamError(
                f"Better Stack answered HTTP {exc.status} while checking the token; try again"
            ) from None
        logger.info("verified the token of account %s (%s)", account.id, betterstack_origin(origin))
        return AccountVerifyResponse(detail="listed monitors")


_REASONS: tuple[tuple[type[BaseException], str], ...] = (
    (ConnectionRefusedError, "connection refused"),
    (socket.gaierror, "host name not found"),
    (ssl.SSLError, "TLS handshake failed"),
    (TimeoutError, "connection timed out"),
    (ConnectionResetError, "connection reset"),
)


def unreachable_reason(exc: BaseException) -> str:
    """Why a connection failed, in a few words: the innermost cause of ``exc`` (the upstream
    client raises :class:`Unavailable` from the transport error, which stays its context)."""
    causes: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and len(causes) < 10:
        causes.append(cause)
        cause = cause.__cause__ or cause.__context__
    for cause in reversed(causes):
        for kind, reason in _REASONS:
            if isinstance(cause, kind):
                return reason
    for cause in reversed(causes):
        if isinstance(cause, OSError) and cause.strerror:
            return str(cause.strerror)
    return "the connection failed"
