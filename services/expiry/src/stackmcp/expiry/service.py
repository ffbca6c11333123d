"""The expiry process: wiring, start-up reconcile, the two loops, graceful drain.

``run`` connects Redis and NATS, makes sure the events and audit streams and the shared durable
consumer exist, rebuilds the schedule from every server hash once, then runs two loops until
stopped: :class:`~stackmcp.expiry.consumer.EventConsumer` (lifecycle events → schedule) and
:class:`~stackmcp.expiry.purger.Purger` (schedule → purge → ``expired`` events, each followed by
its :class:`~stackmcp.contracts.audit.AdminChange` naming the operator ``expiry``). A third loop,
:class:`~stackmcp.expiry.actions.ActionRunner`, runs the scheduled actions workers record (the
resume of a pause with a resume time) as tool calls to the worker. On stop the loops finish
what they hold, the subscription goes, NATS is drained and Redis closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import nats.errors
from nats.js import JetStreamContext
from redis.exceptions import RedisError

from stackmcp.contracts.audit import OPERATOR_EXPIRY, AdminChange, ToolCallCompleted
from stackmcp.contracts.events import McpServerExpired
from stackmcp.contracts.keys import RedisKeys
from stackmcp.contracts.subjects import Subjects
from stackmcp.contracts.tools import ToolCallRequest, ToolCallResult
from stackmcp.expiry.actions import ActionRunner, ActionStore, Audit, Send
from stackmcp.expiry.config import ExpiryConfig
from stackmcp.expiry.consumer import EventConsumer, ensure_consumer
from stackmcp.expiry.metrics import ExpiryMetrics
from stackmcp.expiry.purger import Publish, Purger
from stackmcp.expiry.schedule import Schedule
from stackmcp.runtime.auditlogs import emit_audit_log
from stackmcp.runtime.config import AuditConfig, NatsConfig, RedisConfig, load_section
from stackmcp.runtime.errors import Unavailable
from stackmcp.runtime.events import ensure_audit_stream, ensure_events_stream, publish_event
from stackmcp.runtime.health import HealthConfig, HealthServer, NatsReadiness
from stackmcp.runtime.natsx import connect, drain, request
from stackmcp.runtime.redisx import connect_redis
from stackmcp.runtime.status import serve_status

__all__ = ["action_auditor", "expired_change", "expiry_publisher", "run", "tool_sender"]

logger = logging.getLogger(__name__)
NAME = "stackmcp-expiry"
_RETRY_DELAY = 2.0
"""Seconds between attempts while JetStream or Redis is not ready at start-up."""

T = TypeVar("T")


async def run(stop: asyncio.Event) -> None:
    """Keep the expiry schedule and purge expired MCP servers until ``stop`` is set."""
    config = load_section(ExpiryConfig, "EXPIRY")
    nats_config = load_section(NatsConfig, "NATS")
    redis_config = load_section(RedisConfig, "REDIS")
    audit_config = load_section(AuditConfig, "AUDIT")
    subjects = Subjects(nats_config.subject_prefix)
    keys = RedisKeys(redis_config.key_prefix)
    readiness = NatsReadiness(stop)
    health = HealthServer(load_section(HealthConfig, "HEALTH"), readiness)
    metrics = ExpiryMetrics()
    async with contextlib.AsyncExitStack() as stack:
        await health.start()
        stack.push_async_callback(health.close)
        try:
            # Redis first: on exit NATS is drained before Redis closes.
            redis = await connect_redis(redis_config, stop=stop)
            stack.push_async_callback(redis.aclose)
            nc = await connect(nats_config, NAME, stop=stop)
            stack.push_async_callback(drain, nc)
        except Unavailable:
            logger.info("%s stopped before its servers were reachable", NAME)
            return
        await serve_status(
            nc, subjects, NAME, ready=readiness, details=_details(metrics), stop=stop
        )
        js = nc.jetstream()
        subscription = await _retrying(
            stop,
            "events consumer",
            _consumer(js, subjects, config, audit_config, nats_config.stream_replicas),
        )
        schedule = Schedule(redis, keys, history_days=audit_config.history_days)
        checked = await _retrying(stop, "reconcile", schedule.reconcile)
        if subscription is None or checked is None:
            logger.info("%s stopped before it was ready", NAME)
            return
        logger.info("%s scheduled the expiry of %d servers", NAME, checked)
        readiness.serving(nc)
        publish = expiry_publisher(js, subjects)
        actions = ActionRunner(
            ActionStore(redis, keys),
            tool_sender(nc, subjects),
            audit=action_auditor(js, subjects),
            batch=config.batch,
            poll=config.action_poll,
            timeout=config.action_timeout,
            lease=config.action_lease,
            attempts=config.action_attempts,
            backoff=config.action_backoff,
            metrics=metrics,
        )
        await _serve(
            stop, config, subscription, schedule, publish, metrics=metrics, actions=actions
        )
        with contextlib.suppress(nats.errors.Error, ValueError):
            await subscription.unsubscribe()
    logger.info("%s stopped", NAME)


async def _serve(
    stop: asyncio.Event,
    config: ExpiryConfig,
    subscription: Any,  # nats-py's PullSubscription is untyped
    schedule: Schedule,
    publish: Publish,
    *,
    metrics: ExpiryMetrics,
    actions: ActionRunner | None = None,
) -> None:
    purger = Purger(
        schedule,
        publish,
        batch=config.batch,
        max_sleep=config.max_sleep,
        outbox_grace=config.outbox_grace,
        reconcile_interval=config.reconcile_interval,
        metrics=metrics,
    )
    consumer = EventConsumer(
        subscription,
        schedule,
        wake=purger.wake,
        batch=config.batch,
        fetch_timeout=config.fetch_timeout,
    )
    loops = [asyncio.create_task(consumer.run(stop)), asyncio.create_task(purger.run(stop))]
    if actions is not None:
        loops.append(asyncio.create_task(actions.run(stop)))
    logger.info("%s ready", NAME)
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait([stopped, *loops], return_when=asyncio.FIRST_COMPLETED)
    if not stop.is_set():  # a loop died of a bug: stop the other one and fail the process
        stopped.cancel()
        stop.set()
    logger.info("%s stopping", NAME)
    await asyncio.wait(loops)
    for loop in loops:
        if loop.exception() is not None:
            logger.error("%s loop failed", NAME, exc_info=loop.exception())
            raise SystemExit(1)


def _details(metrics: ExpiryMetrics) -> Callable[[], dict[str, int]]:
    """What a status answer adds: the schedule's size as the purge loop last read it, and the
    scheduled actions' as the action loop did."""

    def details() -> dict[str, int]:
        sizes = {"scheduled": metrics.scheduled, "actions": metrics.actions}
        return {name: size for name, size in sizes.items() if size is not None}

    return details


