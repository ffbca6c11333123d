"""The one in-process cache: bounded, time-limited, safe against a stale refill.

Gateways cache grants, API-token acceptances and sessions; workers cache decrypted accounts.
Each of these is a copy of a Redis record that another replica may change at any moment, and
each is dropped as soon as a lifecycle event says so. Two rules follow:

* **Bounded.** Entries expire ``ttl`` seconds after they were stored, and at most
  ``max_entries`` are kept (the least recently stored goes first), so abandoned keys — a client
  that never ends its session — cannot grow the process.
* **No stale refill.** A load that started before an invalidation must not store what it read
  afterwards (the event may have overtaken the read). :meth:`TtlCache.get_or_load` takes a
  generation before loading and stores only if no :meth:`forget` or :meth:`clear` happened in
  between.

The clock is injectable so tests can move time without sleeping.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["TtlCache"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """A bounded mapping whose entries expire.

    Args:
        ttl: seconds an entry is returned after it was stored.
        max_entries: most entries kept; storing one more drops the oldest.
        clock: monotonic seconds (``time.monotonic`` unless a test moves time).
    """

    def __init__(
        self,
        *,
        ttl: float,
        max_entries: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._generation = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def generation(self) -> int:
        """Changes with every :meth:`forget` and :meth:`clear`; pass it to :meth:`put`."""
        return self._generation

    def get(self, key: K) -> V | None:
        """The live entry for ``key``, or ``None`` (an expired entry is dropped)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            del self._entries[key]
            return None
        return entry[1]

    def values(self) -> list[V]:
        """The live entries' values (expired ones are skipped, not dropped); a snapshot, so a
        metrics thread may call it while the event loop changes the cache."""
        now = self._clock()
        return [value for expires, value in list(self._entries.values()) if expires > now]

    def put(self, key: K, value: V, *, generation: int | None = None) -> bool:
        """Store ``value``; with ``generation``, only if nothing was invalidated since.

        Returns:
            Whether the value was stored.
        """
        if generation is not None and generation != self._generation:
            return False
        self._entries.pop(key, None)
        self._entries[key] = (self._clock() + self._ttl, value)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
        return True

    async def get_or_load(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        """The cached value, or ``await load()`` stored unless invalidated meanwhile."""
        cached = self.get(key)
        if cached is not None:
            return cached
        generation = self._generation
        value = await load()
        self.put(key, value, generation=generation)
        return value

    def forget(self, key: K) -> None:
        """Drop ``key`` and refuse refills by loads already under way."""
        self._generation += 1
        self._entries.pop(key, None)

    def clear(self) -> None:
        """Drop everything (e.g. after a NATS reconnection, when events may have been missed)."""
        self._generation += 1
        self._entries.clear()
