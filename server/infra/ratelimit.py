"""Sliding-window attempt counting, in memory (one process) or in Redis (several).

One interface, two backends, one test suite over both. Times come from the caller's clock
(wall-clock seconds, so processes sharing Redis agree), which lets tests advance a fake clock.
Keys are keyed hashes chosen by the caller, never raw emails or addresses.

``acquire`` counts an attempt and decides in one indivisible step (plain code with no await
in memory, one Lua script on Redis), so parallel attempts cannot all pass a check made before
any of them was counted; a caller whose attempt succeeded ``release``s it.
"""

from __future__ import annotations

import uuid
from collections import deque
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis


@dataclass(frozen=True)
class Limit:
    """``limit`` attempts per window. Past it: without ``backoff_cap``, refused until the oldest
    attempt slides out of the window; with it, each further attempt must wait after the latest
    one 1 s, 2 s, 4 s ... up to ``backoff_cap`` seconds (slowed down, never locked out)."""

    limit: int
    backoff_cap: float | None = None

    def wait(self, count: int, oldest: float, newest: float, window: float, now: float) -> float:
        """Seconds until one more attempt is allowed (0 or less: now)."""
        if count < self.limit:
            return 0.0
        if self.backoff_cap is None:
            return oldest + window - now
        return newest + min(self.backoff_cap, 2.0 ** (count - self.limit)) - now


class FailureWindow(Protocol):
    """Attempts counted per key in a sliding window. Only ``acquire`` counts, and it checks
    and counts in one step: a separate "how many so far?" then "add one" would let attempts
    sent in parallel all pass the check."""

    async def clear(self, key: str) -> None: ...

    async def acquire(self, key: str, now: float, limit: Limit) -> tuple[str | None, float]:
        """Count one attempt unless ``key`` is over ``limit``, atomically: (attempt id, 0.0)
        when counted, (None, seconds to wait) when refused (then nothing is counted)."""
        ...

    async def release(self, key: str, attempt: str) -> None:
        """Un-count one attempt (it succeeded, or it was never made)."""
        ...


class MemoryFailureWindow:
    def __init__(self, window_seconds: float, max_keys: int = 100_000) -> None:
        self._window = window_seconds
        self._max_keys = max_keys
        self._events: dict[str, deque[tuple[float, str]]] = {}

    def _trim(self, key: str, now: float) -> deque[tuple[float, str]] | None:
        events = self._events.get(key)
        if events is None:
            return None
        while events and events[0][0] <= now - self._window:
            events.popleft()
        if not events:
            del self._events[key]
            return None
        return events

    def _append(self, key: str, now: float, attempt: str) -> None:
        if key not in self._events and len(self._events) >= self._max_keys:
            # Bounded memory under a flood of distinct keys: drop the stalest entries.
            for stale in sorted(self._events, key=lambda k: self._events[k][-1][0])[:1000]:
                del self._events[stale]
        self._trim(key, now)
        self._events.setdefault(key, deque()).append((now, attempt))

    async def clear(self, key: str) -> None:
        self._events.pop(key, None)

    async def acquire(self, key: str, now: float, limit: Limit) -> tuple[str | None, float]:
        # No await between the count and the append: nothing else runs in between.
        events = self._trim(key, now)
        if events is not None:
            wait = limit.wait(len(events), events[0][0], events[-1][0], self._window, now)
            if wait > 0:
                return None, wait
        attempt = uuid.uuid4().hex
        self._append(key, now, attempt)
        return attempt, 0.0

    async def release(self, key: str, attempt: str) -> None:
        events = self._events.get(key)
        if events is None:
            return
        for event in events:
            if event[1] == attempt:
                events.remove(event)
                break
        if not events:
            del self._events[key]


# KEYS[1] the sorted set; ARGV: now, window, limit, backoff cap (-1: none), attempt id.
# Trims, counts, decides and adds in one step; answers "ok" or the seconds to wait.
_ACQUIRE = """
local key = KEYS[1]
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local cap = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
if count >= limit then
  local wait
  if cap < 0 then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    wait = tonumber(oldest[2]) + window - now
  else
    local newest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
    wait = tonumber(newest[2]) + math.min(cap, 2 ^ (count - limit)) - now
  end
  if wait > 0 then
    return tostring(wait)
  end
end
redis.call('ZADD', key, now, ARGV[5])
redis.call('EXPIRE', key, math.ceil(window) + 1)
return 'ok'
"""


class RedisFailureWindow:
    """A sorted set per key, scored by time, expiring with the window."""

    def __init__(self, redis: Redis, prefix: str, window_seconds: float) -> None:
        self._redis = redis
        self._prefix = prefix
        self._window = window_seconds
        self._acquire = redis.register_script(_ACQUIRE)

    def _key(self, key: str) -> str:
        return f"{self._prefix}:fail:{key}"

    async def clear(self, key: str) -> None:
        await self._redis.delete(self._key(key))

    async def acquire(self, key: str, now: float, limit: Limit) -> tuple[str | None, float]:
        attempt = uuid.uuid4().hex
        cap = -1.0 if limit.backoff_cap is None else limit.backoff_cap
        answer = await self._acquire(
            keys=[self._key(key)], args=[repr(now), repr(self._window), limit.limit, cap, attempt]
        )
        text = answer.decode() if isinstance(answer, bytes) else str(answer)
        return (attempt, 0.0) if text == "ok" else (None, float(text))

    async def release(self, key: str, attempt: str) -> None:
        await self._redis.zrem(self._key(key), attempt)


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
