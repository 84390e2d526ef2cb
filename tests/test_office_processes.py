"""Several server processes share the live office: one that dies without saying goodbye
is given up once its beat is overdue, and one that was given up while alive comes back.

Two ``Office`` objects on one state store stand for two processes; a fake clock moves time.
(tests/faults/test_process_killed.py does the same with real processes and SIGKILL.)"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import create_async_engine

from rooms.store import MemoryStateStore, StateStore
from server.db.engine import session_factory
from server.infra.broadcast import DeltaCoalescer
from server.infra.clock import FakeClock
from server.infra.redis_state import RedisStateStore
from server.office.service import Office, OfficeConfig
from server.people.identity import Principal
from tests.conftest import service_url

GRACE = 30
TIMEOUT = 15


class Silent:
    """A broadcaster with nobody listening (these tests read the store, not events)."""

    async def to_user(self, user_id: int, event: str, data: dict[str, Any]) -> None:
        return None

    async def to_users(self, user_ids: Iterable[int], event: str, data: dict[str, Any]) -> None:
        return None

    async def to_org(self, org_id: int, event: str, data: dict[str, Any]) -> None:
        return None

    async def to_connection(self, sid: str, event: str, data: dict[str, Any]) -> None:
        return None

    async def disconnect(self, connection_ids: Iterable[str]) -> None:
        return None

    async def end_sessions(self, session_ids: Iterable[int], reason: str) -> None:
        return None


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[StateStore]:
    if request.param == "memory":
        yield MemoryStateStore()
        return
    redis = Redis.from_url(service_url("OFFICEHOURS_TEST_REDIS", "Redis"))
    yield RedisStateStore(redis, f"t-{uuid.uuid4().hex[:8]}")
    await redis.aclose()


@pytest.fixture
async def processes(store: StateStore) -> AsyncIterator[tuple[Office, Office, FakeClock]]:
    engine = create_async_engine("sqlite+aiosqlite://")  # never queried: nobody is in a room
    clock = FakeClock()
    config = OfficeConfig(GRACE, 60, 300, 50, process_timeout_seconds=TIMEOUT)

    def office() -> Office:
        broadcaster = Silent()
        coalescer = DeltaCoalescer(broadcaster, 0.05)
        return Office(store, session_factory(engine), clock, broadcaster, coalescer, config)

    yield office(), office(), clock
    await engine.dispose()


def member(user_id: int) -> Principal:
    return Principal(user_id, 1, f"Person {user_id}", (), session_id=user_id)


async def status(office: Office, user_id: int) -> tuple[str, int]:
    person = await office.person(1, user_id)
    assert person is not None
    return person.status.value, len(person.connections)


async def test_a_dead_process_is_given_up_and_its_people_go_offline_after_grace(
    processes: tuple[Office, Office, FakeClock],
) -> None:
    dead, alive, clock = processes
    await dead.connected(member(1), "a1")  # only on the process that dies
    await dead.connected(member(2), "a2")  # on both: this one survives
    await alive.connected(member(2), "b2")
    await dead.sweep()
    await alive.sweep()

    clock.advance(TIMEOUT - 1)
    await alive.sweep()  # not overdue yet
    assert await status(alive, 1) == ("available", 1)

    clock.advance(2)
    await alive.sweep()  # overdue: its connections are dropped, the grace period starts
    assert await status(alive, 1) == ("available", 0)
    assert await status(alive, 2) == ("available", 1)

    clock.advance(GRACE)
    await alive.sweep()
    assert await status(alive, 1) == ("offline", 0)
    assert await status(alive, 2) == ("available", 1)


async def test_a_process_given_up_while_alive_announces_its_people_again(
    processes: tuple[Office, Office, FakeClock],
) -> None:
    paused, other, clock = processes
    await paused.connected(member(1), "a1")
    await paused.sweep()
    await other.sweep()

    clock.advance(TIMEOUT + 1)  # the first process was paused all along
    await other.sweep()
    clock.advance(GRACE)
    await other.sweep()
    assert await status(other, 1) == ("offline", 0)

    await paused.sweep()  # awake again: it finds itself given up
    assert await status(other, 1) == ("available", 1)
    await paused.disconnected(member(1), "a1")  # and its connections close as usual
    clock.advance(GRACE)
    await other.sweep()
    assert await status(other, 1) == ("offline", 0)
