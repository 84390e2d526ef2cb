"""A restart of a single process (SQLite, no Redis): the live office survives it.

People connected when the server stops are told it is restarting; the next process starts with
everyone where they were; whoever reconnects within the restart grace period is simply back,
and whoever does not goes offline (and out of their room) once it is over.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from server.app import create_app
from server.http.keys import OFFICE
from server.infra.clock import FakeClock
from server.infra.settings import Settings
from server.office import restart
from tests.conftest import Office, RealtimeClient, session_cookie, sign_in
from tests.people import Person, rooms_by_name

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


@contextlib.asynccontextmanager
async def next_process(settings: Settings, clock: FakeClock) -> AsyncIterator[TestClient[Any, Any]]:
    client: TestClient[Any, Any] = TestClient(TestServer(create_app(settings, clock)))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


async def tab(client: TestClient[Any, Any], cookie: str) -> Person:
    rt = RealtimeClient()
    await rt.connect(client, cookie=cookie)
    return Person(rt)


def where(snapshot: dict[str, Any]) -> dict[int, tuple[str, int | None]]:
    return {p["user_id"]: (p["status"], p["room_id"]) for p in snapshot["people"]}


async def test_people_keep_their_room_across_a_restart_and_the_absent_leave_after_the_grace(
    client: TestClient[Any, Any], office: Office, settings: Settings, clock: FakeClock
) -> None:
    rooms = await rooms_by_name(client, office.org.id)
    await sign_in(client, "alice@acme.example")
    alice_cookie = session_cookie(client)
    alice = await tab(client, alice_cookie)
    await sign_in(client, "bob@acme.example")
    bob = await tab(client, session_cookie(client))
    for person in (alice, bob):
        assert (await person.call("room:enter", {"room_id": rooms["Lobby"]}))["ok"] is True

    await client.server.close()  # SIGTERM: what aiohttp runs on it
    for person in (alice, bob):
        assert person.received("server:restarting") == [
            {"grace_seconds": settings.restart_grace_seconds}
        ]
    assert restart.path_in(settings.data_dir).exists()

    clock.advance(5)  # the new process starts a few seconds later
    async with next_process(settings, clock) as again:
        assert not restart.path_in(settings.data_dir).exists()  # read once, then gone
        alice_again = await tab(again, alice_cookie)
        try:
            snapshot = await alice_again.call("office:snapshot")
            # Both are where they were: Alice is back, Bob is expected back.
            assert where(snapshot)[office.alice.id] == ("available", rooms["Lobby"])
            assert where(snapshot)[office.bob.id] == ("available", rooms["Lobby"])

            # The presence grace alone (30 s) would have taken Bob out by now; the restart
            # grace (60 s) keeps him until it ends.
            clock.advance(settings.presence_grace_seconds + 1)
            await again.app[OFFICE].sweep()
            snapshot = await alice_again.call("office:snapshot")
            assert where(snapshot)[office.bob.id] == ("available", rooms["Lobby"])

            clock.advance(settings.restart_grace_seconds)
            await again.app[OFFICE].sweep()
            snapshot = await alice_again.call("office:snapshot")
            assert where(snapshot)[office.bob.id] == ("offline", None)
            assert where(snapshot)[office.alice.id] == ("available", rooms["Lobby"])
        finally:
            await alice_again.rt.close()


async def test_a_saved_office_older_than_the_grace_period_is_not_brought_back(
    client: TestClient[Any, Any], office: Office, settings: Settings, clock: FakeClock
) -> None:
    rooms = await rooms_by_name(client, office.org.id)
    await sign_in(client, "alice@acme.example")
    cookie = session_cookie(client)
    alice = await tab(client, cookie)
    assert (await alice.call("room:enter", {"room_id": rooms["Lobby"]}))["ok"] is True
    await client.server.close()

    clock.advance(settings.restart_grace_seconds + 1)
    async with next_process(settings, clock) as again:
        assert not restart.path_in(settings.data_dir).exists()
        alice_again = await tab(again, cookie)
        try:
            snapshot = await alice_again.call("office:snapshot")
            assert where(snapshot)[office.alice.id] == ("available", None)
        finally:
            await alice_again.rt.close()
