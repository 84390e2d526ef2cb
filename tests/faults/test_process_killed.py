"""One of two server processes is killed with SIGKILL while its people chat.

What a user would notice: the people of the dead process reconnect to the other one and
stay online throughout; whoever does not come back (a closed laptop) goes offline once the
dead process's heartbeat has expired and the grace period is over, instead of staying online
forever; messages sent but not acknowledged are sent again and stored exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path
from typing import Any

import pytest
import socketio

from server.infra.settings import Settings
from tests.cli_helpers import free_port, process_env, seed_office
from tests.conftest import fresh_postgres_database
from tests.faults.services import OwnRedis, Person, count_messages, servers, sign_in
from tests.waiting import eventually

pytestmark = [pytest.mark.faults, pytest.mark.timeout(90)]

GRACE = 1
PROCESS_TIMEOUT = 2
# The sweep runs every 0.25 s: presence settles within timeout + grace plus a margin.
SETTLE_BOUND = PROCESS_TIMEOUT + GRACE + 4
MESSAGES = 120
IN_FLIGHT = 6


async def test_killed_process_people_move_over_and_presence_converges(tmp_path: Path) -> None:
    redis = OwnRedis(tmp_path)
    await redis.start()
    try:
        async with fresh_postgres_database() as database_url:
            prefix = f"oh-faults-{os.getpid()}-{redis.port}"
            envs = [
                (
                    process_env(
                        tmp_path / f"var{i}",
                        free_port(),
                        database_url=database_url,
                        redis_url=redis.url,
                        redis_prefix=prefix,
                        secret_key="k" * 40,
                        log_format="json",
                        log_level="WARNING",
                        event_burst="100000",
                        event_per_second="100000",
                        chat_burst="10000",
                        chat_per_second="10000",
                        presence_grace_seconds=str(GRACE),
                        process_timeout_seconds=str(PROCESS_TIMEOUT),
                    ),
                    tmp_path / f"server{i}.log",
                )
                for i in range(2)
            ]
            ids, rooms = await seed_office(Settings.from_env(envs[0][0]), ("alice", "bob", "carol"))
            async with servers(*envs) as (doomed, survivor):
                people = {
                    name: Person(await sign_in(survivor.base, f"{name}@twin.example"))
                    for name in ("alice", "bob", "carol")
                }
                alice, bob, carol = people["alice"], people["bob"], people["carol"]
                try:
                    await alice.connect(doomed.base)
                    await carol.connect(doomed.base)
                    await bob.connect(survivor.base)
                    await scenario(doomed, survivor.base, alice, bob, carol, ids, rooms)
                    stored = await count_messages(database_url, ids["alice"])
                finally:
                    for person in people.values():
                        await person.close()
    finally:
        await redis.stop()
    assert sorted(stored) == [f"m{i:04d}" for i in range(MESSAGES)]  # each exactly once


async def scenario(
    doomed: Any,
    survivor_base: str,
    alice: Person,
    bob: Person,
    carol: Person,
    ids: dict[str, int],
    rooms: dict[str, int],
) -> None:
    lobby = rooms["Lobby"]
    for person in (alice, bob, carol):
        assert (await person.call("room:enter", {"room_id": lobby}))["ok"]
    opened = await alice.call("chat:open_direct", {"user_ids": [ids["bob"]]})
    conversation = opened["conversation"]["id"]
    await eventually(lambda: lobby in {p["room_id"] for p in bob.deltas_of(ids["carol"])})

    acked: dict[str, int] = {}
    window = asyncio.Semaphore(IN_FLIGHT)
    enough = asyncio.Event()

    async def send(i: int) -> None:
        client_id = f"m{i:04d}"
        async with window:
            try:
                ack = await alice.call(
                    "chat:send",
                    {"conversation_id": conversation, "client_id": client_id, "body": f"m {i}"},
                    within=3,
                )
            except (
                socketio.exceptions.TimeoutError,
                socketio.exceptions.BadNamespaceError,
                socketio.exceptions.DisconnectedError,
            ):
                return
            if ack.get("ok"):
                acked[client_id] = ack["message"]["id"]
                if len(acked) >= MESSAGES // 3:
                    enough.set()

    killed_at = 0.0
    before_crash: dict[str, int] = {}

    async def kill_when_enough() -> None:
        nonlocal killed_at, before_crash
        await enough.wait()
        await doomed.kill()
        killed_at = time.monotonic()
        before_crash = dict(acked)
        # Alice's browser sees its socket close and reconnects to the surviving process at
        # once; sends still waiting for an answer from the dead one time out meanwhile.
        await alice.reconnect(survivor_base)

    bob.events.clear()
    killer = asyncio.create_task(kill_when_enough())
    await asyncio.gather(*[send(i) for i in range(MESSAGES)])
    await killer
    assert 0 < len(before_crash) < MESSAGES, "the kill must land mid-stream"

    # Then it resends what was not acknowledged, plus a few that were (their acks could have
    # been lost on the wire).
    unacked = [f"m{i:04d}" for i in range(MESSAGES) if f"m{i:04d}" not in acked]
    for client_id in unacked + sorted(before_crash)[:5]:
        ack = await alice.call(
            "chat:send",
            {
                "conversation_id": conversation,
                "client_id": client_id,
                "body": f"m {int(client_id[1:])}",
            },
        )
        assert ack["ok"] is True, ack
        if client_id in before_crash:
            assert ack["message"]["id"] == before_crash[client_id]

    # Carol never came back: offline (and out of the Lobby) once the dead process's beat
    # expired and her grace period ended.
    await eventually(lambda: "offline" in bob.statuses(ids["carol"]), deadline=SETTLE_BOUND)
    carol_offline = time.monotonic() - killed_at
    assert bob.deltas_of(ids["carol"])[-1]["room_id"] is None
    # Alice moved over: never shown offline to bob.
    assert "offline" not in bob.statuses(ids["alice"])
    snap = await bob.call("office:snapshot", {})
    status = {p["user_id"]: p["status"] for p in snap["people"]}
    assert status[ids["alice"]] == "available"
    assert status[ids["carol"]] == "offline"

    # The dead process's connection of alice's is gone too: when she closes her tab on the
    # surviving process, she goes offline after the grace period like anyone else.
    with contextlib.suppress(Exception):
        await alice.client.disconnect()
    closed_at = time.monotonic()
    await eventually(lambda: "offline" in bob.statuses(ids["alice"]), deadline=GRACE + 3)
    alice_offline = time.monotonic() - closed_at
    print(
        f"acked before kill {len(before_crash)}, resent {len(unacked)}, "
        f"carol offline {carol_offline:.2f}s after the kill, "
        f"alice offline {alice_offline:.2f}s after closing"
    )
