"""The one in-process cache: expiry, the size bound, and no stale refill after an invalidation."""

from __future__ import annotations

import asyncio

import pytest

from stackmcp.runtime.cache import TtlCache


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_entries_expire_after_the_ttl() -> None:
    clock = Clock()
    cache: TtlCache[str, int] = TtlCache(ttl=5, max_entries=10, clock=clock)
    cache.put("a", 1)
    clock.now += 4.9
    assert cache.get("a") == 1
    clock.now += 0.2
    assert cache.get("a") is None
    assert len(cache) == 0  # an expired entry is dropped, not kept


def test_the_oldest_stored_entry_goes_first_over_the_bound() -> None:
    cache: TtlCache[int, int] = TtlCache(ttl=60, max_entries=3, clock=Clock())
    for key in range(5):
        cache.put(key, key)
    assert len(cache) == 3
    assert [cache.get(k) for k in range(5)] == [None, None, 2, 3, 4]
    cache.put(2, 20)  # storing again makes it the newest
    cache.put(5, 5)
    assert cache.get(3) is None
    assert cache.get(2) == 20


async def test_a_load_overtaken_by_an_invalidation_is_not_stored() -> None:
    cache: TtlCache[str, str] = TtlCache(ttl=60, max_entries=10, clock=Clock())
    reading = asyncio.Event()
    release = asyncio.Event()

    async def slow_load() -> str:
        reading.set()
        await release.wait()
        return "stale"

    load = asyncio.create_task(cache.get_or_load("k", slow_load))
    await reading.wait()
    cache.forget("k")  # the record changed while it was being read
    release.set()
    assert await load == "stale"  # the caller still gets its answer...
    assert cache.get("k") is None  # ...but nobody else will


async def test_get_or_load_loads_once_and_then_serves_the_copy() -> None:
    cache: TtlCache[str, int] = TtlCache(ttl=60, max_entries=10, clock=Clock())
    loads = 0

    async def load() -> int:
        nonlocal loads
        loads += 1
        return 7

    assert await cache.get_or_load("k", load) == 7
    assert await cache.get_or_load("k", load) == 7
    assert loads == 1


async def test_a_failed_load_stores_nothing() -> None:
    cache: TtlCache[str, int] = TtlCache(ttl=60, max_entries=10, clock=Clock())

    async def broken() -> int:
        raise LookupError("gone")

    with pytest.raises(LookupError):
        await cache.get_or_load("k", broken)
    assert cache.get("k") is None


def test_clear_refuses_refills_of_loads_under_way() -> None:
    cache: TtlCache[str, int] = TtlCache(ttl=60, max_entries=10, clock=Clock())
    generation = cache.generation
    cache.clear()
    assert not cache.put("k", 1, generation=generation)
    assert cache.put("k", 1, generation=cache.generation)


def test_a_bound_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        TtlCache(ttl=1, max_entries=0)
