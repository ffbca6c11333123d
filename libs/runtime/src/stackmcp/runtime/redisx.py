"""The one way every service opens Redis/Valkey: a bounded, blocking, self-healing client.

:func:`connect_redis` builds the client from :class:`~stackmcp.runtime.config.RedisConfig`:

- a *blocking* pool of ``max_connections``: a burst larger than the pool waits up to
  ``pool_timeout`` for a free connection instead of failing at once (redis-py's plain pool
  raises ``MaxConnectionsError`` when it is full);
- retries with exponential backoff on connection errors and timeouts, bounded by
  ``retries`` and by ``retry_budget`` seconds: a pooled connection left stale by a server restart
  or failover is reconnected inside the command that finds it, so no caller sees its error;
  a command that still fails when the budget is spent raises ``RedisError`` (callers answer 503);
- with ``sentinels`` set, a client of the primary that the Sentinels name, which follows
  failovers (each reconnect asks the Sentinels again).

:func:`replicated` backs the provisioning writes' durability (``wait_replicas``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.connection import SSLConnection, parse_url
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool, SentinelManagedConnection
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from stackmcp.runtime.config import ConfigError, RedisConfig
from stackmcp.runtime.errors import Unavailable

__all__ = ["Replication", "connect_redis", "replicated"]

logger = logging.getLogger(__name__)

_BACKOFF_BASE = 0.05
"""Backoff base in seconds: pauses run 0.1, 0.2, 0.4 ... up to ``retry_backoff_cap``."""


class _BudgetRetry(Retry):
    """:class:`Retry` that also stops once ``budget`` seconds have passed since the first try.

    redis-py nests retry loops (a command's loop reconnects through the connection's own loop),
    so a retry count alone multiplies; the budget bounds how long a caller can be kept waiting.
    """

    def __init__(self, *, retries: int, cap: float, budget: float) -> None:
        super().__init__(ExponentialBackoff(cap=cap, base=_BACKOFF_BASE), retries)
        self._budget = budget

    async def call_with_retry(
        self,
        do: Callable[[], Awaitable[Any]],
        fail: Callable[..., Awaitable[Any]],
        is_retryable: Callable[[Exception], bool] | None = None,
        with_failure_count: bool = False,
    ) -> Any:
        """Call ``do`` like :meth:`Retry.call_with_retry`, re-raising once the budget is spent."""
        deadline = time.monotonic() + self._budget

        async def fail_within_budget(error: Exception, failures: int) -> None:
            await (fail(error, failures) if with_failure_count else fail(error))
            if time.monotonic() >= deadline:
                raise error

        return await super().call_with_retry(
            do, fail_within_budget, is_retryable, with_failure_count=True
        )


class _PrimaryConnection(SentinelManagedConnection):
    """A connection to whichever server the Sentinels currently name as primary.

    redis-py's reconnect inside a command's retry loop goes back to the address the connection
    had, which after a failover is the dead primary; asking the Sentinels on every (re)connect
    lets the retry land on the promoted replica.
    """

    async def connect(self) -> None:
        """Connect to the current primary, retried like any command."""
        await self.retry.call_with_retry(
            lambda: self.connect_check_health(
                check_health=self.connection_pool.check_connection, retry_socket_connect=False
            ),
            lambda _error: self.disconnect(),
        )

    async def connect_check_health(
        self, check_health: bool = True, retry_socket_connect: bool = True
    ) -> None:
        """Look the primary up, then connect to it (no-op when already connected)."""
        if not self.is_connected:
            self.host, self.port = await self.connection_pool.get_master_address()
        await super().connect_check_health(
            check_health=check_health, retry_socket_connect=retry_socket_connect
        )


class _PrimarySSLConnection(_PrimaryConnection, SSLConnection):
    """:class:`_PrimaryConnection` over TLS (``rediss://`` URLs)."""


class _Sentinels(Sentinel):
    """The Sentinel client, with primary lookups made one at a time.

    redis-py's ``discover_master`` moves the Sentinel that answered to the front of a shared
    list; two lookups interleaving at their awaits (a burst of reconnects after a failover) can
    duplicate one Sentinel in that list and drop another, which is then neither asked again nor
    closed.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]
        self._lookup = asyncio.Lock()

    async def discover_master(self, service_name: str) -> Any:
        """``(host, port)`` of the primary named ``service_name`` (one lookup at a time)."""
        async with self._lookup:
            return await super().discover_master(service_name)


class _BlockingSentinelPool(SentinelConnectionPool, aioredis.BlockingConnectionPool):
    """A Sentinel-managed pool that waits for a free connection like ``BlockingConnectionPool``.

    Closing it also closes the connections to the Sentinels.
    """

    async def aclose(self) -> None:
        """Disconnect every pooled connection and the Sentinel clients."""
        try:
            await super().aclose()
        finally:
            await self.sentinel_manager.aclose()


def _common_options(config: RedisConfig) -> dict[str, Any]:
    return {
        "max_connections": config.max_connections,
        "timeout": config.pool_timeout,
        "socket_connect_timeout": config.connect_timeout,
        "socket_timeout": config.socket_timeout,
        "socket_keepalive": True,
        "health_check_interval": config.health_check_interval,
        "retry": _BudgetRetry(
            retries=config.retries, cap=config.retry_backoff_cap, budget=config.retry_budget
        ),
    }


def _sentinel_address(entry: str) -> tuple[str, int]:
    """``host:port`` (the config checked the form) → ``(host, port)``; IPv6 may be bracketed."""
    host, _, port = entry.rpartition(":")
    return host.strip("[]"), int(port)


def _sentinel_client(config: RedisConfig) -> aioredis.Redis:
    """A client of the primary the Sentinels name; credentials and database come from ``url``."""
    options: dict[str, Any] = dict(parse_url(config.url))
    connection_class = options.pop("connection_class", None)
    if options.pop("path", None) is not None:
        raise ConfigError("STACKMCP_REDIS_URL: a unix:// URL cannot be used with Sentinels")
    options.pop("host", None)
    options.pop("port", None)
    sentinel = _Sentinels(
        [_sentinel_address(entry) for entry in config.sentinels],
        sentinel_kwargs={
            "password": config.sentinel_password or None,
            "socket_connect_timeout": config.connect_timeout,
            "socket_timeout": config.socket_timeout,
            # One try per Sentinel: discovery moves on to the next one, and the command's own
            # retry loop (with its backoff and budget) asks again.
            "retry": Retry(NoBackoff(), 0),
        },
    )
    secure = connection_class is SSLConnection
    client: aioredis.Redis = sentinel.master_for(
        config.sentinel_master,
        connection_pool_class=_BlockingSentinelPool,
        connection_class=_PrimarySSLConnection if secure else _PrimaryConnection,
        **options,
        **_common_options(config),
    )
    return client


def _client(config: RedisConfig) -> aioredis.Redis:
    if config.sentinels:
        return _sentinel_client(config)
    pool = aioredis.BlockingConnectionPool.from_url(config.url, **_common_options(config))
    return aioredis.Redis.from_pool(pool)


async def _ping_unless_stopped(client: aioredis.Redis, stop: asyncio.Event | None) -> bool:
    """``PING`` (within the retry budget); ``False`` when ``stop`` was set first."""
    if stop is None:
        await client.ping()
        return True
    ping = asyncio.ensure_future(client.ping())
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({ping, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (ping, stopped):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, RedisError, OSError):
                await task
    if ping.cancelled():
        return False
    ping.result()
    return True


async def connect_redis(
    config: RedisConfig, *, stop: asyncio.Event | None = None, attempts: int = 0
) -> aioredis.Redis:
    """Open the pooled client and wait until the server answers ``PING``.

    Args:
        config: server URL or Sentinels, pool size, timeouts and retry policy.
        stop: give up waiting when set.
        attempts: maximum attempts (0 = until ``stop``); each attempt may retry within
            ``config.retry_budget``.

    Returns:
        A client whose replies are bytes (``decode_responses=False``).

    Raises:
        Unavailable: the server did not answer before ``stop`` or ``attempts`` ran out.
        ConfigError: ``config.sentinels`` or ``config.url`` cannot be used.
    """
    client = _client(config)
    tried = 0
    while True:
        tried += 1
        try:
            if await _ping_unless_stopped(client, stop):
                return client
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            logger.warning("redis not reachable (%s); retrying", type(exc).__name__)
        if (stop is not None and stop.is_set()) or (attempts and tried >= attempts):
            await client.aclose()
            raise Unavailable("redis is not reachable")
        await asyncio.sleep(min(0.5 * tried, 5.0))


@dataclasses.dataclass
class Replication:
    """What :func:`replicated` learned about the writes made in its block."""

    wanted: int
    """Replicas asked for (``wait_replicas``)."""
    acknowledged: int = 0
    """Replicas that acknowledged the writes in time."""
    same_primary: bool = True
    """Whether one primary served the whole block (no failover or restart in between)."""

    @property
    def confirmed(self) -> bool:
        """Whether the writes are known to be on ``wanted`` replicas."""
        return self.same_primary and self.acknowledged >= self.wanted


@contextlib.asynccontextmanager
async def replicated(client: aioredis.Redis, config: RedisConfig) -> AsyncIterator[Replication]:
    """Wait, after the block's writes, until ``config.wait_replicas`` replicas hold them.

    ``WAIT`` counts the replicas that caught up with the *calling connection's* last write, and
    a pooled client cannot promise that the block's writes ran on the connection that asks. So
    the wait runs behind a fence on one connection: a ``PUBLISH`` (replicated, leaves no key),
    then ``WAIT``. The replication stream is ordered, so a replica that acknowledged the fence
    holds every write the primary made before it. The primary's replication id is read before
    the block and after the wait: if it changed (a failover or restart, after which a retried
    fence would be answered by a different server) the writes count as unconfirmed.

    A shortfall is logged as a warning and reported, never raised: the writes are already
    applied on the primary, so failing the request would invite a duplicate retry of them.
    Nothing is waited for when the block raises, or when ``wait_replicas`` is 0.

    Args:
        client: the client the block writes through.
        config: ``wait_replicas``, ``wait_timeout`` and ``key_prefix`` (the fence's channel).

    Yields:
        The outcome, filled in when the block has finished.

    Raises:
        RedisError: the primary could not be reached for the fence.
    """
    outcome = Replication(wanted=config.wait_replicas)
    if config.wait_replicas == 0:
        yield outcome
        return
    before = (await client.info("replication")).get("master_replid")
    yield outcome
    async with client.pipeline(transaction=False) as pipe:
        pipe.publish(f"{config.key_prefix}:replication-fence", b"")
        pipe.wait(config.wait_replicas, max(1, round(config.wait_timeout * 1000)))
        pipe.info("replication")
        _, acknowledged, after = await pipe.execute()
    outcome.acknowledged = int(acknowledged)
    outcome.same_primary = before is not None and after.get("master_replid") == before
    if not outcome.same_primary:
        logger.warning("the primary changed during a write; it may not have reached a replica")
    elif not outcome.confirmed:
        logger.warning(
            "write acknowledged by %s of %s replicas within %ss; answering anyway",
            outcome.acknowledged,
            outcome.wanted,
            config.wait_timeout,
        )
