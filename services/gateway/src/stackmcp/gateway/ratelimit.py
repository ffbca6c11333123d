"""Inbound rate limits on tool calls, per MCP server and per integrated account.

Counted in Redis so every gateway replica enforces the same limit: one fixed window of
``window`` seconds per (server, account), both counters bumped by one script round trip. A call
over either limit is answered like an upstream 429: an ``isError`` result saying when to retry,
with the IETF ``ratelimit-*`` fields and ``retry-after`` as HTTP headers and in ``_meta``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from stackmcp.contracts.grants import Grant
from stackmcp.contracts.keys import RedisKeys
from stackmcp.contracts.tools import RateLimitInfo
from stackmcp.runtime.errors import Unavailable

__all__ = ["RedisRateLimiter"]

logger = logging.getLogger(__name__)

# KEYS: server counter, account counter; ARGV: window seconds. Returns both counts.
_COUNT = """
local counts = {}
for i, key in ipairs(KEYS) do
  counts[i] = redis.call('INCR', key)
  if counts[i] == 1 then redis.call('EXPIRE', key, ARGV[1]) end
end
return counts
"""


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
        self._redis = redis
        self._keys = keys
        self._per_server = per_server
        self._per_account = per_account
        self._window = max(1, window)
        self._clock = clock
        self._script = redis.register_script(_COUNT)

    @property
    def enabled(self) -> bool:
        """Whether any limit is set."""
        return bool(self._per_server or self._per_account)

    async def admit(self, grant: Grant) -> RateLimitInfo | None:
        """Count one tool call; ``None`` if admitted, else the exceeded limit's state.

        Raises:
            Unavailable: Redis cannot be reached.
        """
        now = self._clock()
        window = int(now // self._window)
        reset = max(1, math.ceil((window + 1) * self._window - now))
        keys = [
            self._keys.rate_window("server", grant.server_id, window),
            self._keys.rate_window("account", grant.account_id, window),
        ]
        try:
            server_count, account_count = await self._script(keys=keys, args=[self._window + 1])
        except RedisError as exc:
            logger.warning("rate-limit counters unreachable: %s", type(exc).__name__)
            raise Unavailable("the rate-limit store is unreachable; try again shortly") from None
        for limit, count in ((self._per_server, server_count), (self._per_account, account_count)):
            if limit and int(count) > limit:
                return RateLimitInfo(limit=limit, remaining=0, reset=reset, retry_after=reset)
        return None
