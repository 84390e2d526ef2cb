"""The failure window behaves the same in memory and on Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from server.ratelimit import FailureWindow, MemoryFailureWindow, RedisFailureWindow
from tests.conftest import service_url


@pytest.fixture(params=["memory", "redis"])
async def window(request: pytest.FixtureRequest) -> AsyncIterator[FailureWindow]:
    if request.param == "memory":
        yield MemoryFailureWindow(60)
        return
    redis = Redis.from_url(service_url("OFFICEHOURS_TEST_REDIS", "Redis"))
    yield RedisFailureWindow(redis, f"t-{uuid.uuid4().hex[:8]}", 60)
    await redis.aclose()


async def test_failures_are_counted_in_a_sliding_window(window: FailureWindow) -> None:
    assert await window.failures("k", 1000.0) == (0, None)
    await window.add("k", 1000.0)
    await window.add("k", 1030.0)
    assert await window.failures("k", 1030.0) == (2, 1000.0)
    assert await window.failures("other", 1030.0) == (0, None)
    assert await window.failures("k", 1061.0) == (1, 1030.0)  # the first slid out
    assert await window.failures("k", 1091.0) == (0, None)


async def test_clear_forgets_a_key(window: FailureWindow) -> None:
    await window.add("k", 1.0)
    await window.add("j", 1.0)
    await window.clear("k")
    assert await window.failures("k", 2.0) == (0, None)
    assert await window.failures("j", 2.0) == (1, 1.0)


async def test_memory_window_stays_bounded() -> None:
    window = MemoryFailureWindow(60, max_keys=2000)
    for i in range(5000):
        await window.add(f"k{i}", float(i))
    assert len(window._events) <= 2000
    assert (await window.failures("k4999", 4999.0))[0] == 1
