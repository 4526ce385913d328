"""What one caller may spend of this frontend process: sign-ups per address, uploads in flight per
user, clicks per user, distinct tracked links, password hashes at once.

These guard the process's own CPU, memory and disk, so they are counted in memory, per frontend
instance (behind the load balancer each instance applies them to what reaches it). Every table is
bounded: a caller that cannot be told apart from others (too many keys) is refused, not remembered.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field


class TooMany(Exception):
    """A caller went over a limit; `retry_after_s` says when it may try again (0: unknown)."""

    def __init__(self, message: str, retry_after_s: int = 0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass
class SlidingWindow:
    """At most `limit` events per key within `window_s` seconds."""

    limit: int
    window_s: float
    #: Keys remembered at once; the least recently used go first (their counts are forgotten).
    max_keys: int = 10_000
    clock: Callable[[], float] = time.monotonic
    _events: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, key: str) -> int:
        """Count one event for `key`: 0 when allowed, else the seconds to wait (nothing counted)."""
        now = self.clock()
        with self._lock:
            events = self._events.pop(key, None) or deque()
            while events and events[0] <= now - self.window_s:
                events.popleft()
            wait = 0
            if len(events) >= self.limit:
                wait = max(1, math.ceil(events[-self.limit] + self.window_s - now)) if self.limit else 1
            else:
                events.append(now)
            self._events[key] = events
            while len(self._events) > self.max_keys:
                self._events.popitem(last=False)
            return wait


@dataclass
class InFlight:
    """At most `limit` operations at once per key (say, uploads being received for one user)."""

    limit: int
    _counts: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @contextlib.contextmanager
    def slot(self, key: str, refusal: str) -> Iterator[None]:
        with self._lock:
            if self._counts.get(key, 0) >= self.limit:
                raise TooMany(refusal, retry_after_s=1)
            self._counts[key] = self._counts.get(key, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._counts[key] - 1
                if left:
                    self._counts[key] = left
                else:
                    del self._counts[key]

    def held(self, key: str) -> int:
        with self._lock:
            return self._counts.get(key, 0)


@dataclass
class BoundedNames:
    """At most `limit` distinct names are kept as they are; later new ones become `overflow`."""

    limit: int
    overflow: str = "(other)"
    _names: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def admit(self, name: str) -> str:
        with self._lock:
            if name in self._names:
                return name
            if len(self._names) < self.limit:
                self._names.add(name)
                return name
            return self.overflow


class HashSlots:
    """Argon2 costs ~64 MiB and tens of milliseconds per hash: only so many run at once."""

    def __init__(self, at_once: int) -> None:
        self._at_once = at_once
        self._semaphore: asyncio.Semaphore | None = None

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        # Made on first use, inside the loop that serves requests.
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self._at_once)
        async with self._semaphore:
            yield
