"""The JetStream side of expiry: one durable pull consumer shared by every replica.

Each MCP server lifecycle event goes to one replica, which re-reads that server's hash (the
source of truth: replicas may handle events out of order) and fixes the schedule with
:meth:`Schedule.sync`. Handling is idempotent, so a redelivery or an event handled after a newer
one does no harm. Events still in the stream while no replica ran are delivered when one starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from redis.exceptions import RedisError

from stackmcp.contracts.events import (
    LifecycleEvent,
    McpServerCreated,
    McpServerDeleted,
    McpServerExpired,
    McpServerUpdated,
)
from stackmcp.contracts.subjects import Subjects
from stackmcp.expiry.config import ExpiryConfig
from stackmcp.expiry.schedule import Schedule

__all__ = ["EventConsumer", "consumer_config", "ensure_consumer", "server_id_of"]

logger = logging.getLogger(__name__)

_DECODER = msgspec.json.Decoder(LifecycleEvent)
_RETRY_DELAY = 1.0
"""Seconds before a failed event is redelivered, and pause after a failed fetch."""


def consumer_config(subjects: Subjects, config: ExpiryConfig) -> ConsumerConfig:
    """The durable pull consumer every expiry replica binds to."""
    return ConsumerConfig(
        name=subjects.expiry_consumer,
        durable_name=subjects.expiry_consumer,
        description="stackmcp-expiry: keeps the expiry schedule",
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=config.ack_wait,
        max_deliver=config.max_deliver,
        filter_subject=subjects.mcp_server_events,
    )


async def ensure_consumer(
    js: JetStreamContext, subjects: Subjects, config: ExpiryConfig
) -> Any:  # nats-py is untyped: a JetStreamContext.PullSubscription
    """Create (or update, or find) the durable consumer and bind a pull subscription to it.

    Creating is idempotent on the server: replicas starting together all succeed, and changed
    settings (``ack_wait``, ``max_deliver``) are applied to the existing consumer.

    Raises:
        nats.errors.Error: JetStream did not answer.
    """
    stream = subjects.events_stream
    try:
        await js.add_consumer(stream, consumer_config(subjects, config))
    except nats.js.errors.BadRequestError as exc:
        # Exists with settings that cannot be changed in place; keep using it as it is.
        logger.warning(
            "consumer %s kept with its current settings: %s", subjects.expiry_consumer, exc
        )
    return await js.pull_subscribe_bind(durable=subjects.expiry_consumer, stream=stream)


def server_id_of(event: LifecycleEvent) -> str | None:
    """The MCP server an event is about, or ``None`` for events about something else."""
    if isinstance(event, McpServerCreated | McpServerUpdated):
        return event.grant.server_id
    if isinstance(event, McpServerDeleted | McpServerExpired):
        return event.server_id
    return None


class EventConsumer:
    """Fetch lifecycle events and keep the schedule in line with them.

    Args:
        subscription: pull subscription bound to the durable consumer (:func:`ensure_consumer`).
        schedule: the schedule to fix.
        wake: called after the schedule changed (wakes the purge loop).
        batch: most events fetched at once.
        fetch_timeout: seconds one fetch waits for events.
    """

    def __init__(
        self,
        subscription: Any,  # nats-py's PullSubscription is untyped
        schedule: Schedule,
        *,
        wake: Callable[[], None],
        batch: int = 100,
        fetch_timeout: float = 5.0,
    ) -> None:
        self._subscription = subscription
        self._schedule = schedule
        self._wake = wake
        self._batch = batch
        self._fetch_timeout = fetch_timeout

    async def run(self, stop: asyncio.Event) -> None:
        """Handle events until ``stop`` is set; a batch already fetched is finished first."""
        while not stop.is_set():
            try:
                messages = await self._fetch(stop)
            except (nats.errors.Error, OSError) as exc:
                logger.warning("fetching events failed: %s", type(exc).__name__)
                await _pause(stop, _RETRY_DELAY)
                continue
            await self.handle_batch(messages)

    async def _fetch(self, stop: asyncio.Event) -> list[Msg]:
        fetch = asyncio.ensure_future(
            self._subscription.fetch(self._batch, timeout=self._fetch_timeout)
        )
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait({fetch, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if not fetch.done():
            # Stopping: whatever the server sends after this is redelivered elsewhere.
            fetch.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError, nats.errors.Error):
                await fetch
            return []
        try:
            messages: list[Msg] = fetch.result()
        except TimeoutError:  # also nats.errors.TimeoutError: no event within the timeout
            return []
        return messages

    async def handle_batch(self, messages: Sequence[Msg]) -> None:
        """Handle ``messages`` in order; after a Redis failure the rest are redelivered later."""
        changed = False
        for index, msg in enumerate(messages):
            try:
                ok = await self.handle(msg)
            except nats.errors.Error as exc:  # the ack did not go out: it comes back
                logger.warning("acknowledging an event failed: %s", type(exc).__name__)
                continue
            if not ok:
                await _nak_all(messages[index + 1 :])
                break
            changed = True
        if changed:
            self._wake()

    async def handle(self, msg: Msg) -> bool:
        """Fix the schedule for one event and acknowledge it.

        Returns:
            ``False`` when Redis failed (the event was given back for redelivery).
        """
        try:
            event = _DECODER.decode(msg.data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            logger.warning("dropping a malformed event on %s", msg.subject)
            await msg.term()
            return True
        server_id = server_id_of(event)
        if server_id is not None:
            try:
                await self._schedule.sync(server_id)
            except (RedisError, OSError) as exc:
                logger.warning("scheduling %s failed: %s", server_id, type(exc).__name__)
                await msg.nak(delay=_RETRY_DELAY)
                return False
        await msg.ack()
        return True


async def _nak_all(messages: Sequence[Msg]) -> None:
    for msg in messages:
        with contextlib.suppress(nats.errors.Error):
            await msg.nak(delay=_RETRY_DELAY)


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
