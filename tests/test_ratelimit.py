"""The failure window behaves the same in memory and on Redis: counting, atomic attempts,
back-off."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from server.infra.ratelimit import FailureWindow, Limit, MemoryFailureWindow, RedisFailureWindow
from tests.conftest import service_url


@pytest.fixture(params=["memory", "redis"])
async def window(request: pytest.FixtureRequest) -> AsyncIterator[FailureWindow]:
    if request.param == "memory":
        yield MemoryFailureWindow(60)
        return
    redis = Redis.from_url(service_url("OFFICEHOURS_TEST_REDIS", "Redis"))
    yield RedisFailureWindow(redis, f"t-{uuid.uuid4().hex[:8]}", 60)
    await redis.aclose()


async def test_attempts_are_counted_in_a_sliding_window(window: FailureWindow) -> None:
    two = Limit(2)
    assert (await window.acquire("k", 1000.0, two))[0] is not None
    assert (await window.acquire("k", 1030.0, two))[0] is not None
    assert await window.acquire("k", 1030.0, two) == (None, 30.0)  # until 1000 slides out
    assert (await window.acquire("other", 1030.0, two))[0] is not None
    assert (await window.acquire("k", 1061.0, two))[0] is not None  # the first slid out
    assert await window.acquire("k", 1061.0, two) == (None, 29.0)


async def test_clear_forgets_a_key(window: FailureWindow) -> None:
    one = Limit(1)
    await window.acquire("k", 1.0, one)
    await window.acquire("j", 1.0, one)
    await window.clear("k")
    assert (await window.acquire("k", 2.0, one))[0] is not None
    assert (await window.acquire("j", 2.0, one))[0] is None


async def test_memory_window_stays_bounded() -> None:
    window = MemoryFailureWindow(60, max_keys=2000)
    for i in range(5000):
        await window.acquire(f"k{i}", float(i), Limit(1))
    assert len(window._events) <= 2000
    assert (await window.acquire("k4999", 4999.0, Limit(1)))[0] is None  # still counted


async def test_parallel_attempts_cannot_pass_a_limit(window: FailureWindow) -> None:
    answers = await asyncio.gather(*(window.acquire("k", 1000.0, Limit(5)) for _ in range(32)))
    taken = [attempt for attempt, _ in answers if attempt is not None]
    assert len(taken) == 5
    assert all(0 < wait <= 60 for attempt, wait in answers if attempt is None)
    # Past the window the oldest slide out; a released attempt frees its place at once.
    assert (await window.acquire("k", 1059.0, Limit(5)))[0] is None
    await window.release("k", taken[0])
    assert (await window.acquire("k", 1059.0, Limit(5)))[0] is not None
    assert (await window.acquire("k", 1061.0, Limit(5)))[0] is not None


async def test_a_backoff_limit_slows_down_and_never_locks(window: FailureWindow) -> None:
    limit = Limit(3, backoff_cap=10)
    for t in (0.0, 0.0, 0.0):
        assert (await window.acquire("k", 1000.0 + t, limit))[0] is not None
    attempt, wait = await window.acquire("k", 1000.0, limit)
    assert attempt is None and wait == pytest.approx(1.0)
    waits = []
    now = 1000.0
    for _ in range(6):
        attempt, wait = await window.acquire("k", now, limit)
        if attempt is None:
            waits.append(wait)
            now += wait
            attempt, _ = await window.acquire("k", now, limit)
        assert attempt is not None
    assert waits == pytest.approx([1.0, 2.0, 4.0, 8.0, 10.0, 10.0])
