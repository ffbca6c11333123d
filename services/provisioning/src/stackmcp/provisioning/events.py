"""Publishing provisioning's lifecycle events on JetStream."""

from __future__ import annotations

import asyncio
import logging

from nats.js import JetStreamContext

from stackmcp.contracts._base import Event
from stackmcp.runtime.errors import Unavailable
from stackmcp.runtime.events import publish_event

__all__ = ["EventPublisher"]

logger = logging.getLogger(__name__)


class EventPublisher:
    """Publishes events after the change they describe is stored.

    A publish that is not acknowledged is retried with the same event id (JetStream keeps one
    copy). If it still fails, the change stays stored and the failure is logged: gateways fall
    back to their grant cache TTL and expiry to its start-up reconciliation.
    """

    def __init__(self, js: JetStreamContext, *, attempts: int = 3, backoff: float = 0.2) -> None:
        self._js = js
        self._attempts = attempts
        self._backoff = backoff

    async def publish(self, subject: str, event: Event) -> bool:
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
