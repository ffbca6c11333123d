"""NATS helpers: connect for ever, typed request/reply with trace context, safe endpoints.

* :func:`connect` keeps trying until the server answers (a pod may start before NATS) and then
  reconnects endlessly; callbacks log state changes.
* :func:`request` sends a msgspec message with W3C trace headers in a CLIENT span and returns the
  typed reply, or raises the :mod:`stackmcp.runtime.errors` class the remote side raised.
* :class:`Endpoint` serves a subject in a queue group (and optionally a subject of its own
  replica): each message is handled in its own task (nats-py runs one subscription's callbacks
  one after another), inside a SERVER span continuing the caller's trace. Expected errors become
  ADR-32 error replies with an ``ErrorBody``; anything else is logged and answered as a generic
  internal error, never a Python repr. A request that asks for it (``beacon``) gets a progress
  beacon on its reply subject that often while it runs, so the caller can tell a slow answer from
  a stalled or dead replica. A handler that finds nobody waits for its answer raises
  :class:`NoReply`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import msgspec
import nats
import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from stackmcp.contracts import headers as h
from stackmcp.contracts.errors import ErrorBody
from stackmcp.runtime.config import NatsConfig
from stackmcp.runtime.errors import (
    DeadlineExceeded,
    Internal,
    InvalidArgument,
    StackmcpError,
    Unavailable,
    error_from_body,
)
from stackmcp.runtime.redaction import redact
from stackmcp.runtime.telemetry import extract_context, inject_headers, tracer

__all__ = ["Endpoint", "NoReply", "connect", "drain", "reply_error", "request"]

logger = logging.getLogger(__name__)
_tracer = tracer(__name__)
_ERROR_DECODER = msgspec.json.Decoder(ErrorBody)

Req = TypeVar("Req")
Resp = TypeVar("Resp")


async def connect(
    config: NatsConfig,
    name: str,
    *,
    stop: asyncio.Event | None = None,
    on_reconnect: Callable[[], Awaitable[None]] | None = None,
) -> Client:
    """Connect to NATS, waiting for a server until one answers or ``stop`` is set.

    nats-py keeps cycling through the servers itself (endless attempts, also for the first
    connection), so a pod may start before NATS; afterwards it reconnects endlessly.

    Args:
        config: servers and timeouts.
        name: client name shown in NATS monitoring.
        stop: give up waiting when set.
        on_reconnect: awaited after each reconnection (core messages published while the client
            was away are lost, so caches fed by events should be cleared here). An exception it
            raises is logged, never propagated.

    Returns:
        A connected client.

    Raises:
        Unavailable: ``stop`` was set before a connection was made.
    """
    servers = [url.strip() for url in config.url.split(",") if url.strip()]
    connected: list[Client] = []
    attempt = asyncio.create_task(
        nats.connect(
            servers=servers,
            name=name,
            max_reconnect_attempts=-1,
            reconnect_time_wait=1,
            connect_timeout=2,
            drain_timeout=int(config.drain_timeout),
            error_cb=_on_error,
            disconnected_cb=_disconnected_callback(connected),
            reconnected_cb=_reconnected_callback(on_reconnect),
        )
    )
    if stop is None:
        connected.append(await attempt)
        return connected[0]
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({attempt, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if attempt.done():
        connected.append(attempt.result())
        return connected[0]
    attempt.cancel()
    with contextlib.suppress(asyncio.CancelledError, nats.errors.Error, OSError):
        await attempt
    raise Unavailable("stopped before NATS was reachable")


async def drain(nc: Client) -> None:
    """Drain ``nc`` on shutdown; close it instead when it cannot drain (it is reconnecting to
    another node, or already closed), so a stop during a NATS failover still exits cleanly."""
    try:
        await nc.drain()
    except nats.errors.Error as exc:
        logger.info("nats could not drain (%s); closing", type(exc).__name__)
        with contextlib.suppress(nats.errors.Error):
            await nc.close()


async def _on_error(exc: Exception) -> None:
    logger.warning("nats error: %s", redact(f"{type(exc).__name__}: {exc}"))


def _disconnected_callback(connected: list[Client]) -> Callable[[], Awaitable[None]]:
    async def disconnected() -> None:
        if connected and (connected[0].is_draining or connected[0].is_closed):
            logger.debug("nats connection closed")  # our own drain: nothing to warn about
            return
        logger.warning("nats disconnected; reconnecting")

    return disconnected


async def _on_reconnected() -> None:
    logger.info("nats reconnected")


def _reconnected_callback(
    hook: Callable[[], Awaitable[None]] | None,
) -> Callable[[], Awaitable[None]]:
    if hook is None:
        return _on_reconnected

    async def reconnected() -> None:
        await _on_reconnected()
        try:
            await hook()
        except Exception:
            logger.exception("nats reconnect hook failed")

    return reconnected


async def request(
    nc: Client,
    subject: str,
    message: msgspec.Struct,
    response_type: type[Resp],
    *,
    timeout: float,
) -> Resp:
    """Send ``message`` and decode the reply as ``response_type``.

    Raises:
        Unavailable: nobody serves ``subject``.
        DeadlineExceeded: no reply within ``timeout`` seconds.
        StackmcpError: the subclass the serving side replied with.
    """
    with _tracer.start_as_current_span(
        f"send {subject}", kind=SpanKind.CLIENT, attributes=_span_attributes(subject, "send")
    ) as span:
        try:
            reply = await nc.request(
                subject, msgspec.json.encode(message), timeout=timeout, headers=inject_headers()
            )
        except nats.errors.NoRespondersError:
            raise Unavailable(f"no service is answering on {subject}") from None
        except nats.errors.TimeoutError:
            raise DeadlineExceeded(f"no answer on {subject} within {timeout:g}s") from None
        error = reply_error(reply)
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, error.code))
            raise error
        try:
            return msgspec.json.decode(reply.data, type=response_type)
        except msgspec.ValidationError as exc:
            raise Internal(f"malformed reply on {subject}: {exc}") from None


def reply_error(reply: Msg) -> StackmcpError | None:
    """The error a reply carries (ADR-32 headers + ``ErrorBody``), or ``None`` for an answer."""
    if not reply.headers or h.SERVICE_ERROR_CODE not in reply.headers:
        return None
    try:
        return error_from_body(_ERROR_DECODER.decode(reply.data))
    except msgspec.ValidationError:
        return Internal(reply.headers.get(h.SERVICE_ERROR, "remote error"))


def _span_attributes(subject: str, operation: str) -> dict[str, Any]:
    return {
        "messaging.system": "nats",
        "messaging.destination.name": subject,
        "messaging.operation.name": operation,
    }


class NoReply(Exception):
    """Raised by an :class:`Endpoint` handler when nobody waits for the answer any more (e.g. the
    caller's deadline passed, or another replica took the request over): nothing is sent."""


_ALIVE = {h.PROGRESS: "alive"}


class Endpoint(Generic[Req]):
    """Serve one request/reply subject in a queue group.

    Args:
        nc: connected client.
        subject: subject to serve.
        queue: queue group shared by replicas.
        request_type: msgspec type requests are decoded as.
        handler: coroutine turning a request into a reply Struct.
        max_concurrency: requests handled at once by this replica.
        direct: a subject served by this replica alone (outside the queue group), for callers
            that pick a replica themselves; it shares the concurrency limit.
        beacon: the seconds between progress beacons a request asks for (0: none). It is read
            from the request body, so requests need no headers of their own.
    """

    def __init__(
        self,
        nc: Client,
        subject: str,
        queue: str,
        request_type: type[Req],
        handler: Callable[[Req], Awaitable[msgspec.Struct]],
        *,
        max_concurrency: int = 64,
        direct: str | None = None,
        beacon: Callable[[Req], float] | None = None,
    ) -> None:
        self._nc = nc
        self.subject = subject
        self._queue = queue
        self._direct = direct
        self._decoder = msgspec.json.Decoder(request_type)
        self._handler = handler
        self._beacon = beacon
        self._slots = asyncio.Semaphore(max_concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._subscriptions: list[Subscription] = []

    @property
    def in_flight(self) -> int:
        """Requests being handled (or waiting for a slot) right now."""
        return len(self._tasks)

    async def start(self) -> None:
        """Subscribe; requests are served from now on."""
        self._subscriptions.append(
            await self._nc.subscribe(self.subject, queue=self._queue, cb=self._on_message)
        )
        if self._direct is not None:
            self._subscriptions.append(await self._nc.subscribe(self._direct, cb=self._on_message))

    async def drain(self, timeout: float = 10.0) -> None:
        """Stop taking requests and wait (bounded) for those in flight to be answered."""
        subscriptions, self._subscriptions = self._subscriptions, []
        for subscription in subscriptions:
            await subscription.unsubscribe()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=timeout)
            for task in pending:
                task.cancel()

    async def _on_message(self, msg: Msg) -> None:
        task = asyncio.create_task(self._serve(msg))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, msg: Msg) -> None:
        try:
            request_msg: Req | None = self._decoder.decode(msg.data)
            problem = None
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            request_msg, problem = None, InvalidArgument(f"malformed request: {exc}")
        beacon = self._start_beacon(msg, request_msg)
        try:
            async with self._slots:
                context = extract_context(msg.headers)
                with _tracer.start_as_current_span(
                    f"process {self.subject}",
                    context=context,
                    kind=SpanKind.SERVER,
                    attributes=_span_attributes(self.subject, "process"),
                ) as span:
                    answer: tuple[bytes, dict[str, str] | None] | None
                    if problem is not None or request_msg is None:
                        answer = _error_reply(problem or Internal("no request"), span)
                    else:
                        answer = await self._answer(request_msg, span)
        finally:
            if beacon is not None:
                beacon.cancel()
        if msg.reply and answer is not None:
            payload, headers = answer
            try:
                await msg.respond(payload) if headers is None else await self._nc.publish(
                    msg.reply, payload, headers=headers
                )
            except nats.errors.Error as exc:
                logger.warning("could not reply on %s: %s", self.subject, exc)

    def _start_beacon(self, msg: Msg, request_msg: Req | None) -> _Beacon | None:
        if self._beacon is None or request_msg is None or not msg.reply:
            return None
        interval = self._beacon(request_msg)
        if not 0.01 <= interval <= 60:
            return None
        return _Beacon(self._nc, msg.reply, interval)

    async def _answer(
        self, request_msg: Req, span: trace.Span
    ) -> tuple[bytes, dict[str, str] | None] | None:
        try:
            reply = await self._handler(request_msg)
        except NoReply:
            return None
        except StackmcpError as exc:
            return _error_reply(exc, span)
        except Exception:
            logger.exception("unhandled error serving %s", self.subject)
            return _error_reply(Internal("internal error"), span)
        return msgspec.json.encode(reply), None


class _Beacon:
    """Publishes ``alive`` on a reply subject every ``interval`` seconds until cancelled."""

    def __init__(self, nc: Client, subject: str, interval: float) -> None:
        self._nc = nc
        self._subject = subject
        self._interval = interval
        self._loop = asyncio.get_running_loop()
        self._tasks: set[asyncio.Task[None]] = set()
        self._handle = self._loop.call_later(interval, self._beat)

    def _beat(self) -> None:
        task = self._loop.create_task(self._publish())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._handle = self._loop.call_later(self._interval, self._beat)

    async def _publish(self) -> None:
        with contextlib.suppress(nats.errors.Error):
            await self._nc.publish(self._subject, b"", headers=_ALIVE)

    def cancel(self) -> None:
        """Stop beating (the answer is about to be sent)."""
        self._handle.cancel()


def _error_reply(exc: StackmcpError, span: trace.Span) -> tuple[bytes, dict[str, str]]:
    span.set_status(Status(StatusCode.ERROR, exc.code))
    span.set_attribute("error.type", str(exc.code))
    headers = {h.SERVICE_ERROR_CODE: str(exc.status), h.SERVICE_ERROR: redact(exc.message)[:200]}
    return msgspec.json.encode(exc.to_body()), headers