def _consumer(
    js: JetStreamContext,
    subjects: Subjects,
    config: ExpiryConfig,
    audit: AuditConfig,
    replicas: int,
) -> Callable[[], Awaitable[Any]]:
    async def start() -> Any:
        await ensure_events_stream(js, subjects, replicas=replicas)
        await ensure_audit_stream(js, subjects, audit, replicas=replicas)
        return await ensure_consumer(js, subjects, config)

    return start


def expired_change(event: McpServerExpired) -> AdminChange:
    """The audit record of an expiry: its id is derived from the event's (itself the same on
    every replica), so a re-publish from the outbox is dropped by JetStream as a duplicate."""
    return AdminChange(
        id=f"audit-{event.id}",
        time=event.occurred_at,
        operator=OPERATOR_EXPIRY,
        action="mcp_server.expired",
        account_id=event.account_id,
        server_id=event.server_id,
        name=event.name or None,
    )


def tool_sender(nc: Any, subjects: Subjects) -> Send:
    """Send a scheduled action's tool call to the workers (their queue group), as a gateway."""

    async def send(call: ToolCallRequest, timeout: float) -> ToolCallResult:
        return await request(nc, subjects.tool_call, call, ToolCallResult, timeout=timeout)

    return send


def action_auditor(js: JetStreamContext, subjects: Subjects) -> Audit:
    """Audit a scheduled action's call as a tool call of the server that scheduled it
    (de-duplicated by id: one record per attempt however often it is published)."""

    async def audit(record: ToolCallCompleted) -> None:
        await publish_event(js, subjects.audit_call(record.account_id, record.server_id), record)
        emit_audit_log(record)

    return audit


def expiry_publisher(js: JetStreamContext, subjects: Subjects) -> Publish:
    """Publish an ``expired`` event, then its audit record (both de-duplicated by id, so a
    re-publish from the outbox adds neither twice)."""
    subject = subjects.mcp_server_event("expired")

    async def publish(event: McpServerExpired) -> None:
        await publish_event(js, subject, event)
        change = expired_change(event)
        await publish_event(js, subjects.audit_admin(event.account_id, event.server_id), change)
        emit_audit_log(change)

    return publish


async def _retrying(
    stop: asyncio.Event, what: str, attempt: Callable[[], Awaitable[T]]
) -> T | None:
    """``await attempt()`` until it succeeds (its result) or ``stop`` is set (``None``)."""
    while not stop.is_set():
        try:
            return await attempt()
        except (Unavailable, nats.errors.Error, RedisError, OSError) as exc:
            logger.warning("%s not ready (%s); retrying", what, type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), _RETRY_DELAY)
    return None
