"""Every NATS subject, queue group and JetStream name stackmcp uses.

Request/reply subjects are ``<prefix>.<service>.<noun>.<verb>``; events are
``<prefix>.evt.<noun>.<past tense>``. The prefix is configurable
(``STACKMCP_NATS_SUBJECT_PREFIX``) so several installations can share one NATS; type tags on
messages never change with it.
"""

from __future__ import annotations

import re
from typing import Literal

__all__ = [
    "DEFAULT_PREFIX",
    "AccountEventKind",
    "ApiTokenEventKind",
    "AuditKind",
    "McpServerEventKind",
    "Subjects",
]

DEFAULT_PREFIX = "stackmcp"

McpServerEventKind = Literal["created", "updated", "rotated", "deleted", "expired"]
AccountEventKind = Literal["created", "updated", "deleted"]
ApiTokenEventKind = Literal["created", "revoked"]
AuditKind = Literal["call", "admin"]

_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]+$")


def _token(value: str) -> str:
    """``value`` as one subject token; ids are generated so, anything else is refused."""
    if not _TOKEN_RE.match(value):
        raise ValueError(f"{value[:40]!r} is not a single subject token")
    return value


class Subjects:
    """Subject names under one prefix.

    Args:
        prefix: one or more dot-separated tokens of letters, digits, ``_`` or ``-``.

    Raises:
        ValueError: the prefix is empty or contains wildcards, spaces or empty tokens.
    """

    __slots__ = ("prefix",)

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        tokens = prefix.split(".")
        if not prefix or not all(_TOKEN_RE.match(token) for token in tokens):
            raise ValueError(
                f"invalid subject prefix {prefix!r}: use dot-separated tokens of "
                "letters, digits, '_' or '-'"
            )
        self.prefix = prefix

    # Request/reply, served by betterstack-worker replicas in one queue group.
    @property
    def tool_call(self) -> str:
        """Gateway → worker: run one tool."""
        return f"{self.prefix}.betterstack.tool.call"

    def worker_tool_call(self, worker_id: str) -> str:
        """Gateway → one worker: run one tool on that worker (chosen from live presence)."""
        return f"{self.prefix}.betterstack.worker.{worker_id}.tool.call"

    @property
    def worker_presence(self) -> str:
        """Worker → gateways: "I am alive" announcements (core, no queue group)."""
        return f"{self.prefix}.betterstack.worker.presence"

    @property
    def catalog_get(self) -> str:
        """Gateway/provisioning → worker: the compiled tool catalogue."""
        return f"{self.prefix}.betterstack.catalog.get"

    @property
    def account_verify(self) -> str:
        """Provisioning → worker: check a (sealed) Better Stack token against the upstream."""
        return f"{self.prefix}.betterstack.account.verify"

    @property
    def worker_queue_group(self) -> str:
        """Queue group shared by worker replicas."""
        return "betterstack-worker"

    # Events (JetStream).
    def mcp_server_event(self, kind: McpServerEventKind) -> str:
        """Lifecycle event of an MCP server."""
        return f"{self.prefix}.evt.mcp_server.{kind}"

    @property
    def mcp_server_events(self) -> str:
        """Wildcard matching every MCP server lifecycle event."""
        return f"{self.prefix}.evt.mcp_server.*"

    def account_event(self, kind: AccountEventKind) -> str:
        """Lifecycle event of an integrated account."""
        return f"{self.prefix}.evt.account.{kind}"

    @property
    def account_events(self) -> str:
        """Wildcard matching every account lifecycle event."""
        return f"{self.prefix}.evt.account.*"

    def api_token_event(self, kind: ApiTokenEventKind) -> str:
        """Lifecycle event of an API token."""
        return f"{self.prefix}.evt.api_token.{kind}"

    @property
    def api_token_events(self) -> str:
        """Wildcard matching every API token lifecycle event."""
        return f"{self.prefix}.evt.api_token.*"

    # The audit trail (JetStream, its own stream: other retention, far more traffic).
    def audit_call(self, account_id: str, server_id: str) -> str:
        """Audit record of one tool call (or refusal) through one MCP server."""
        return f"{self.prefix}.audit.call.{_token(account_id)}.{_token(server_id)}"

    def audit_admin(self, account_id: str | None = None, server_id: str | None = None) -> str:
        """Audit record of one admin change; ``_`` stands for "no account" / "no server"."""
        return f"{self.prefix}.audit.admin.{_token(account_id or '_')}.{_token(server_id or '_')}"

    def audit_filter(
        self,
        kind: AuditKind | None = None,
        account_id: str | None = None,
        server_id: str | None = None,
    ) -> str:
        """The subject filter reading one kind, one account, or one server of the audit trail."""
        account = _token(account_id) if account_id else "*"
        server = _token(server_id) if server_id else "*"
        return f"{self.prefix}.audit.{kind or '*'}.{account}.{server}"

    @property
    def audit(self) -> str:
        """Wildcard matching every audit subject (what the audit stream captures)."""
        return f"{self.prefix}.audit.>"

    @property
    def audit_stream(self) -> str:
        """Name of the JetStream stream holding the audit trail."""
        return self.prefix.replace(".", "_").replace("-", "_").upper() + "_AUDIT"

    @property
    def events(self) -> str:
        """Wildcard matching every event subject (what the events stream captures)."""
        return f"{self.prefix}.evt.>"

    @property
    def events_stream(self) -> str:
        """Name of the JetStream stream holding every event."""
        return self.prefix.replace(".", "_").replace("-", "_").upper() + "_EVENTS"

    @property
    def expiry_consumer(self) -> str:
        """Durable JetStream consumer shared by expiry replicas."""
        return "expiry"

    # Every service, for ``stackmcp status``.
    @property
    def status(self) -> str:
        """Anyone → every replica of every service: "who are you, are you ready?" (core NATS,
        no queue group: each replica answers)."""
        return f"{self.prefix}.status.ping"

    # Core NATS between gateway replicas.
    @property
    def gateway_session_closed(self) -> str:
        """Broadcast: a session was ended; every replica drops its cached copy."""
        return f"{self.prefix}.gateway.session_closed"

    def gateway_answer(self, request_id: str) -> str:
        """A client's answer to the gateway's request ``request_id`` (e.g. an elicitation),
        for the replica waiting for it, whichever replica the answer reached."""
        if not _TOKEN_RE.match(request_id):
            raise ValueError("request id must be a single subject token")
        return f"{self.prefix}.gateway.answer.{request_id}"

    def gateway_session(self, session_id: str) -> str:
        """Messages for the gateway replica holding the SSE stream of ``session_id``."""
        if not _TOKEN_RE.match(session_id):
            raise ValueError("session id must be a single subject token")
        return f"{self.prefix}.gateway.session.{session_id}"
