"""A real Sentinel-managed Valkey group on loopback: a primary, replicas and Sentinels.

Use :func:`sentinel_group` as a context manager; it returns once every replica is in sync and
every Sentinel knows every replica and every other Sentinel, so a failover can start at once.
:meth:`SentinelGroup.kill_primary` and :meth:`SentinelGroup.promoted` are the hook a fault
scenario needs (``tests/support/distributed.py``'s ``valkey-failover``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import redis

from stackmcp.embedded import ValkeySentinel, ValkeyServer

MASTER_NAME = "stackmcp"


@dataclasses.dataclass
class SentinelGroup:
    """The servers and Sentinels of one monitored group."""

    primary: ValkeyServer
    replicas: list[ValkeyServer]
    sentinels: list[ValkeySentinel]
    master_name: str = MASTER_NAME
    _killed: int | None = None

    @property
    def sentinel_addresses(self) -> tuple[str, ...]:
        """``host:port`` of every Sentinel (the form ``STACKMCP_REDIS_SENTINELS`` takes)."""
        return tuple(sentinel.address for sentinel in self.sentinels)

    def kill_primary(self) -> int:
        """SIGKILL the server the Sentinels name as primary now; return its port."""
        port = self.current_primary_port()
        (server,) = [s for s in (self.primary, *self.replicas) if s.port == port]
        assert server.pid is not None
        os.kill(server.pid, signal.SIGKILL)
        self._killed = port
        return port

    async def promoted(self, timeout: float) -> int:
        """Wait until the Sentinels agree on a primary other than the last one killed."""
        await asyncio.to_thread(
            wait_until,
            lambda: self.current_primary_port() not in (None, self._killed),
            timeout,
            "the Sentinels to promote a replica",
        )
        port = self.current_primary_port()
        assert port is not None
        return port

    def current_primary_port(self) -> int | None:
        """The port the Sentinels agree on as primary, ``None`` while they disagree or fail."""
        ports = set()
        for sentinel in self.sentinels:
            try:
                with redis.Redis(host=sentinel.host, port=sentinel.port) as client:
                    _host, port = client.sentinel_get_master_addr_by_name(self.master_name)
            except (redis.RedisError, TypeError):
                return None
            ports.add(int(port))
        return ports.pop() if len(ports) == 1 else None


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail the test naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.05)


def _replica_synced(server: ValkeyServer) -> bool:
    with redis.Redis.from_url(server.url) as client:
        info = client.info("replication")
    return info.get("role") == "slave" and info.get("master_link_status") == "up"


def _sentinel_sees_all(sentinel: ValkeySentinel, replicas: int, sentinels: int) -> bool:
    with redis.Redis(host=sentinel.host, port=sentinel.port) as client:
        state = client.sentinel_master(MASTER_NAME)
    return (
        int(state["num-slaves"]) == replicas and int(state["num-other-sentinels"]) == sentinels - 1
    )


@contextlib.contextmanager
def sentinel_group(
    base_dir: Path,
    *,
    replicas: int = 2,
    sentinels: int = 3,
    down_after_ms: int = 1000,
    failover_timeout_ms: int = 2000,
    timeout: float = 60.0,
) -> Iterator[SentinelGroup]:
    """Start a primary, ``replicas`` replicas and ``sentinels`` Sentinels (quorum: majority).

    Everything is stopped on exit, including processes a test killed itself.
    """
    started: list[ValkeyServer | ValkeySentinel] = []
    try:
        primary = ValkeyServer(base_dir / "primary").start()
        started.append(primary)
        group = SentinelGroup(primary=primary, replicas=[], sentinels=[])
        for index in range(replicas):
            replica = ValkeyServer(
                base_dir / f"replica{index}", replica_of=(primary.host, primary.port)
            ).start()
            started.append(replica)
            group.replicas.append(replica)
        for index in range(sentinels):
            sentinel = ValkeySentinel(
                base_dir / f"sentinel{index}",
                primary=(primary.host, primary.port),
                master_name=MASTER_NAME,
                quorum=sentinels // 2 + 1,
                down_after_ms=down_after_ms,
                failover_timeout_ms=failover_timeout_ms,
            ).start()
            started.append(sentinel)
            group.sentinels.append(sentinel)
        for replica in group.replicas:
            wait_until(lambda r=replica: _replica_synced(r), timeout, f"{replica} in sync")
        for sentinel in group.sentinels:
            wait_until(
                lambda s=sentinel: _sentinel_sees_all(s, replicas, sentinels),
                timeout,
                f"{sentinel} to see {replicas} replicas and {sentinels - 1} other sentinels",
            )
        yield group
    finally:
        for process in reversed(started):
            process.stop()
