"""Per-server usage counters: calls, errors and last use, added to Redis about once a second.

:meth:`UsageCounter.count` (an :data:`~stackmcp.gateway.audit.RecordSink`) adds one record to
in-process counts — every record is a call, one whose outcome is not ``ok`` an error — and
:meth:`UsageCounter.run` adds them to :meth:`RedisKeys.server_usage` in one pipeline per flush,
in the layout of :mod:`stackmcp.contracts.usage`. Counts a flush could not write are kept for the
next one; at most ``max_servers`` servers are held, so Redis being away cannot grow the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from stackmcp.contracts.audit import ToolCallCompleted
from stackmcp.contracts.keys import RedisKeys
from stackmcp.contracts.usage import (
    LAST_USED_FIELD,
    USAGE_TTL,
    calls_field,
    errors_field,
    hour_of,
)

__all__ = ["FLUSH_EVERY", "UsageCounter"]

logger = logging.getLogger(__name__)

FLUSH_EVERY = 1.0
"""Seconds between two flushes of the counts to Redis."""

# KEYS[1]: the usage hash; ARGV: last_used, ttl, then field/increment pairs. Keeps the largest
# last_used; one script so the max needs no read round trip.
_ADD = """
local last = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if tonumber(ARGV[2]) > last then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
for i = 4, #ARGV, 2 do redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""


@dataclass
class _Counts:
    last_used: float = 0.0
    fields: dict[str, int] | None = None

    def add(self, field: str, count: int) -> None:
        if self.fields is None:
            self.fields = {}
        self.fields[field] = self.fields.get(field, 0) + count


class UsageCounter:
    """Counts records per server and adds them to Redis.

    Args:
        redis: shared Redis.
        keys: key names.
        max_servers: servers whose unflushed counts are held at most (new ones beyond are
            not counted until a flush succeeds).
    """

    def __init__(self, redis: Redis, keys: RedisKeys, *, max_servers: int = 100_000) -> None:
        self._redis = redis
        self._keys = keys
        self._max_servers = max_servers
        self._add = redis.register_script(_ADD)
        self._counts: dict[str, _Counts] = {}
        self.lost = 0
        """Records not counted because too many servers had unflushed counts."""

    def count(self, record: ToolCallCompleted) -> None:
        """Add one record (a call; an error unless its outcome is ``ok``)."""
        counts = self._counts.get(record.server_id)
        if counts is None:
            if len(self._counts) >= self._max_servers:
                self.lost += 1
                return
            counts = self._counts[record.server_id] = _Counts()
        when = record.time.timestamp()
        hour = hour_of(when)
        counts.last_used = max(counts.last_used, when)
        counts.add(calls_field(hour), 1)
        if record.outcome != "ok":
            counts.add(errors_field(hour), 1)

    async def run(self, stop: asyncio.Event) -> None:
        """Flush every :data:`FLUSH_EVERY` seconds until ``stop``, then once more."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), FLUSH_EVERY)
            await self.flush()
        await self.flush()

    async def flush(self) -> bool:
        """Add the counts held to Redis in one pipeline; whether they were all written (else
        they are kept for the next flush)."""
        if not self._counts:
            return True
        taken, self._counts = self._counts, {}
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for server_id, counts in taken.items():
                    args: list[str | int | float] = [LAST_USED_FIELD, counts.last_used, USAGE_TTL]
                    for field, count in (counts.fields or {}).items():
                        args += [field, count]
                    await self._add(
                        keys=[self._keys.server_usage(server_id)], args=args, client=pipe
                    )
                await pipe.execute()
        except RedisError as exc:
            logger.warning("usage counters not written, kept for later: %s", type(exc).__name__)
            self._restore(taken)
            return False
        return True

    def _restore(self, taken: dict[str, _Counts]) -> None:
        for server_id, old in taken.items():
            counts = self._counts.get(server_id)
            if counts is None:
                if len(self._counts) >= self._max_servers:
                    continue
                self._counts[server_id] = old
                continue
            counts.last_used = max(counts.last_used, old.last_used)
            for field, count in (old.fields or {}).items():
                counts.add(field, count)
