"""Lifecycle events on JetStream: the stream every service relies on, and publishing into it.

Provisioning and expiry both call :func:`ensure_events_stream` at start (whichever starts first
creates it; the other finds it), so start order does not matter. :func:`publish_event` sets the
event id as ``Nats-Msg-Id``: JetStream drops a re-publish of the same event inside the
duplicate window, so a publisher may retry after a lost acknowledgement without doubling it.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import msgspec
import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig, StreamInfo

from stackmcp.contracts._base import Event
from stackmcp.contracts.subjects import Subjects
from stackmcp.runtime.errors import Unavailable
from stackmcp.runtime.telemetry import inject_headers

__all__ = ["EVENTS_MAX_AGE", "ensure_events_stream", "publish_event"]

logger = logging.getLogger(__name__)

EVENTS_MAX_AGE = 7 * 24 * 3600.0
"""Seconds events are kept: long enough for a consumer that was down over a weekend."""
DUPLICATE_WINDOW = 120.0
"""Seconds within which JetStream drops a second publish of the same event id."""


def events_stream_config(subjects: Subjects, *, replicas: int = 1) -> StreamConfig:
    """The stream holding every ``<prefix>.evt.>`` event, on disk."""
    return StreamConfig(
        name=subjects.events_stream,
        subjects=[subjects.events],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=EVENTS_MAX_AGE,
        duplicate_window=DUPLICATE_WINDOW,
        num_replicas=replicas,
    )


async def ensure_events_stream(
    js: JetStreamContext, subjects: Subjects, *, replicas: int = 1
) -> None:
    """Create the events stream, or keep an existing one, moving it to ``replicas`` copies.

    Idempotent: replicas starting together race to create it and all end up using it.

    Raises:
        Unavailable: JetStream did not answer, or refused the stream (e.g. more replicas than
            the cluster has servers).
    """
    config = events_stream_config(subjects, replicas=replicas)
    name = config.name or ""
    try:
        info = await _stream_info(js, name)
        if info is None:
            try:
                await js.add_stream(config)
                logger.info("created JetStream stream %s (%d replicas)", name, replicas)
                return
            except nats.js.errors.BadRequestError:
                # Another replica created it between our lookup and our add; if it is still
                # missing, JetStream refused the configuration (reported below).
                info = await _stream_info(js, name)
                if info is None:
                    raise
        if info.config.num_replicas != replicas:
            await js.update_stream(replace(info.config, num_replicas=replicas))
            logger.info("JetStream stream %s now keeps %d replicas", name, replicas)
    except (nats.js.errors.BadRequestError, nats.js.errors.ServerError) as exc:
        raise Unavailable(f"JetStream refused stream {name}: {exc.description}") from None
    except (nats.errors.Error, nats.js.errors.Error) as exc:
        raise Unavailable(f"JetStream is not available: {type(exc).__name__}") from None


async def _stream_info(js: JetStreamContext, name: str) -> StreamInfo | None:
    try:
        return await js.stream_info(name)
    except nats.js.errors.NotFoundError:
        return None


async def publish_event(
    js: JetStreamContext, subject: str, event: Event, *, timeout: float = 5.0
) -> None:
    """Publish ``event`` on ``subject`` into the events stream, de-duplicated by its id.

    Raises:
        Unavailable: the stream did not acknowledge (the caller may retry: same id, one copy).
    """
    headers = {"Nats-Msg-Id": event.id, **inject_headers()}
    try:
        await js.publish(subject, msgspec.json.encode(event), timeout=timeout, headers=headers)
    except (nats.errors.Error, nats.js.errors.Error) as exc:
        logger.warning("event %s not acknowledged: %s", event.id, type(exc).__name__)
        raise Unavailable("the event stream did not acknowledge; try again") from None
