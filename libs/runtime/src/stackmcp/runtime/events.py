"""Lifecycle events and the audit trail on JetStream: the streams, and publishing into them.

Provisioning and expiry both call :func:`ensure_events_stream` and :func:`ensure_audit_stream`
at start (whichever starts first creates them; the other finds them), so start order does not
matter. A stream found with other replicas or limits is moved to the configured ones.
:func:`publish_event` sets the event id as ``Nats-Msg-Id``: JetStream drops a re-publish of the
same event inside the duplicate window, so a publisher may retry after a lost acknowledgement
without doubling it.
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
from stackmcp.contracts.audit import AuditRecord
from stackmcp.contracts.subjects import Subjects
from stackmcp.runtime.config import AuditConfig
from stackmcp.runtime.errors import Unavailable
from stackmcp.runtime.telemetry import inject_headers

__all__ = [
    "EVENTS_MAX_AGE",
    "audit_stream_config",
    "ensure_audit_stream",
    "ensure_events_stream",
    "publish_event",
]

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


def audit_stream_config(
    subjects: Subjects, audit: AuditConfig, *, replicas: int = 1
) -> StreamConfig:
    """The stream holding every ``<prefix>.audit.>`` record, on disk, limited by age and size."""
    return StreamConfig(
        name=subjects.audit_stream,
        subjects=[subjects.audit],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=audit.max_age_days * 24 * 3600.0,
        max_bytes=audit.max_bytes,
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
    await _ensure_stream(js, events_stream_config(subjects, replicas=replicas))


async def ensure_audit_stream(
    js: JetStreamContext, subjects: Subjects, audit: AuditConfig, *, replicas: int = 1
) -> None:
    """Create the audit stream, or move an existing one to these limits and replicas.

    Raises:
        Unavailable: as :func:`ensure_events_stream`.
    """
    await _ensure_stream(js, audit_stream_config(subjects, audit, replicas=replicas))


def _differs(found: StreamConfig, wanted: StreamConfig) -> bool:
    return (
        found.num_replicas != wanted.num_replicas
        or (found.max_age or 0) != (wanted.max_age or 0)
        or (found.max_bytes or -1) != (wanted.max_bytes or -1)
    )


async def _ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    name = config.name or ""
    replicas = config.num_replicas or 1
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
        if _differs(info.config, config):
            await js.update_stream(
                replace(
                    info.config,
                    num_replicas=replicas,
                    max_age=config.max_age,
                    max_bytes=config.max_bytes,
                )
            )
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
    js: JetStreamContext, subject: str, event: Event | AuditRecord, *, timeout: float = 5.0
) -> None:
    """Publish ``event`` (or an audit record) on ``subject`` into the stream capturing that
    subject, de-duplicated by its id.

    Raises:
        Unavailable: the stream did not acknowledge (the caller may retry: same id, one copy).
    """
    headers = {"Nats-Msg-Id": event.id, **inject_headers()}
    try:
        await js.publish(subject, msgspec.json.encode(event), timeout=timeout, headers=headers)
    except (nats.errors.Error, nats.js.errors.Error) as exc:
        logger.warning("event %s not acknowledged: %s", event.id, type(exc).__name__)
        raise Unavailable("the event stream did not acknowledge; try again") from None
