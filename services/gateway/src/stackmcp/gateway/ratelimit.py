"""Inbound rate limits on tool calls, per MCP server and per integrated account.

Counted in Redis so every gateway replica enforces the same limit: fixed windows of ``window``
seconds, aligned to the wall clock on every replica. A call over a limit is answered like an
upstream 429: an ``isError`` result saying when to retry, with the IETF ``ratelimit-*`` fields
and ``retry-after`` as HTTP headers and in ``_meta``.

A Redis round trip per call would cost more than the rest of the gateway's work on a call, so
a replica counts locally while a window is far from its limit (the last total it saw, plus what
it counted since, at most half the limit) and adds its counts to Redis every
:data:`FLUSH_EVERY` seconds, or at once when it holds 5 % of the limit; closer to the limit every
call is counted in Redis at once. Calls another replica has not added yet are the only ones a
replica cannot see, so a burst can pass a limit by at most 5 % of it per other replica, for at
most :data:`FLUSH_EVERY` seconds. Limits under :data:`LOCAL_FROM` are always counted in Redis:
their traffic is small enough to be cheap, and they stay exact.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from stackmcp.contracts.grants import Grant
from stackmcp.contracts.keys import RedisKeys
from stackmcp.contracts.tools import RateLimitInfo
from stackmcp.runtime.errors import Unavailable

__all__ = ["FLUSH_EVERY", "LOCAL_FROM", "LOCAL_SHARE", "RedisRateLimiter"]

logger = logging.getLogger(__name__)

FLUSH_EVERY = 0.1
"""Seconds between two additions of locally counted calls to Redis."""
LOCAL_FROM = 200
"""Smallest limit that may be counted locally while far from it."""
LOCAL_SHARE = 20
"""A replica counts at most ``limit / LOCAL_SHARE`` calls (5 %) locally before adding them."""

# KEYS: counters; ARGV[1]: expiry seconds, ARGV[2..]: increments. Returns the new totals.
_ADD = """
local totals = {}
for i, key in ipairs(KEYS) do
  totals[i] = redis.call('INCRBY', key, ARGV[i + 1])
  if totals[i] == tonumber(ARGV[i + 1]) then redis.call('EXPIRE', key, ARGV[1]) end
end
return totals
"""


@dataclass
class _Count:
    window: int
    limit: int
    seen: int = 0
    """The total Redis last reported."""
    pending: int = 0
    """Calls counted here and not yet added to Redis."""
    flushing: int = 0
    """Calls being added to Redis right now."""

    def local(self) -> bool:
        counted = self.seen + self.flushing + self.pending + 1
        return (
            self.limit >= LOCAL_FROM
            and 2 * counted <= self.limit
            and self.pending < self.limit // LOCAL_SHARE
        )


class RedisRateLimiter:
    """Fixed-window limits shared by every replica.

    Args:
        redis: shared Redis.
        keys: key names.
        per_server: tool calls one MCP server may make per window (0 = unlimited).
        per_account: tool calls all servers of one account may make per window (0 = unlimited).
        window: window length in seconds.
        clock: wall clock in seconds (windows are aligned to it on every replica).
    """

    def __init__(
        self,
        redis: Redis,
        keys: RedisKeys,
        *,
        per_server: int,
        per_account: int,
        window: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = keys
        self._per_server = per_server
        self._per_account = per_account
        self._window = max(1, window)
        self._clock = clock
        self._add = redis.register_script(_ADD)
        self._counts: dict[str, _Count] = {}

    @property
    def enabled(self) -> bool:
        """Whether any limit is set."""
        return bool(self._per_server or self._per_account)

    async def admit(self, grant: Grant) -> RateLimitInfo | None:
        """Count one tool call; ``None`` if admitted, else the exceeded limit's state.

        Raises:
            Unavailable: Redis cannot be reached (near a limit, where every call is counted
                there).
        """
        now = self._clock()
        window = int(now // self._window)
        counts = self._counted(grant, window)
        if all(count.local() for count in counts.values()):
            for count in counts.values():
                count.pending += 1
            return None
        totals = await self._flush(counts, extra=1)
        for key, count in counts.items():
            if totals[key] > count.limit:
                reset = max(1, math.ceil((window + 1) * self._window - now))
                return RateLimitInfo(limit=count.limit, remaining=0, reset=reset, retry_after=reset)
        return None

    async def run(self, stop: asyncio.Event) -> None:
        """Add locally counted calls to Redis every :data:`FLUSH_EVERY` seconds until ``stop``."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), FLUSH_EVERY)
            current = int(self._clock() // self._window)
            for key in [k for k, c in self._counts.items() if c.window < current]:
                count = self._counts.pop(key)
                if count.pending:
                    await self._flush_quietly({key: count})
            pending = {k: c for k, c in self._counts.items() if c.pending}
            if pending:
                await self._flush_quietly(pending)

    def _counted(self, grant: Grant, window: int) -> dict[str, _Count]:
        counts = {}
        for scope, owner, limit in (
            ("server", grant.server_id, self._per_server),
            ("account", grant.account_id, self._per_account),
        ):
            if limit:
                key = self._keys.rate_window(scope, owner, window)
                count = self._counts.get(key)
                if count is None:
                    count = self._counts[key] = _Count(window, limit)
                counts[key] = count
        return counts

    async def _flush(self, counts: dict[str, _Count], *, extra: int = 0) -> dict[str, int]:
        """Add the pending calls (plus ``extra``) of ``counts`` to Redis; the new totals."""
        added = {key: count.pending + extra for key, count in counts.items()}
        for key, count in counts.items():
            count.pending = 0
            count.flushing += added[key]
        try:
            totals = await self._add(keys=list(added), args=[self._window + 1, *added.values()])
        except RedisError as exc:
            for key, count in counts.items():
                count.pending += added[key] - extra  # counted again at the next flush
            logger.warning("rate-limit counters unreachable: %s", type(exc).__name__)
            raise Unavailable("the rate-limit store is unreachable; try again shortly") from None
        finally:
            for key, count in counts.items():
                count.flushing -= added[key]
        result = {}
        for (key, count), total in zip(counts.items(), totals, strict=True):
            count.seen = max(count.seen, int(total))
            result[key] = int(total)
        return result

    async def _flush_quietly(self, counts: dict[str, _Count]) -> None:
        with contextlib.suppress(Unavailable):
            await self._flush(counts)
