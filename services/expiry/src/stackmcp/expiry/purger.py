"""The purge loop: sleep until the next expiry, purge what is due, publish ``expired`` events.

Every replica runs this loop on the shared schedule; the purge script lets exactly one of them
purge each server, and only that one publishes. An event whose publish failed stays in the outbox
and is re-published (same id, so JetStream keeps one copy) by whichever replica claims it first
once the grace period is over.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from redis.exceptions import RedisError

from stackmcp.contracts.events import McpServerExpired
from stackmcp.expiry.metrics import ExpiryMetrics
from stackmcp.expiry.schedule import Schedule
from stackmcp.runtime.errors import Unavailable

__all__ = ["Publish", "Purger"]

logger = logging.getLogger(__name__)

Publish = Callable[[McpServerExpired], Awaitable[None]]
"""Publishes one event into the events stream; raises :class:`Unavailable` when not acked."""


class Purger:
    """Purge due servers of ``schedule`` and publish their events with ``publish``.

    Args:
        schedule: the shared schedule.
        publish: sends an event to JetStream (de-duplicated by event id).
        batch: most servers purged, and outbox entries re-published, per sweep.
        max_sleep: longest pause between sweeps, in seconds.
        outbox_grace: age in seconds after which an unpublished outbox entry is re-published.
        reconcile_interval: seconds between full schedule rebuilds; 0 disables them.
        metrics: where purges and the schedule's size are reported (none by default).
    """

    def __init__(
        self,
        schedule: Schedule,
        publish: Publish,
        *,
        batch: int = 100,
        max_sleep: float = 1.0,
        outbox_grace: float = 30.0,
        reconcile_interval: float = 0.0,
        metrics: ExpiryMetrics | None = None,
    ) -> None:
        self._schedule = schedule
        self._publish = publish
        self._batch = batch
        self._max_sleep = max_sleep
        self._outbox_grace = outbox_grace
        self._reconcile_interval = reconcile_interval
        self._metrics = metrics
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look at the schedule now instead of at the end of the current sleep."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Sweep until ``stop`` is set; a sweep under way is finished first."""
        next_reconcile = time.monotonic() + self._reconcile_interval
        while not stop.is_set():
            self._wake.clear()
            delay = self._max_sleep
            try:
                if self._reconcile_interval and time.monotonic() >= next_reconcile:
                    await self._schedule.reconcile(self._batch)
                    next_reconcile = time.monotonic() + self._reconcile_interval
                if await self.sweep():
                    continue
                delay = await self._delay()
            except (RedisError, OSError) as exc:
                logger.warning("expiry sweep failed: %s", type(exc).__name__)
            await self._sleep(stop, delay)

    async def sweep(self) -> bool:
        """Purge the servers due now and re-publish stale outbox entries.

        Returns:
            Whether a full batch was due (more may be waiting).
        """
        now = self._schedule.clock()
        due = await self._schedule.due(now, self._batch)
        publishing = True
        for server_id in due:
            event = await self._schedule.purge(server_id, now)
            if event is None:
                continue
            logger.info("purged expired MCP server %s", server_id)
            if self._metrics is not None:
                self._metrics.purged(now - event.expired_at.timestamp())
            logger.debug("purged grant %s of MCP server %s", event.token_hash[:8], server_id)
            # After one failed publish the rest stay in the outbox for a later sweep.
            publishing = publishing and await self._deliver(event)
        if publishing:
            stale = await self._schedule.claim_stale(now, self._outbox_grace, self._batch)
            for event in stale:
                logger.info("re-publishing the expiry of MCP server %s", event.server_id)
                if not await self._deliver(event):
                    break
        return len(due) >= self._batch

    async def _deliver(self, event: McpServerExpired) -> bool:
        try:
            await self._publish(event)
        except Unavailable:
            logger.warning("expiry of MCP server %s not published yet; kept", event.server_id)
            return False
        await self._schedule.published(event.server_id)
        return True

    async def _delay(self) -> float:
        first, count = await self._schedule.head()
        if self._metrics is not None:
            self._metrics.schedule_read(count)
        if first is None:
            return self._max_sleep
        return min(self._max_sleep, max(0.0, first - self._schedule.clock()))

    async def _sleep(self, stop: asyncio.Event, delay: float) -> None:
        if delay <= 0:
            return
        waiters = {asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())}
        await asyncio.wait(waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()
