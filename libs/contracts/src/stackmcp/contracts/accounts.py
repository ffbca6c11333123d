"""The integrated-account record as stored in Redis (provisioning writes, the worker reads)."""

from __future__ import annotations

from datetime import datetime

from stackmcp.contracts._base import Message

__all__ = ["AccountRecord", "AccountVerifyRequest", "AccountVerifyResponse", "credential_context"]


class AccountRecord(Message, frozen=True, kw_only=True, tag="stackmcp.account.v1.record"):
    """A connected Better Stack account. The API token is only ever stored sealed."""

    id: str
    integration: str = "betterstack"
    name: str
    base_url: str = "https://uptime.betterstack.com"
    """Uptime API host; the worker also derives the betterstack.com host for team endpoints."""
    team_name: str | None = None
    """Team to act for when the token is a global one."""
    sealed_token: str
    """The API token, sealed with ``stackmcp.runtime.crypto.SecretBox`` under
    :func:`credential_context`."""
    created_at: datetime


def credential_context(account_id: str) -> str:
    """Associated data binding a sealed token to its account."""
    return f"account:{account_id}"


class AccountVerifyRequest(
    Message, frozen=True, kw_only=True, tag="stackmcp.account.v1.verify_request"
):
    """Provisioning → worker: does this account's token work upstream?

    The token travels sealed (the worker holds the same key), never in plain text on NATS.
    """

    account: AccountRecord


class AccountVerifyResponse(
    Message, frozen=True, kw_only=True, tag="stackmcp.account.v1.verify_response"
):
    """The token was accepted upstream. A refusal comes back as an error reply instead."""

    detail: str = ""
    """What was checked, e.g. ``"listed monitors"``."""
