"""The audit trail: one record per tool call and per admin change, on the audit stream.

Both kinds live in one JetStream stream (:attr:`Subjects.audit_stream`) under subjects that name
the account and the MCP server (:meth:`Subjects.audit_call`, :meth:`Subjects.audit_admin`), so
reading one account's or one server's history is a subject filter, not a scan. Records are
encoded with every field present (``null`` when unknown) because they are read by people and
exported as they are; they never hold a token, an API token or a Better Stack credential.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from stackmcp.contracts._base import Message
from stackmcp.contracts.tools import RateLimitInfo

__all__ = [
    "ADMIN_ACTIONS",
    "DECISIONS",
    "OPERATOR_BOOTSTRAP",
    "OPERATOR_EXPIRY",
    "OUTCOMES",
    "AdminAction",
    "AdminChange",
    "AuditEntry",
    "AuditRecord",
    "Decision",
    "Outcome",
    "RefusalCode",
    "ToolCallCompleted",
]

Outcome = Literal["ok", "tool_error", "refused", "protocol_error"]
"""What became of a tool call: ``ok``; ``tool_error`` (an ``isError`` result, upstream or ours);
``refused`` (the call never ran: expired, revoked, API token, hidden tool, rate limit);
``protocol_error`` (a JSON-RPC error: unknown tool, bad params, cancelled)."""
OUTCOMES: tuple[str, ...] = ("ok", "tool_error", "refused", "protocol_error")

RefusalCode = Literal[
    "server_expired",
    "server_revoked",
    "api_token_missing",
    "api_token_rejected",
    "tool_hidden",
    "rate_limited",
    "budget_exceeded",
    "pin_violation",
    "confirmation_required",
    "confirmation_declined",
    "confirmation_timeout",
    "confirm_token_invalid",
]
"""``error_code`` of a ``refused`` record: why the call did not run."""

Decision = Literal[
    "planned",
    "asked",
    "accepted",
    "declined",
    "cancelled",
    "expired",
    "confirmed",
    "token_reused",
    "token_expired",
    "token_mismatch",
    "token_unknown",
]
"""What a confirmation step decided (``decision`` of a tool-call record):

``planned`` a plan and a ``confirm_token`` were returned; ``asked`` the client was asked and
the call ended before an answer (e.g. cancelled); ``accepted``, ``declined``, ``cancelled``
the person's answer to the client's prompt; ``expired`` no answer in time; ``confirmed`` run
with a valid ``confirm_token``; ``token_*`` a ``confirm_token`` refused, and why."""
DECISIONS: tuple[str, ...] = Decision.__args__  # type: ignore[attr-defined]

AdminAction = Literal[
    "account.created",
    "account.deleted",
    "account.renamed",
    "account.token_rotated",
    "mcp_server.created",
    "mcp_server.updated",
    "mcp_server.rotated",
    "mcp_server.revoked",
    "mcp_server.expired",
    "api_token.created",
    "api_token.revoked",
    "admin_token.created",
    "admin_token.revoked",
]
ADMIN_ACTIONS: tuple[str, ...] = AdminAction.__args__  # type: ignore[attr-defined]

OPERATOR_BOOTSTRAP = "admin"
"""The operator named by the bootstrap admin token (``STACKMCP_ADMIN_TOKEN`` or generated)."""
OPERATOR_EXPIRY = "expiry"
"""The operator named on changes the expiry service makes (a server passing ``expires_at``)."""


class AuditRecord(Message, frozen=True, kw_only=True, omit_defaults=False):
    """Base of audit records: an id (also the JetStream ``Nats-Msg-Id``) and a time (UTC)."""

    id: str
    time: datetime


class ToolCallCompleted(AuditRecord, frozen=True, kw_only=True, tag="stackmcp.audit.v1.tool_call"):
    """One ``tools/call`` through an MCP server, or one request refused for a known server."""

    duration_ms: float
    account_id: str
    server_id: str
    server_name: str = ""
    session_id: str | None = None
    client_name: str | None = None
    """From ``initialize``'s ``clientInfo`` (session eras) or the request's ``_meta``."""
    client_version: str | None = None
    protocol_version: str | None = None
    method: str = "tools/call"
    """The MCP method; refusals at the door may name another (e.g. ``initialize``)."""
    tool: str | None = None
    arguments: dict[str, Any] | None = None
    """The call's arguments, secrets redacted and long strings truncated."""
    outcome: Outcome
    error_code: str | None = None
    """A stable code: a :data:`RefusalCode`, a ``stackmcp`` error code, or a protocol error
    such as ``unknown_tool``; ``null`` for ``ok``."""
    upstream_status: int | None = None
    ratelimit: RateLimitInfo | None = None
    trace_id: str | None = None
    decision: Decision | None = None
    """What a confirmation step decided for this call (``null``: no confirmation asked)."""


class AdminChange(AuditRecord, frozen=True, kw_only=True, tag="stackmcp.audit.v1.admin_change"):
    """One change an operator (or the expiry service) made to accounts, servers or tokens."""

    operator: str
    """The named admin token's name, :data:`OPERATOR_BOOTSTRAP` or :data:`OPERATOR_EXPIRY`."""
    action: AdminAction
    account_id: str | None = None
    server_id: str | None = None
    target_id: str | None = None
    """The API token or admin token acted on (its id, never the token)."""
    name: str | None = None
    """The name of what was acted on."""
    changes: dict[str, Any] | None = None
    """For updates: the fields that changed, with their new values."""


AuditEntry = ToolCallCompleted | AdminChange
"""Every audit record; decode with ``msgspec.json.Decoder(AuditEntry)``."""
