"""Sliding-window failure counting, in memory (one process) or in Redis (several).

One interface, two backends, one test suite over both. Times come from the caller's clock
(wall-clock seconds, so processes sharing Redis agree), which lets tests advance a fake clock.
Keys are keyed hashes chosen by the caller, never raw emails or addresses.
"""

from __future__ import annotations

import math
import uuid
from collections import deque
from typing import Protocol

from redis.asyncio import Redis


class FailureWindow(Protocol):
    async def failures(self, key: str, now: float) -> tuple[int, float | None]:
        """How many failures fall in the window ending at ``now``, and the oldest one's time."""
        ...

    async def add(self, key: str, now: float) -> None: ...

    async def clear(self, key: str) -> None: ...


class MemoryFailureWindow:
    def __init__(self, window_seconds: float, max_keys: int = 100_000) -> None:
        self._window = window_seconds
        self._max_keys = max_keys
        self._events: dict[str, deque[float]] = {}

    def _trim(self, key: str, now: float) -> deque[float] | None:
        events = self._events.get(key)
        if events is None:
            return None
        while events and events[0] <= now - self._window:
            events.popleft()
        if not events:
            del self._events[key]
            return None
        return events

    async def failures(self, key: str, now: float) -> tuple[int, float | None]:
        events = self._trim(key, now)
        return (0, None) if events is None else (len(events), events[0])

    async def add(self, key: str, now: float) -> None:
        if key not in self._events and len(self._events) >= self._max_keys:
            # Bounded memory under a flood of distinct keys: drop the stalest entries.
            for stale in sorted(self._events, key=lambda k: self._events[k][-1])[:1000]:
                del self._events[stale]
        self._trim(key, now)
        self._events.setdefault(key, deque()).append(now)

    async def clear(self, key: str) -> None:
        self._events.pop(key, None)


class RedisFailureWindow:
    """A sorted set per key, scored by time, expiring with the window."""

    def __init__(self, redis: Redis, prefix: str, window_seconds: float) -> None:
        self._redis = redis
        self._prefix = prefix
        self._window = window_seconds

    def _key(self, key: str) -> str:
        return f"{self._prefix}:fail:{key}"

    async def failures(self, key: str, now: float) -> tuple[int, float | None]:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(self._key(key), "-inf", now - self._window)
            pipe.zcard(self._key(key))
            pipe.zrange(self._key(key), 0, 0, withscores=True)
            _, count, oldest = await pipe.execute()
        return int(count), (float(oldest[0][1]) if oldest else None)

    async def add(self, key: str, now: float) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(self._key(key), {uuid.uuid4().hex: now})
            pipe.expire(self._key(key), math.ceil(self._window) + 1)
            await pipe.execute()

    async def clear(self, key: str) -> None:
        await self._redis.delete(self._key(key))


class TokenBucket:
    """Burst plus sustained rate per key, in this process (a per-connection limit when the
    service runs several processes). Returns how long to wait when a key is over."""

    def __init__(self, burst: int, per_second: float, max_keys: int = 100_000) -> None:
        self._burst = float(burst)
        self._rate = per_second
        self._max_keys = max_keys
        self._state: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def take(self, key: str, now: float) -> float | None:
        """None when allowed; otherwise the seconds until one more is allowed."""
        tokens, at = self._state.get(key, (self._burst, now))
        tokens = min(self._burst, tokens + (now - at) * self._rate)
        if tokens < 1.0:
            self._state[key] = (tokens, now)
            return (1.0 - tokens) / self._rate
        if key not in self._state and len(self._state) >= self._max_keys:
            self._state.clear()  # bounded memory; a flood of keys resets everyone to full
        self._state[key] = (tokens - 1.0, now)
        return None

    def forget(self, key: str) -> None:
        """Drop a key's state (its connection closed); it starts full if seen again."""
        self._state.pop(key, None)
