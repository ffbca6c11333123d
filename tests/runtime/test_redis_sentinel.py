"""Failover through real Sentinels: a primary, 2 replicas and 3 Sentinels on loopback.

The client comes from ``connect_redis`` with Sentinel settings; the primary is SIGKILLed under a
write/read load. Operations must resume on the promoted replica without an error reaching a
caller, and no write confirmed by ``replicated`` (``WAIT 1`` behind a fence) may be missing
afterwards. The measured resume time is printed (``pytest -s``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from stackmcp.runtime.config import RedisConfig
from stackmcp.runtime.redisx import connect_redis, replicated
from tests.support.sentinel import MASTER_NAME, SentinelGroup, sentinel_group

pytestmark = pytest.mark.integration

WRITERS = 8
RESUME_BOUND = 30.0


@dataclasses.dataclass
class Load:
    """What the writers saw."""

    confirmed: dict[str, str] = dataclasses.field(default_factory=dict)
    """Keys whose write ``replicated`` confirmed, with the value written."""
    ok: list[tuple[float, float]] = dataclasses.field(default_factory=list)
    """(start, end) of every successful write-then-read."""
    errors: list[tuple[float, str]] = dataclasses.field(default_factory=list)
    """(time, error type) of every error that reached a writer."""
    stop: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    def __str__(self) -> str:
        kinds = sorted({kind for _, kind in self.errors})
        return f"{len(self.ok)} done, {len(self.confirmed)} confirmed, {len(self.errors)} errors {kinds}"

    def done_since(self, moment: float) -> int:
        """Successful write-then-reads that started after ``moment``."""
        return sum(1 for start, _ in self.ok if start > moment)


async def _writer(client: aioredis.Redis, config: RedisConfig, load: Load, name: str) -> None:
    sequence = 0
    while not load.stop.is_set():
        sequence += 1
        key, value = f"load:{name}:{sequence}", f"{name}-{sequence}"
        start = time.monotonic()
        try:
            async with replicated(client, config) as outcome:
                await client.set(key, value)
                assert await client.get(key) == value.encode()
        except RedisError as exc:
            load.errors.append((time.monotonic(), type(exc).__name__))
            continue
        load.ok.append((start, time.monotonic()))
        if outcome.confirmed:
            load.confirmed[key] = value


async def _until(condition: Callable[[], bool], load: Load, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}; load: {load}")
        await asyncio.sleep(0.01)


async def test_failover_resumes_and_keeps_every_confirmed_write(tmp_path: Path) -> None:
    """SIGKILL the primary under load: writes resume on a replica; confirmed writes survive."""
    with sentinel_group(tmp_path, down_after_ms=1000, failover_timeout_ms=2000) as group:
        config = RedisConfig(
            sentinels=group.sentinel_addresses,
            sentinel_master=MASTER_NAME,
            max_connections=20,
            wait_replicas=1,
            wait_timeout=1.0,
            # Longer than the failover takes even on a loaded machine, so that any error that
            # reaches a writer means the client failed to follow the failover.
            retry_budget=25,
        )
        client = await connect_redis(config, attempts=3)
        try:
            load, killed_at, resumed_after = await _kill_primary_under_load(client, config, group)
            errors_after_kill = [kind for at, kind in load.errors if at > killed_at]
            print(
                f"\nfailover: operations resumed {resumed_after:.2f}s after SIGKILL of the "
                f"primary; {len(errors_after_kill)} errors reached callers "
                f"({sorted(set(errors_after_kill))}); {len(load.confirmed)} confirmed writes"
            )
            assert resumed_after < RESUME_BOUND
            assert not errors_after_kill, "the retries did not carry callers across the failover"
            await _assert_promoted(group, old_port=group.primary.port)
            values = await client.mget(list(load.confirmed))
            missing = [k for k, v in zip(load.confirmed, values, strict=True) if v is None]
            assert not missing, f"{len(missing)} confirmed writes lost, e.g. {missing[:5]}"
            assert [v.decode() for v in values] == list(load.confirmed.values())
        finally:
            await client.aclose()


async def _kill_primary_under_load(
    client: aioredis.Redis, config: RedisConfig, group: SentinelGroup
) -> tuple[Load, float, float]:
    """Run the writers, SIGKILL the primary, and keep writing until the load has resumed.

    Returns:
        The load, when the primary was killed, and how long after that the first write-then-read
        started after the kill succeeded.
    """
    load = Load()
    writers = [asyncio.create_task(_writer(client, config, load, f"w{i}")) for i in range(WRITERS)]
    try:
        await _until(
            lambda: len(load.confirmed) >= 50, load, 60, "confirmed writes before the kill"
        )
        killed_at = time.monotonic()
        assert group.kill_primary() == group.primary.port
        await _until(lambda: load.done_since(killed_at) > 0, load, 60, "a write after the kill")
        resumed_after = min(end for start, end in load.ok if start > killed_at) - killed_at
        await _until(
            lambda: load.done_since(killed_at) >= 50, load, 60, "writes after the failover"
        )
    finally:
        load.stop.set()
        await asyncio.gather(*writers)
    return load, killed_at, resumed_after


async def _assert_promoted(group: SentinelGroup, old_port: int) -> None:
    assert await group.promoted(timeout=30) in {replica.port for replica in group.replicas}
    assert group.current_primary_port() != old_port
