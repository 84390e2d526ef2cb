"""A rolling deploy: the process holding a meeting is stopped (SIGTERM) while two processes
share the office on PostgreSQL and Redis. The meeting moves to the process that stays: its
tabs there are told to join again, the stopped process's people reconnect to it, and media
flows again, with everyone still in the room. And when the holder is killed (SIGKILL), the
process that stays finds it dead and moves the meeting the same way, within 10 s."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from server.infra.settings import Settings
from tests.cli_helpers import free_port, seed_office
from tests.conftest import fresh_postgres_database, service_url
from tests.test_two_processes import Tab, connect, server_env
from tests.waiting import eventually

pytestmark = [
    pytest.mark.network,
    pytest.mark.timeout(120),
    pytest.mark.usefixtures("loopback_ice"),
]


PROCESS_TIMEOUT = (
    "2"  # a killed process counts as dead after this (OFFICEHOURS_PROCESS_TIMEOUT_SECONDS)
)


@pytest.fixture
async def two_processes(
    tmp_path: Path,
) -> AsyncIterator[tuple[list[asyncio.subprocess.Process], list[str], dict[str, int]]]:
    redis_url = service_url("OFFICEHOURS_TEST_REDIS", "Redis")
    async with fresh_postgres_database() as database_url:
        prefix = f"oh-handover-{os.getpid()}-{free_port()}"
        settings = Settings.from_env(server_env(tmp_path, database_url, redis_url, 1, prefix))
        people, rooms = await seed_office(settings, ("alice", "bob"))
        ports = [free_port(), free_port()]
        processes = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "server",
                "serve",
                env={
                    **server_env(tmp_path, database_url, redis_url, port, prefix),
                    "OFFICEHOURS_PROCESS_TIMEOUT_SECONDS": PROCESS_TIMEOUT,
                },
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            for port in ports
        ]
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        try:
            async with aiohttp.ClientSession() as http:
                for base in bases:
                    async with asyncio.timeout(30):
                        while True:
                            try:
                                async with http.get(f"{base}/readyz") as r:
                                    if r.status == 200:
                                        break
                            except aiohttp.ClientConnectionError:
                                pass
                            await asyncio.sleep(0.1)
            yield processes, bases, {**{f"user:{k}": v for k, v in people.items()}, **rooms}
        finally:
            for process in processes:
                if process.returncode is None:
                    process.kill()
                    await process.wait()


@dataclass
class Meeting:
    """Alice's tab on process A, Bob's on B, and what the test opens on top of them."""

    alice: Any
    bob: Any
    restarts: list[Any]  # media:restart events Bob's tab received
    browsers: list[Any] = field(default_factory=list)
    clients: list[Any] = field(default_factory=list)

    async def alice_reconnects(self, base: str) -> Any:
        """Alice's browser connects again, to the process at ``base``: its new tab."""
        from tests.test_meetings import Browser

        client, _ = await connect(base, "alice@twin.example")
        self.clients.append(client)
        tab = Browser(Tab(client))  # type: ignore[arg-type]
        self.browsers.append(tab)
        return tab

    def bob_again(self) -> Any:
        """A fresh camera connection on Bob's tab, as the page makes after media:restart."""
        from tests.test_meetings import Browser

        tab = Browser(self.bob.person)
        self.browsers.append(tab)
        return tab


@contextlib.asynccontextmanager
async def meeting_held_by_a(base_a: str, base_b: str, lobby: int) -> AsyncIterator[Meeting]:
    """Alice (on A, which so holds the meeting) and Bob (on B, forwarded to A) in the Lobby,
    each receiving the other's camera; closes every tab and client the test added too."""
    from tests.test_meetings import Browser

    alice_client, _ = await connect(base_a, "alice@twin.example")
    bob_client, _ = await connect(base_b, "bob@twin.example")
    restarts: list[Any] = []
    bob_client.on("media:restart", restarts.append)
    alice, bob = Browser(Tab(alice_client)), Browser(Tab(bob_client))  # type: ignore[arg-type]
    meeting = Meeting(alice, bob, restarts, [alice, bob], [alice_client, bob_client])
    try:
        for tab in (alice, bob):
            assert (await tab.person.call("room:enter", {"room_id": lobby}))["ok"]
        assert (await alice.person.call("media:join"))["ok"]  # process A holds the meeting
        assert (await bob.person.call("media:join"))["ok"]  # forwarded from B to A
        await alice.publish()
        await bob.publish()
        await eventually(lambda: any(n >= 5 for n in bob.frames.values()), 20)
        yield meeting
    finally:
        for browser in meeting.browsers:
            await browser.close()
        for client in meeting.clients:
            await client.disconnect()


async def test_stopping_the_process_that_holds_a_meeting_moves_it_to_the_one_that_stays(
    two_processes: tuple[list[asyncio.subprocess.Process], list[str], dict[str, int]],
) -> None:
    (holder, _), (base_a, base_b), ids = two_processes
    async with meeting_held_by_a(base_a, base_b, ids["Lobby"]) as meeting:
        started = time.monotonic()
        holder.send_signal(signal.SIGTERM)
        async with asyncio.timeout(5):
            await holder.wait()
        assert time.monotonic() - started <= 5
        # Bob's tab, on the process that stays, is told to join again.
        await eventually(lambda: meeting.restarts == [{"room_id": ids["Lobby"]}], 5)

        moved = time.monotonic()
        bob_again = meeting.bob_again()
        assert (await meeting.bob.person.call("media:join"))["ok"]  # now held by B
        await bob_again.publish()
        # Alice's browser reconnects to the process that stays, still in the Lobby.
        alice_again = await meeting.alice_reconnects(base_b)
        snapshot = await alice_again.person.call("office:snapshot")
        where = {p["user_id"]: p["room_id"] for p in snapshot["people"]}
        assert where[ids["user:alice"]] == ids["Lobby"] == where[ids["user:bob"]]
        assert (await alice_again.person.call("media:join"))["ok"]
        await alice_again.publish()
        await eventually(lambda: any(n >= 5 for n in bob_again.frames.values()), 10)
        await eventually(lambda: any(n >= 5 for n in alice_again.frames.values()), 10)
        assert time.monotonic() - moved <= 10


async def test_killing_the_process_that_holds_a_meeting_moves_it_within_10_s(
    two_processes: tuple[list[asyncio.subprocess.Process], list[str], dict[str, int]],
) -> None:
    (holder, _), (base_a, base_b), ids = two_processes
    async with meeting_held_by_a(base_a, base_b, ids["Lobby"]) as meeting:
        killed = time.monotonic()
        holder.send_signal(signal.SIGKILL)
        await holder.wait()
        # Alice's browser reconnects to the process that stays (a load balancer's doing).
        alice_again = await meeting.alice_reconnects(base_b)
        # Bob's tab is told to join again once A is found dead.
        await eventually(lambda: meeting.restarts == [{"room_id": ids["Lobby"]}], 8)
        bob_again = meeting.bob_again()
        for tab in (bob_again, alice_again):
            assert (await tab.person.call("media:join"))["ok"]  # placed on B now
            await tab.publish()
        await eventually(lambda: any(n >= 5 for n in bob_again.frames.values()), 10)
        await eventually(lambda: any(n >= 5 for n in alice_again.frames.values()), 10)
        moved_after = time.monotonic() - killed
        print(f"handover: media flowing again {moved_after:.1f} s after the holder was killed")
        assert moved_after <= 10
