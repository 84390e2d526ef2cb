"""PostgreSQL stopped and started again under a running server.

What a user would notice: a message sent while the database is down is answered quickly
with ``unavailable`` (never acknowledged as stored, never left hanging), and once the database
is back everything works again without restarting the server; sending the refused message
again stores it once."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp
import pytest

from server.infra.settings import Settings
from tests.cli_helpers import free_port, process_env, seed_office
from tests.conftest import PASSWORD
from tests.faults.services import (
    OwnPostgres,
    OwnRedis,
    Person,
    count_messages,
    readiness,
    servers,
    sign_in,
)

pytestmark = [pytest.mark.faults, pytest.mark.timeout(90)]

ACK_BOUND = 5.0


async def test_postgres_restart(tmp_path: Path) -> None:
    postgres = OwnPostgres()
    redis = OwnRedis(tmp_path)
    try:
        await postgres.init()
        await postgres.start()
        await redis.start()
        env = process_env(
            tmp_path / "var",
            free_port(),
            database_url=postgres.url,
            redis_url=redis.url,
            secret_key="p" * 40,
            log_format="json",
            log_level="WARNING",
            event_burst="100000",
            event_per_second="100000",
        )
        ids, _ = await seed_office(Settings.from_env(env), ("alice", "bob"))
        async with servers((env, tmp_path / "server.log")) as (server,):
            alice = Person(await sign_in(server.base, "alice@twin.example"))
            await alice.connect(server.base)
            try:
                await scenario(postgres, server.base, alice, ids)
            finally:
                await alice.close()
        stored = await count_messages(postgres.url, ids["alice"])
    finally:
        await redis.stop()
        await postgres.destroy()
    assert stored == ["before", "during-0", "during-1", "during-2", "after"]


async def send(alice: Person, conversation: int, client_id: str) -> tuple[dict[str, object], float]:
    started = time.monotonic()
    ack = await alice.call(
        "chat:send",
        {"conversation_id": conversation, "client_id": client_id, "body": client_id},
        within=ACK_BOUND + 5,  # the assertion below is the bound; this only stops a hang
    )
    return ack, time.monotonic() - started


async def scenario(postgres: OwnPostgres, base: str, alice: Person, ids: dict[str, int]) -> None:
    opened = await alice.call("chat:open_direct", {"user_ids": [ids["bob"]]})
    conversation = opened["conversation"]["id"]
    ack, _ = await send(alice, conversation, "before")
    assert ack["ok"] is True

    await postgres.stop()
    refused = []
    for i in range(3):
        ack, seconds = await send(alice, conversation, f"during-{i}")
        assert ack["ok"] is False, "acknowledged while the database is down"
        assert ack["error"]["code"] == "unavailable", ack  # type: ignore[index]
        assert seconds < ACK_BOUND
        refused.append(seconds)
    # Reading fails as clearly, and so does HTTP (a 503, not a 500).
    history = await alice.call("chat:history", {"conversation_id": conversation, "limit": 10})
    assert history["error"]["code"] == "unavailable"
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{base}/api/auth/sign-in",
            json={"email": "bob@twin.example", "password": PASSWORD},
        ) as response,
    ):
        assert response.status == 503
        assert (await response.json())["error"]["code"] == "unavailable"
    assert await readiness(base) == (503, {"database": "unreachable", "redis": "ok"})

    await postgres.start()
    assert await readiness(base) == (200, {"database": "ok", "redis": "ok"})
    # The pool's pre-ping replaces the dead connections: the first send after the restart
    # works, and so does resending the refused ones.
    for client_id in ("during-0", "during-1", "during-2", "after"):
        ack, _ = await send(alice, conversation, client_id)
        assert ack["ok"] is True, ack
    ack, _ = await send(alice, conversation, "during-1")  # a duplicate resend
    assert ack["ok"] is True and ack["message"]["seq"] == 3  # type: ignore[index]
    history = await alice.call("chat:history", {"conversation_id": conversation, "limit": 10})
    assert [m["client_id"] for m in history["messages"]] == [
        "before",
        "during-0",
        "during-1",
        "during-2",
        "after",
    ]
    print(f"refusals answered in {max(refused):.3f}s at most")
