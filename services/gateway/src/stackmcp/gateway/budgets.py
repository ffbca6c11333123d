"""Per-server action budgets (``config.budgets``), e.g. at most 3 resolves an hour.

A budget is a sliding window kept in Redis as a sorted set of the times it was spent, so every
gateway replica sees the same count and "3 per hour" means 3 in any hour, not 3 per clock hour.
A call that counts against several budgets (its tool's and ``write``'s) is admitted only if all
of them have room, and then spends one of each, in one Lua script: concurrent calls on several
replicas can never pass a budget. Budgets are small by nature, so every check is one round trip.

A refused call is answered like a rate limit: an ``isError`` result naming the budget, with the
IETF ``ratelimit-*`` fields (``retry-after`` is when the oldest spend leaves the window).
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable, Sequence

from redis.asyncio import Redis
from redis.exceptions import RedisError

from stackmcp.contracts.grants import Budget
from stackmcp.contracts.keys import RedisKeys
from stackmcp.contracts.policy import budget_text
from stackmcp.contracts.tools import RateLimitInfo
from stackmcp.runtime.errors import Unavailable

__all__ = ["BudgetRefusal", "Budgets"]

# KEYS: one sorted set per budget. ARGV[1]: now (ms), ARGV[2]: a unique member, then per
# budget its limit and window (ms). Returns {0, index, count, oldest} when budget `index` is
# spent, else {1}; spends one of every budget only when all have room.
_SPEND = """
local now = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[1 + 2 * i])
  local window = tonumber(ARGV[2 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  if count >= limit then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    return {0, i, count, oldest[2] or tostring(now)}
  end
end
for i, key in ipairs(KEYS) do
  local window = tonumber(ARGV[2 + 2 * i])
  redis.call('ZADD', key, now, ARGV[2])
  redis.call('PEXPIRE', key, window)
end
return {1}
"""


class BudgetRefusal:
    """A spent budget: which one, and the ``ratelimit-*`` state to answer with."""

    __slots__ = ("budget", "info")

    def __init__(self, budget: Budget, info: RateLimitInfo) -> None:
        self.budget = budget
        self.info = info

    def message(self) -> str:
        """What the model is told."""
        when = (
            f"The next call fits in {self.info.retry_after} seconds"
            if self.info.retry_after is not None
            else "Budgets cannot be counted on this gateway right now"
        )
        return (
            f"This MCP server's budget for {self.budget.target} is spent: at most "
            f"{budget_text(self.budget)} ({self.budget.limit} calls per "
            f"{_window_words(self.budget.window)}). Nothing was sent to Better Stack. {when}; "
            "tell the user rather than waiting if the action is urgent."
        )


class Budgets:
    """Spend budgets atomically across replicas.

    Args:
        redis: shared Redis.
        keys: key names.
        clock: wall-clock seconds.
    """

    def __init__(
        self, redis: Redis, keys: RedisKeys, clock: Callable[[], float] = time.time
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._clock = clock
        self._script = redis.register_script(_SPEND)

    async def spend(self, server_id: str, budgets: Sequence[Budget]) -> BudgetRefusal | None:
        """Spend one of each budget, or none when one is spent (returned).

        Raises:
            Unavailable: Redis is unreachable.
        """
        if not budgets:
            return None
        now_ms = int(self._clock() * 1000)
        args: list[int | str] = [now_ms, f"{now_ms}-{secrets.token_hex(6)}"]
        for budget in budgets:
            args += [budget.limit, budget.window * 1000]
        keys = [self._keys.budget(server_id, b.target) for b in budgets]
        try:
            answer = await self._script(keys=keys, args=args)
        except RedisError as exc:
            raise Unavailable("the budget store is unreachable") from exc
        if int(answer[0]) == 1:
            return None
        budget = budgets[int(answer[1]) - 1]
        oldest_ms = float(answer[3])
        retry = max(1, math.ceil((oldest_ms + budget.window * 1000 - now_ms) / 1000))
        info = RateLimitInfo(limit=budget.limit, remaining=0, reset=retry, retry_after=retry)
        return BudgetRefusal(budget, info)


def _window_words(seconds: int) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return unit if count == 1 else f"{count} {unit}s"
    return f"{seconds} seconds"
