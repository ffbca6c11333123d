"""Write claims: a write runs at most once, however often it is sent.

A gateway may send the same write to a second worker when the first goes silent. Before sending
anything upstream, a worker claims the call id in Redis (``SET … NX``); the gateway, before
sending a write again, tries to set the same key to ``abandoned``. Exactly one wins: either a
worker runs the write, or no worker ever will.
"""

from __future__ import annotations

import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

from stackmcp.contracts.keys import RedisKeys
from stackmcp.runtime.errors import Unavailable

__all__ = ["CLAIM_TTL", "WriteClaims"]

logger = logging.getLogger(__name__)

CLAIM_TTL = 3600
"""Seconds a claim is kept: far longer than any call may wait in a stalled worker."""


class WriteClaims:
    """Claim call ids for one worker.

    Args:
        redis: shared Redis.
        keys: key names.
        worker_id: recorded as the claim's value (for diagnosis).
    """

    def __init__(self, redis: Redis, keys: RedisKeys, worker_id: str) -> None:
        self._redis = redis
        self._keys = keys
        self._worker_id = worker_id

    async def claim(self, call_id: str) -> bool:
        """Whether this worker may run the write ``call_id`` (``False``: taken or abandoned).

        Raises:
            Unavailable: Redis cannot be reached; the write must not be sent.
        """
        try:
            won = await self._redis.set(
                self._keys.call_claim(call_id), self._worker_id, nx=True, ex=CLAIM_TTL
            )
        except RedisError as exc:
            logger.warning("could not claim a write: %s", type(exc).__name__)
            raise Unavailable(
                "the write could not be recorded before sending it, so nothing was sent; try "
                "again in a few seconds"
            ) from None
        return bool(won)
