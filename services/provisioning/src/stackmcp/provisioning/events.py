"""Publishing provisioning's lifecycle events and admin-change audit records on JetStream."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from nats.js import JetStreamContext
from opentelemetry import metrics

from stackmcp.contracts._base import Event, new_event_id, utcnow
from stackmcp.contracts.audit import AdminAction, AdminChange, AuditRecord
from stackmcp.contracts.subjects import Subjects
from stackmcp.runtime.auditlogs import emit_audit_log
from stackmcp.runtime.errors import Unavailable
from stackmcp.runtime.events import publish_event

__all__ = ["AuditTrail", "EventPublisher"]

logger = logging.getLogger(__name__)
_changes = metrics.get_meter("stackmcp.provisioning").create_counter(
    "stackmcp.admin.changes", description="Admin changes recorded, by action"
)


class EventPublisher:
    """Publishes events (and audit records) after the change they describe is stored.

    A publish that is not acknowledged is retried with the same id (JetStream keeps one copy).
    If it still fails, the change stays stored and the failure is logged: gateways fall back to
    their grant cache TTL and expiry to its start-up reconciliation; the audit trail misses the
    record (the change stands either way).
    """

    def __init__(self, js: JetStreamContext, *, attempts: int = 3, backoff: float = 0.2) -> None:
        self._js = js
        self._attempts = attempts
        self._backoff = backoff

    async def publish(self, subject: str, event: Event | AuditRecord) -> bool:
        """Publish ``event``; whether JetStream acknowledged it."""
        for attempt in range(1, self._attempts + 1):
            try:
                await publish_event(self._js, subject, event)
            except Unavailable:
                if attempt < self._attempts:
                    await asyncio.sleep(self._backoff * attempt)
                continue
            return True
        logger.error("event %s on %s was stored but could not be published", event.id, subject)
        return False


class AuditTrail:
    """Records admin changes: one :class:`AdminChange` per change, naming its operator, on
    :meth:`Subjects.audit_admin` (the audit stream)."""

    def __init__(
        self,
        events: EventPublisher,
        subjects: Subjects,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._events = events
        self._subjects = subjects
        self._clock = clock

    async def record(
        self,
        operator: str,
        action: AdminAction,
        *,
        account_id: str | None = None,
        server_id: str | None = None,
        target_id: str | None = None,
        name: str | None = None,
        changes: dict[str, Any] | None = None,
        at: datetime | None = None,
    ) -> bool:
        """Publish one admin change; whether JetStream acknowledged it (failure is logged)."""
        change = AdminChange(
            id=new_event_id(),
            time=at or self._clock(),
            operator=operator,
            action=action,
            account_id=account_id,
            server_id=server_id,
            target_id=target_id,
            name=name,
            changes=changes,
        )
        emit_audit_log(change)
        _changes.add(1, {"stackmcp.action": action})
        return await self._events.publish(self._subjects.audit_admin(account_id, server_id), change)
