"""One suite over both office state stores (memory and Redis)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from rooms.store import Doc, MemoryStateStore, StateStore
from server.infra.redis_state import RedisStateStore
from tests.conftest import service_url


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[StateStore]:
    if request.param == "memory":
        yield MemoryStateStore()
        return
    redis = Redis.from_url(service_url("OFFICEHOURS_TEST_REDIS", "Redis"))
    yield RedisStateStore(redis, f"t-{uuid.uuid4().hex[:8]}")
    await redis.aclose()


async def test_transact_writes_all_or_deletes(store: StateStore) -> None:
    def create(docs: list[Doc | None]) -> tuple[list[Doc | None], str]:
        assert docs == [None, None]
        return [{"n": 1}, {"n": 2}], "made"

    assert await store.transact(["a", "b"], create) == "made"
    assert await store.get_many(["a", "b", "c"]) == [{"n": 1}, {"n": 2}, None]

    def delete_a(docs: list[Doc | None]) -> tuple[list[Doc | None], None]:
        return [None, docs[1]], None

    await store.transact(["a", "b"], delete_a)
    assert await store.get_many(["a", "b"]) == [None, {"n": 2}]


async def test_a_failing_change_writes_nothing(store: StateStore) -> None:
    def boom(docs: list[Doc | None]) -> tuple[list[Doc | None], None]:
        raise LookupError("refused")

    with pytest.raises(LookupError):
        await store.transact(["x"], boom)
    assert await store.get_many(["x"]) == [None]


async def test_returned_documents_are_copies(store: StateStore) -> None:
    await store.transact(["k"], lambda docs: ([{"items": [1]}], None))
    (doc,) = await store.get_many(["k"])
    assert doc is not None
    doc["items"].append(2)
    assert await store.get_many(["k"]) == [{"items": [1]}]


async def test_concurrent_increments_are_not_lost(store: StateStore) -> None:
    def increment(docs: list[Doc | None]) -> tuple[list[Doc | None], int]:
        n = (docs[0] or {"n": 0})["n"] + 1
        return [{"n": n}], n

    await asyncio.gather(*[store.transact(["counter"], increment) for _ in range(40)])
    assert await store.get_many(["counter"]) == [{"n": 40}]


async def test_sets_and_schedules(store: StateStore) -> None:
    await store.add_member("s", "1")
    await store.add_member("s", "2")
    await store.remove_member("s", "1")
    assert await store.members("s") == {"2"}
    await store.schedule("q", "late", 20.0)
    await store.schedule("q", "soon", 10.0)
    assert await store.due("q", 5.0) == []
    assert await store.due("q", 15.0) == ["soon"]
    assert await store.due("q", 25.0) == ["soon", "late"]
    await store.unschedule("q", "soon")
    assert await store.due("q", 25.0) == ["late"]


def test_stores_share_one_interface() -> None:
    methods = {m for m in dir(StateStore) if not m.startswith("_")}
    for impl in (MemoryStateStore, RedisStateStore):
        assert methods <= {m for m in dir(impl) if not m.startswith("_")}, impl
    assert all(callable(getattr(MemoryStateStore, m)) for m in methods)
