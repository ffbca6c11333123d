"""Reading the audit trail back: pages of records, newest first, and what came after a cursor.

JetStream reads only forward, so a page is read backwards in *windows* of stream sequences: for
the window ``[lo, hi)`` an ephemeral consumer starts at ``lo`` with the subject filter of the
request (:meth:`Subjects.audit_filter`: one kind, account or server; the server skips the
rest), and its ``num_pending`` minus the one measured at ``hi`` says how many records the window
holds before any is read. Windows start at ``2 * limit`` sequences and double until ``limit``
records match, the start of the stream (or of ``since``) is reached, or ``max_scan`` records
have been read in this request: then the page is short and ``next_cursor`` continues where the
scan stopped, so no record is ever skipped. Consumers live in memory on one server, are deleted
when read, and expire on their own (``inactive_threshold``) if a reader dies first.

A cursor is an opaque string wrapping a *position* between two stream sequences: a page holds
the records before it (newest first), :meth:`AuditLog.after` the records from it on (oldest
first). ``tool``, ``outcome``, ``client_name`` (call records only) and ``operator`` (admin records
only) are checked on the decoded records; ``since`` (inclusive) and ``until`` (exclusive) on each
record's ``time``, after narrowing the scan by the stream's own timestamps with
:data:`TIME_SLACK` to spare for records a gateway held back while JetStream was away.
"""

from __future__ import annotations

import base64
import binascii
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import msgspec
import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from stackmcp.contracts.audit import AdminChange, AuditEntry, ToolCallCompleted
from stackmcp.contracts.subjects import Subjects
from stackmcp.runtime.errors import InvalidArgument, Unavailable

__all__ = [
    "DEFAULT_MAX_SCAN",
    "TIME_SLACK",
    "AuditLog",
    "LogFilter",
    "LogPage",
    "RecentCalls",
    "decode_cursor",
    "encode_cursor",
]

logger = logging.getLogger(__name__)

DEFAULT_MAX_SCAN = 10_000
"""Most records one request reads (and decodes) before answering a short page."""
TIME_SLACK = timedelta(minutes=15)
"""How much later than its ``time`` a record may have reached the stream and still be found by
``since``/``until`` (a gateway holds records while JetStream is away)."""
MAX_WINDOWS = 48
"""Most windows one page request opens (the span doubles: 48 reach any stream)."""
BATCH = 256
"""Most records fetched at once."""
CONSUMER_TTL = 30.0
"""Seconds an abandoned reading consumer lives on the server."""
RECENT_SLACK = timedelta(minutes=1)
"""How long before ``since`` :meth:`AuditLog.recent_calls` starts reading by stream time (a
gateway's clock may run ahead of the NATS server's)."""
FETCH_TIMEOUT = 2.0
"""Seconds to wait for records the consumer said were there (they may have aged out since)."""

_STREAM_NOT_FOUND = 10059
_CURSOR_PREFIX = b"audit:"
_BAD_CURSOR = "cursor is not one this API gave out; pass next_cursor back unchanged"
_CALL_ONLY = ("tool", "outcome", "client_name")
_decoder = msgspec.json.Decoder(AuditEntry)


class LogFilter(msgspec.Struct, frozen=True, kw_only=True):
    """Which records to read; every given field must match (``None``: any)."""

    kind: Literal["call", "admin"] | None = None
    account_id: str | None = None
    server_id: str | None = None
    tool: str | None = None
    """Call records of this tool."""
    outcome: str | None = None
    """Call records with this outcome (``ok``, ``tool_error``, ``refused``, ``protocol_error``)."""
    client_name: str | None = None
    """Call records from this MCP client (``clientInfo.name``)."""
    operator: str | None = None
    """Admin records by this operator."""
    since: datetime | None = None
    """Records at or after this time (time-zone aware)."""
    until: datetime | None = None
    """Records before this time (time-zone aware)."""


class LogPage(msgspec.Struct, frozen=True, kw_only=True):
    """Records as stored (JSON passed through, never re-encoded) and where to continue."""

    items: list[msgspec.Raw]
    next_cursor: str | None


class RecentCalls(msgspec.Struct, frozen=True, kw_only=True):
    """Tool-call records of a recent window, oldest first."""

    records: list[ToolCallCompleted]
    complete: bool
    """``False`` when the window held more records than may be read: ``records`` are then
    about the newest ones only."""


