"""Checking a Better Stack API token before an account is connected.

Provisioning sends the account record with the token sealed; the worker opens it, makes the
cheapest authenticated read (one monitor), and answers. A token the upstream refuses is a field
error on ``betterstack_token``, so the operator sees it next to what they typed.
"""

from __future__ import annotations

import logging

from stackmcp.betterstack_worker.execution.accounts import betterstack_origin
from stackmcp.betterstack_worker.upstream import UpstreamClient, UpstreamHttpError
from stackmcp.contracts.accounts import (
    AccountVerifyRequest,
    AccountVerifyResponse,
    credential_context,
)
from stackmcp.runtime.crypto import DecryptionError, SecretBox
from stackmcp.runtime.errors import InvalidArgument, UpstreamError

__all__ = ["AccountVerifier"]

logger = logging.getLogger(__name__)

PROBE_PATH = "/api/v2/monitors"


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
        except UpstreamHttpError as exc:
            if exc.status in (401, 403):
                raise InvalidArgument(
                    "Better Stack refused this token",
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
