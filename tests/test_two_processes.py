"""Two real server processes share one office through PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
import socketio

from server.infra.settings import Settings
from tests.cli_helpers import free_port, process_env, seed_office
from tests.conftest import PASSWORD, fresh_postgres_database, service_url
from tests.waiting import eventually

SECRET = "s" * 40


def server_env(
    tmp_path: Path, database_url: str, redis_url: str, port: int, prefix: str
) -> dict[str, str]:
    return process_env(
        tmp_path / f"var{port}",
        port,
        database_url=database_url,
        redis_url=redis_url,
        redis_prefix=prefix,
        secret_key=SECRET,
        log_format="json",
        log_level="WARNING",
    )


@pytest.fixture
async def two_servers(tmp_path: Path) -> AsyncIterator[tuple[list[str], dict[str, int]]]:
    redis_url = service_url("OFFICEHOURS_TEST_REDIS", "Redis")
    async with fresh_postgres_database() as database_url:
        prefix = f"oh-2p-{os.getpid()}-{free_port()}"
        settings = Settings.from_env(server_env(tmp_path, database_url, redis_url, 1, prefix))
        people, rooms = await seed_office(settings, ("alice", "bob"))
        ids = {f"user:{name}": user_id for name, user_id in people.items()}

        ports = [free_port(), free_port()]
        processes = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "server",
                "serve",
                env=server_env(tmp_path, database_url, redis_url, port, prefix),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
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
            yield bases, {**ids, **rooms}
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                async with asyncio.timeout(15):
                    await process.wait()


async def connect(base: str, email: str) -> tuple[socketio.AsyncClient, list[tuple[str, Any]]]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{base}/api/auth/sign-in", json={"email": email, "password": PASSWORD}) as r,
    ):
        assert r.status == 200
        cookie = r.cookies["officehours_session"].value
    client = socketio.AsyncClient(reconnection=False)
    events: list[tuple[str, Any]] = []
    for name in ("office:delta", "request", "request:resolved"):
        client.on(name, lambda data, name=name: events.append((name, data)))
    await client.connect(
        base,
        headers={"Cookie": f"officehours_session={cookie}", "Origin": base},
        transports=["websocket"],
    )
    return client, events


async def test_people_on_different_processes_see_and_knock_on_each_other(
    two_servers: tuple[list[str], dict[str, int]],
) -> None:
    (base_a, base_b), ids = two_servers
    alice, alice_events = await connect(base_a, "alice@twin.example")
    bob, bob_events = await connect(base_b, "bob@twin.example")
    try:
        snap = await bob.call("office:snapshot", {}, timeout=5)
        people = {p["user_id"]: p for p in snap["people"]}
        assert people[ids["user:alice"]]["status"] == "available"  # connected elsewhere

        def alice_in(room_id: int | None) -> bool:
            return any(
                p["user_id"] == ids["user:alice"] and p["room_id"] == room_id
                for name, data in bob_events
                if name == "office:delta"
                for p in data["people"]
            )

        assert (await alice.call("room:enter", {"room_id": ids["Lobby"]}, timeout=5))["ok"]
        await eventually(lambda: alice_in(ids["Lobby"]))

        closed = ids["Meeting room B"]
        assert (await bob.call("room:enter", {"room_id": closed}, timeout=5))["ok"]
        knock = await alice.call("room:enter", {"room_id": closed}, timeout=5)
        assert knock["outcome"] == "knocking"
        prompt = await eventually(lambda: [d for n, d in bob_events if n == "request"])
        assert prompt[0]["request_id"] == knock["request_id"]
        answer = await bob.call(
            "request:answer", {"request_id": knock["request_id"], "accept": True}, timeout=5
        )
        assert answer["outcome"] == "accepted"
        await eventually(lambda: [d for n, d in alice_events if n == "request:resolved"])
        await eventually(lambda: alice_in(closed))
    finally:
        await alice.disconnect()
        await bob.disconnect()


class Tab:
    """A python-socketio client shaped like tests.people.Person for the meeting helpers."""

    def __init__(self, client: socketio.AsyncClient) -> None:
        self.rt = SimpleNamespace(sio=client)

    async def call(self, event: str, payload: dict[str, Any] | None = None) -> Any:
        return await self.rt.sio.call(event, payload or {}, timeout=10)


@pytest.mark.usefixtures("loopback_ice")
async def test_a_meeting_spans_processes_through_the_process_that_holds_it(
    two_servers: tuple[list[str], dict[str, int]],
) -> None:
    from tests.test_meetings import Browser

    (base_a, base_b), ids = two_servers
    alice_client, _ = await connect(base_a, "alice@twin.example")
    bob_client, _ = await connect(base_b, "bob@twin.example")
    alice, bob = Browser(Tab(alice_client)), Browser(Tab(bob_client))  # type: ignore[arg-type]
    try:
        for tab in (alice, bob):
            assert (await tab.person.call("room:enter", {"room_id": ids["Lobby"]}))["ok"]
        assert (await alice.person.call("media:join"))["ok"]  # process A holds the meeting
        joined = await bob.person.call("media:join")  # forwarded from B to A
        assert joined["ok"] and {m["user_id"] for m in joined["members"]} == {
            ids["user:alice"],
            ids["user:bob"],
        }
        await alice.publish()
        await bob.publish()  # B forwards the offer, A answers, B relays the answer back
        await eventually(lambda: any(n >= 10 for n in bob.frames.values()), 20)
        await eventually(lambda: any(n >= 10 for n in alice.frames.values()), 20)
        # Bob mutes on B: A, which holds the meeting, tells Alice.
        members: list[Any] = []
        alice_client.on("media:members", members.append)
        state = {"muted": True, "camera_off": False}
        assert (await bob.person.call("media:state", state))["ok"]
        await eventually(
            lambda: any(
                m["user_id"] == ids["user:bob"] and m["muted"]
                for event in members
                for m in event["members"]
            ),
            10,
        )
        # Walking out on B ends Bob's part of the meeting held on A.
        (from_bob,) = list(alice.incoming)
        closed: list[Any] = []
        alice_client.on("media:closed", closed.append)
        assert (await bob.person.call("room:leave"))["ok"]
        await eventually(lambda: {"peer_id": from_bob} in closed, 10)
    finally:
        await alice.close()
        await bob.close()
        await alice_client.disconnect()
        await bob_client.disconnect()
