"""Audit records onto JetStream without ever holding up a call.

:meth:`AuditPublisher.offer` (an :data:`~stackmcp.gateway.audit.RecordSink`) only appends to a
bounded buffer; a background task gathers records for :data:`LINGER` and sends them as pipelined
JetStream publishes in one socket write, then waits for their acks together. A record JetStream
did not acknowledge stays buffered and is sent again after a pause (its ``Nats-Msg-Id`` makes a
repeat harmless: JetStream acknowledges a duplicate without storing it twice); records are
dropped — and counted — only when the buffer is full, or when :meth:`close` runs out of time.
Drops are logged at most once per :data:`LOG_EVERY` seconds, with their count.

Usage (the gateway's wiring)::

    publisher = AuditPublisher(nc, subjects, buffer=audit_config.buffer)
    publisher.start()
    ...                                  # serve; AuditTrail([publisher.offer, ...])
    await publisher.close(drain_timeout)  # after serving, before NATS drains
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from typing import Any

import msgspec
import nats.errors
from nats.aio.client import Client
from nats.js.client import JetStreamContext

from stackmcp.contracts.audit import ToolCallCompleted
from stackmcp.contracts.subjects import Subjects

__all__ = ["LINGER", "LOG_EVERY", "AuditPublisher"]

logger = logging.getLogger(__name__)

LOG_EVERY = 10.0
"""Seconds between two log lines about dropped records."""
LINGER = 0.05
"""Seconds the publisher gathers records before sending them: each gathering costs one socket
write and one read of acks whatever its size (``bench/README.md``: sending every record on its
own cost a tools/call 15-30 % more CPU), and a record still reaches the stream well within a
second."""
_RETRY_FIRST, _RETRY_MAX = 0.2, 2.0


class AuditPublisher:
    """A bounded buffer of audit records and the task that publishes it.

    Args:
        nc: the NATS connection (JetStream publishes go through it).
        subjects: subject names (records go to :meth:`Subjects.audit_call`).
        buffer: records held at most, those awaiting an ack included; more are dropped.
        max_pending: publishes awaiting an ack at once.
        ack_timeout: seconds to wait for a batch's acks before sending it again.
        linger: seconds a batch waits for more records before it is sent (0: at once).
    """

    def __init__(
        self,
        nc: Client,
        subjects: Subjects,
        *,
        buffer: int,
        max_pending: int = 256,
        ack_timeout: float = 5.0,
        linger: float = LINGER,
    ) -> None:
        self._nc = nc
        self._linger = linger
        self._subjects = subjects
        self._buffer = max(1, buffer)
        self._max_pending = max(1, max_pending)
        self._ack_timeout = ack_timeout
        self._queue: collections.deque[ToolCallCompleted] = collections.deque()
        self._in_flight = 0
        self._wake = asyncio.Event()
        self._closing = asyncio.Event()
        self._deadline = float("inf")
        self._encoder = msgspec.json.Encoder()
        self._task: asyncio.Task[None] | None = None
        self._why = ""
        self.published = 0
        self.dropped = 0
        self._unlogged = 0
        self._logged_at = -LOG_EVERY

    @property
    def buffered(self) -> int:
        """Records waiting to be published or acknowledged."""
        return len(self._queue) + self._in_flight

    def counters(self) -> dict[str, int]:
        """``published``, ``dropped`` and ``buffered`` records since the process started."""
        return {"published": self.published, "dropped": self.dropped, "buffered": self.buffered}

    def offer(self, record: ToolCallCompleted) -> None:
        """Buffer ``record`` for publishing (dropped and counted when the buffer is full)."""
        if self.buffered >= self._buffer or self._closing.is_set():
            self._drop(1, "the buffer is full" if not self._closing.is_set() else "closing")
            return
        self._queue.append(record)
        self._wake.set()

    def start(self) -> None:
        """Start the background task that publishes the buffer."""
        self._task = asyncio.create_task(self._run())

    async def close(self, timeout: float) -> None:
        """Stop taking records and flush the buffer for at most ``timeout`` seconds; what is
        still buffered then is dropped and counted."""
        self._deadline = time.monotonic() + timeout
        self._closing.set()
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            done, _ = await asyncio.wait([task], timeout=timeout + 0.5)
            if not done:  # a publish stuck on a dead connection
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        left = self.buffered
        if left:
            self._drop(left, "shutting down before JetStream took them")
            self._queue.clear()
            self._in_flight = 0
        self._log_drops(force=True)

    async def _run(self) -> None:
        js = self._nc.jetstream(publish_async_max_pending=self._max_pending)
        retry = _RETRY_FIRST
        while time.monotonic() < self._deadline:
            if not self._queue:
                if self._closing.is_set():
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            if self._linger and len(self._queue) < self._max_pending:  # one write, many records
                await self._gather()
            if await self._send(js):
                retry = _RETRY_FIRST
            else:
                await self._pause(retry)
                retry = min(retry * 2, _RETRY_MAX)

    async def _gather(self) -> None:
        """Let more records join the batch, for ``linger`` or until the publisher closes."""
        if not self._closing.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self._linger)

    async def _pause(self, seconds: float) -> None:
        if not self._closing.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), seconds)
        else:  # closing: keep trying until the deadline, without the long pauses
            await asyncio.sleep(min(0.05, max(0.0, self._deadline - time.monotonic())))

    async def _send(self, js: JetStreamContext) -> bool:
        """Publish one batch; put back what was not acknowledged. Whether all of it was."""
        batch = [self._queue.popleft() for _ in range(min(self._max_pending, len(self._queue)))]
        self._in_flight = len(batch)
        acked: set[str] = set()
        try:
            acked = await self._publish(js, batch)
        finally:
            self.published += len(acked)
            self._in_flight = 0
            self._queue.extendleft(reversed([r for r in batch if r.id not in acked]))
        return len(acked) == len(batch)

    async def _publish(self, js: JetStreamContext, batch: list[ToolCallCompleted]) -> set[str]:
        """Publish the records pipelined, each with its own acknowledgement; the ids stored (a
        duplicate of a record stored before counts as stored)."""
        acked: set[str] = set()
        sent: list[tuple[str, asyncio.Future[Any]]] = []
        for record in batch:
            with contextlib.suppress(nats.errors.Error):  # not connected, buffer full
                future = await js.publish_async(
                    self._subjects.audit_call(record.account_id, record.server_id),
                    self._encoder.encode(record),
                    headers={"Nats-Msg-Id": record.id},
                )
                sent.append((record.id, future))
        if sent:
            await asyncio.wait([f for _, f in sent], timeout=self._ack_timeout)
        for record_id, future in sent:
            if future.done() and not future.cancelled() and future.exception() is None:
                acked.add(record_id)
            else:
                future.cancel()
        return acked

    def _drop(self, count: int, why: str) -> None:
        self.dropped += count
        self._unlogged += count
        self._why = why
        self._log_drops()

    def _log_drops(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if self._unlogged and (force or now - self._logged_at >= LOG_EVERY):
            logger.warning(
                "dropped %d audit record(s) (%s); %d dropped since start",
                self._unlogged,
                self._why,
                self.dropped,
            )
            self._unlogged = 0
            self._logged_at = now