def encode_cursor(position: int) -> str:
    """The opaque cursor for a stream position (the sequence the next record would have)."""
    raw = _CURSOR_PREFIX + str(position).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> int:
    """The stream position a cursor from :func:`encode_cursor` wraps.

    Raises:
        InvalidArgument: not such a cursor.
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        raise InvalidArgument(_BAD_CURSOR) from None
    digits = raw.removeprefix(_CURSOR_PREFIX)
    if digits == raw or not digits.isdigit() or len(digits) > 20 or int(digits) < 1:
        raise InvalidArgument(_BAD_CURSOR)
    return int(digits)


def _subject_filter(subjects: Subjects, filters: LogFilter) -> str | None:
    """The stream subject filter of ``filters``; ``None`` when they can match nothing."""
    kind = filters.kind
    wants_call = any(getattr(filters, name) is not None for name in _CALL_ONLY)
    if wants_call and filters.operator is not None:
        return None
    if wants_call or filters.operator is not None:
        implied: Literal["call", "admin"] = "call" if wants_call else "admin"
        if kind not in (None, implied):
            return None
        kind = implied
    try:
        return subjects.audit_filter(kind, filters.account_id, filters.server_id)
    except ValueError:
        raise InvalidArgument("account_id and server_id must be ids like acc_… / srv_…") from None


def _check_times(filters: LogFilter) -> None:
    for name in ("since", "until"):
        moment: datetime | None = getattr(filters, name)
        if moment is not None and moment.utcoffset() is None:
            raise InvalidArgument(f"{name} needs a time zone, e.g. 2026-12-01T09:00:00Z")


def _matches(entry: AuditEntry, filters: LogFilter) -> bool:
    """Whether a decoded record passes the filters the subject cannot express."""
    if filters.since is not None and entry.time < filters.since:
        return False
    if filters.until is not None and entry.time >= filters.until:
        return False
    if isinstance(entry, ToolCallCompleted):
        return (
            filters.operator is None
            and filters.tool in (None, entry.tool)
            and filters.outcome in (None, entry.outcome)
            and filters.client_name in (None, entry.client_name)
        )
    assert isinstance(entry, AdminChange)
    return all(getattr(filters, name) is None for name in _CALL_ONLY) and (
        filters.operator in (None, entry.operator)
    )


@dataclass
class _Consumer:
    """One ephemeral consumer reading forward from a position."""

    sub: JetStreamContext.PullSubscription
    pending: int
    """Matching records from its start to the end of the stream when it was created."""


@dataclass
class _Record:
    seq: int
    data: bytes


class AuditLog:
    """Pages through the audit stream for ``GET /log``, ``stackmcp log`` and the console.

    Args:
        js: a JetStream context.
        subjects: the installation's subjects (the audit stream's name and subject filters).
        max_scan: most records one request reads before answering a short page.
    """

    def __init__(
        self, js: JetStreamContext, subjects: Subjects, *, max_scan: int = DEFAULT_MAX_SCAN
    ) -> None:
        if max_scan < 1:
            raise ValueError("max_scan must be at least 1")
        self._js = js
        self._subjects = subjects
        self._stream = subjects.audit_stream
        self._max_scan = max_scan

    async def page(
        self, filters: LogFilter, *, cursor: str | None = None, limit: int = 50
    ) -> LogPage:
        """Records before ``cursor`` (``None``: the newest), newest first.

        Fewer than ``limit`` items with a ``next_cursor`` means the scan bound was reached, not
        the end; ``next_cursor`` is ``None`` only when nothing older matches.

        Raises:
            InvalidArgument: a bad cursor, limit or filter.
            Unavailable: JetStream did not answer.
        """
        _check_limit(limit)
        _check_times(filters)
        before = decode_cursor(cursor) if cursor is not None else None
        subject = _subject_filter(self._subjects, filters)
        if subject is None:
            return LogPage(items=[], next_cursor=None)
        async with self._jetstream():
            bounds = await self._bounds()
            if bounds is None:
                return LogPage(items=[], next_cursor=None)
            scan = _Scan(self, subject, filters, limit)
            return await scan.backwards(bounds, before)

    async def after(self, filters: LogFilter, cursor: str | None, *, limit: int = 100) -> LogPage:
        """Records from ``cursor`` on, oldest first (``None``: none yet, a cursor for "now").

        Pass ``next_cursor`` back to get the records that arrived since.

        Raises:
            InvalidArgument: a bad cursor, limit or filter.
            Unavailable: JetStream did not answer.
        """
        _check_limit(limit)
        _check_times(filters)
        start = decode_cursor(cursor) if cursor is not None else None
        subject = _subject_filter(self._subjects, filters)
        async with self._jetstream():
            bounds = await self._bounds()
            first, top = bounds if bounds is not None else (1, 1)
            if start is None:
                return LogPage(items=[], next_cursor=encode_cursor(top))
            position = min(max(start, first), top)
            if subject is None or bounds is None or position >= top:
                return LogPage(items=[], next_cursor=encode_cursor(position))
            scan = _Scan(self, subject, filters, limit)
            return await scan.forwards(position)

    async def recent_calls(self, since: datetime, *, max_records: int) -> RecentCalls:
        """The tool-call records from ``since`` (time-zone aware) to now, oldest first.

        At most ``max_records`` are read: when the window holds more, reading starts at the
        point of the stream where about that many remain, so the newest records are the ones
        counted.

        Raises:
            Unavailable: JetStream did not answer.
        """
        subject = self._subjects.audit_filter("call")
        async with self._jetstream():
            bounds = await self._bounds()
            if bounds is None:
                return RecentCalls(records=[], complete=True)
            async with self._consumer(subject, at=since - RECENT_SLACK) as consumer:
                complete = consumer.pending <= max_records
                count = consumer.pending if complete else 1
                read = await self._read(consumer, count=count, below=None)
            if not complete and read:
                start = _newest_start(read[0].seq, bounds[1], consumer.pending, max_records)
                async with self._consumer(subject, start=start) as consumer:
                    read = await self._read(consumer, count=max_records, below=None)
        entries = map(_decode, read)
        records = [e for e in entries if isinstance(e, ToolCallCompleted) and e.time >= since]
        return RecentCalls(records=records, complete=complete)

    # JetStream plumbing --------------------------------------------------------------------

    @asynccontextmanager
    async def _jetstream(self) -> AsyncIterator[None]:
        """Turn JetStream failures into :class:`Unavailable`."""
        try:
            yield
        except (nats.errors.Error, nats.js.errors.Error, TimeoutError) as exc:
            logger.warning("reading the audit stream failed: %s", type(exc).__name__)
            raise Unavailable("the audit trail cannot be read right now; try again") from None

    async def _bounds(self) -> tuple[int, int] | None:
        """``(first sequence, next sequence)`` of the stream; ``None`` when it does not exist."""
        try:
            info = await self._js.stream_info(self._stream)
        except nats.js.errors.NotFoundError:
            return None
        state = info.state
        return max(state.first_seq, 1), state.last_seq + 1

    @asynccontextmanager
    async def _consumer(
        self, subject: str, *, start: int | None = None, at: datetime | None = None
    ) -> AsyncIterator[_Consumer]:
        """An ephemeral consumer on ``subject`` from sequence ``start`` or time ``at``."""
        name = f"auditlog_{secrets.token_hex(8)}"
        config = ConsumerConfig(
            name=name,
            filter_subject=subject,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE if at is None else (
                DeliverPolicy.BY_START_TIME
            ),
            opt_start_seq=start if at is None else None,
            opt_start_time=at,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=CONSUMER_TTL,
            mem_storage=True,
            num_replicas=1,
        )  # fmt: skip
        info = await self._js.add_consumer(self._stream, config)
        try:
            sub = await self._js.pull_subscribe_bind(consumer=name, stream=self._stream)
            try:
                yield _Consumer(sub=sub, pending=info.num_pending or 0)
            finally:
                with suppress(nats.errors.Error, ValueError):
                    await sub.unsubscribe()
        finally:
            await self._delete(name)

    async def _delete(self, name: str) -> None:
        """Delete a reading consumer (it expires on its own if this fails)."""
        with suppress(nats.errors.Error, nats.js.errors.Error, TimeoutError):
            await self._js.delete_consumer(self._stream, name)

    async def _read(self, consumer: _Consumer, *, count: int, below: int | None) -> list[_Record]:
        """Up to ``count`` records from the consumer, stopping at sequence ``below``."""
        records: list[_Record] = []
        while len(records) < count:
            try:
                batch = await consumer.sub.fetch(
                    min(BATCH, count - len(records)), timeout=FETCH_TIMEOUT
                )
            except (nats.errors.TimeoutError, TimeoutError):
                return records  # they aged out of the stream since they were counted
            for msg in batch:
                seq = _sequence(msg)
                if below is not None and seq >= below:
                    return records
                records.append(_Record(seq, msg.data))
            if not batch or batch[-1].metadata.num_pending == 0:
                return records
        return records

    async def _first_at(self, subject: str, moment: datetime) -> tuple[int, int] | None:
        """``(sequence, pending)`` of the first record on ``subject`` stored at or after
        ``moment``; ``None`` when there is none."""
        async with self._consumer(subject, at=moment) as consumer:
            if consumer.pending == 0:
                return None
            records = await self._read(consumer, count=1, below=None)
            return (records[0].seq, consumer.pending) if records else None

    async def _pending_from(self, subject: str, start: int) -> int:
        """Records on ``subject`` from sequence ``start`` to the end of the stream."""
        async with self._consumer(subject, start=start) as consumer:
            return consumer.pending


def _newest_start(first: int, top: int, pending: int, wanted: int) -> int:
    """The sequence from which about ``wanted`` of ``pending`` records spread over
    ``[first, top)`` remain (other kinds of records are interleaved with them)."""
    return max(first, top - (top - first) * wanted // pending)


def _sequence(msg: Msg) -> int:
    return int(msg.metadata.sequence.stream)


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= 10_000:
        raise InvalidArgument("limit must be between 1 and 10000")


def _decode(record: _Record) -> AuditEntry | None:
    try:
        entry: AuditEntry = _decoder.decode(record.data)
    except msgspec.DecodeError:
        logger.warning("audit record at sequence %d is not readable; skipped", record.seq)
        return None
    return entry


class _Scan:
    """One request's walk over the stream."""

    def __init__(self, log: AuditLog, subject: str, filters: LogFilter, limit: int) -> None:
        self.log = log
        self.subject = subject
        self.filters = filters
        self.limit = limit
        self.budget = log._max_scan
        self.items: list[msgspec.Raw] = []

    def _take(self, record: _Record) -> bool:
        """Keep ``record`` if it matches; ``True`` once the page is full."""
        entry = _decode(record)
        if entry is not None and _matches(entry, self.filters):
            self.items.append(msgspec.Raw(record.data))
        return len(self.items) >= self.limit

    async def backwards(self, bounds: tuple[int, int], before: int | None) -> LogPage:
        """Newest first from ``before`` down to the stream's (or ``since``'s) start."""
        first, top = bounds
        hi = min(before, top) if before is not None else top
        bottom, hi, pending_hi = await self._range(first, top, hi)
        span, windows = max(64, 2 * self.limit), 0
        while hi > bottom and self.budget > 0 and windows < MAX_WINDOWS:
            windows += 1
            lo, pending_lo = await self._window(bottom, hi, span, pending_hi)
            for record in reversed(await self._records(lo, hi, pending_lo - pending_hi)):
                if self._take(record):
                    return self._page(record.seq if record.seq > bottom else None)
            hi, pending_hi, span = lo, pending_lo, span * 2
        return self._page(hi if hi > bottom else None)

    async def _range(self, first: int, top: int, hi: int) -> tuple[int, int, int]:
        """``(bottom, hi, pending at hi)``: the scan's limits after ``since`` and ``until``."""
        log, filters = self.log, self.filters
        bottom = first
        if filters.since is not None:
            found = await log._first_at(self.subject, filters.since - TIME_SLACK)
            bottom = found[0] if found is not None else top
        if filters.until is not None:
            found = await log._first_at(self.subject, filters.until + TIME_SLACK)
            if found is not None and found[0] < hi:
                return bottom, found[0], found[1]
        if hi >= top or hi <= bottom:
            return bottom, hi, 0
        return bottom, hi, await log._pending_from(self.subject, hi)

    async def _window(self, bottom: int, hi: int, span: int, pending_hi: int) -> tuple[int, int]:
        """``(lo, pending at lo)``: a window below ``hi`` holding at most the budget left."""
        lo = max(bottom, hi - span)
        while True:
            pending_lo = await self.log._pending_from(self.subject, lo)
            if pending_lo - pending_hi <= self.budget or hi - lo <= 1:
                return lo, pending_lo
            lo = hi - (hi - lo) // 2

    async def _records(self, lo: int, hi: int, count: int) -> list[_Record]:
        """The records of ``[lo, hi)`` (``count`` of them, or a few fewer), oldest first."""
        if count <= 0:
            return []
        log = self.log
        async with log._consumer(self.subject, start=lo) as consumer:
            records = await log._read(consumer, count=count, below=hi)
        self.budget -= len(records)
        return records

    async def forwards(self, position: int) -> LogPage:
        """Oldest first from ``position`` on; the cursor moves past every record read."""
        log = self.log
        async with log._consumer(self.subject, start=position) as consumer:
            count = min(consumer.pending, self.budget)
            while count > 0:
                batch = await log._read(consumer, count=min(count, BATCH), below=None)
                count = 0 if not batch else count - len(batch)
                for record in batch:
                    position = record.seq + 1
                    if self._take(record):
                        return self._page(position)
        return self._page(position)

    def _page(self, position: int | None) -> LogPage:
        cursor = encode_cursor(position) if position is not None else None
        return LogPage(items=self.items, next_cursor=cursor)
