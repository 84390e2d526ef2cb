"""Per-connection limits on Socket.IO: a token bucket over every event, and the message cap."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from server.content.messages import Message
from server.http.keys import DB, SETTINGS
from server.infra.clock import FakeClock
from server.infra.settings import Settings
from tests.conftest import Backend, Office, RealtimeClient, make_settings, session_cookie, sign_in
from tests.people import rooms_by_name


@pytest.fixture
def backend(tmp_path: Path) -> Backend:
    """SQLite only: the limits live in the Socket.IO adapter, whatever the storage."""
    return Backend("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'limits.db'}", None)


@pytest.fixture
def settings(tmp_path: Path, backend: Backend, request: pytest.FixtureRequest) -> Settings:
    overrides = getattr(request, "param", {"event_burst": "10", "event_per_second": "2"})
    return make_settings(tmp_path, backend, **overrides)


async def connect(client: TestClient[Any, Any], email: str) -> RealtimeClient:
    await sign_in(client, email)
    rt = RealtimeClient()
    await rt.connect(client, cookie=session_cookie(client))
    return rt


async def test_a_flooding_connection_is_slowed_down_and_kept(
    client: TestClient[Any, Any], office: Office, clock: FakeClock
) -> None:
    alice = await connect(client, "alice@acme.example")
    second_tab = await connect(client, "alice@acme.example")
    try:
        # A burst of 10 events of any kind (an unknown name counts too) ...
        answers = [await alice.call("whoami", {}) for _ in range(9)]
        answers.append(await alice.call("no:such:event", {}))
        assert [a["ok"] for a in answers] == [True] * 9 + [False]
        assert answers[-1]["error"]["code"] == "not_found"
        # ... then refusals, and a refused event does nothing.
        limited = await alice.call("presence:set", {"status": "busy"})
        assert limited["ok"] is False
        assert limited["error"]["code"] == "rate_limited"
        assert limited["error"]["retry_after"] == pytest.approx(0.5)  # one token at 2 a second
        seen = await second_tab.call("office:snapshot", {})
        me = next(p for p in seen["people"] if p["user_id"] == office.alice.id)
        assert me["status"] == "available"
        # The other tab has its own bucket, and the flooding one stays connected.
        assert (await second_tab.call("whoami", {}))["ok"] is True
        assert alice.sio.connected
        # Refilled at 2 a second: half a second later one more event goes through.
        clock.advance(0.5)
        accepted = await alice.call("presence:set", {"status": "busy"})
        assert accepted["ok"] is True and accepted["person"]["status"] == "busy"
        assert (await alice.call("whoami", {}))["error"]["code"] == "rate_limited"
        clock.advance(5)  # the bucket never holds more than the burst
        burst = [await alice.call("whoami", {}) for _ in range(11)]
        assert [a["ok"] for a in burst] == [True] * 10 + [False]
    finally:
        await alice.close()
        await second_tab.close()


@pytest.mark.parametrize("settings", [{}], indirect=True)  # the defaults
async def test_the_default_limit_leaves_room_for_a_fast_mover(
    client: TestClient[Any, Any], office: Office, clock: FakeClock
) -> None:
    """bench/presence.py moves each client 5 times a second; with typing and chat on top, a
    busy client sends ~8 events a second for a long time, and a page load sends a few dozen at
    once: all far inside 100 at once and 20 a second."""
    alice = await connect(client, "alice@acme.example")
    try:
        limits = client.app[SETTINGS]
        assert (limits.event_burst, limits.event_per_second) == (100, 20)
        hall = (await rooms_by_name(client, office.org.id))["Town hall"]  # x 0..20, y 12..30
        assert (await alice.call("room:enter", {"room_id": hall}))["ok"] is True
        start = [await alice.call(e, {}) for e in ("whoami", "office:snapshot", "chat:list")] * 10
        assert all(a["ok"] for a in start)
        for step in range(200):  # 40 seconds at 5 moves a second
            ack = await alice.call("room:position", {"x": step % 20, "y": 20})
            assert ack["ok"] is True, (step, ack)
            if step % 2:
                assert (await alice.call("presence:idle", {"idle": False}))["ok"] is True
            clock.advance(0.2)
    finally:
        await alice.close()


@pytest.mark.parametrize("settings", [{}], indirect=True)
async def test_an_oversized_message_closes_the_connection_and_stores_nothing(
    client: TestClient[Any, Any], office: Office
) -> None:
    alice = await connect(client, "alice@acme.example")
    try:
        opened = await alice.call("chat:open_direct", {"user_ids": [office.bob.id]})
        conversation = opened["conversation"]["id"]
        closed = asyncio.Event()
        alice.sio.on("disconnect", lambda *_: closed.set())
        # 70,000 characters: past the 64 KiB cap on one Socket.IO message.
        await alice.sio.emit(
            "chat:send",
            {"conversation_id": conversation, "client_id": "big", "body": "x" * 70_000},
        )
        async with asyncio.timeout(5):
            await closed.wait()
        async with client.app[DB]() as session:
            stored = await session.scalar(select(func.count()).select_from(Message))
        assert stored == 0
        # The server is fine: a new connection works, and a message just under the cap (but
        # over chat's own 4,000-character limit) is refused with an ack, not a disconnect.
        again = await connect(client, "alice@acme.example")
        try:
            near = await again.call(
                "chat:send",
                {"conversation_id": conversation, "client_id": "near", "body": "y" * 19_000},
            )
            assert near["ok"] is False and near["error"]["code"] == "too_large"
            assert again.sio.connected
        finally:
            await again.close()
    finally:
        await alice.close()
