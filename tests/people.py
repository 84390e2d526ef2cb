"""Test helpers: signed-in people with real Socket.IO clients that record what they get."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from server.db.models import Room
from server.http.keys import DB
from tests.conftest import RealtimeClient, session_cookie, sign_in

DELTA_DEADLINE = 2.0  # seconds; the coalescing interval is 0.1 s


class Person:
    """One signed-in browser tab: a real Socket.IO client that records what it receives."""

    def __init__(self, rt: RealtimeClient) -> None:
        self.rt = rt
        self.events: list[tuple[str, Any]] = []

        async def record(event: str, data: Any) -> None:
            self.events.append((event, data))

        self.rt.sio.on("*", record)  # every server event, in arrival order

    async def call(self, event: str, payload: dict[str, Any] | None = None) -> Any:
        # Generous: a media:publish answer waits for the relay's ICE gathering and DTLS set-up,
        # which on a loaded 2-core CI machine took more than 5 s once.
        return await self.rt.sio.call(event, payload if payload is not None else {}, timeout=15)

    def deltas_for(self, user_id: int) -> list[dict[str, Any]]:
        return [
            p
            for name, data in self.events
            if name == "office:delta"
            for p in data["people"]
            if p["user_id"] == user_id
        ]

    async def wait_for(self, predicate: Callable[[], Any], deadline: float = DELTA_DEADLINE) -> Any:
        start = time.monotonic()
        while time.monotonic() - start < deadline:
            value = predicate()
            if value:
                return value
            await asyncio.sleep(0.01)
        raise AssertionError("timed out waiting")

    async def seen(self, user_id: int, **fields: Any) -> dict[str, Any]:
        """Wait until a delta about ``user_id`` shows ``fields``; returns it."""

        def match() -> dict[str, Any] | None:
            for person in reversed(self.deltas_for(user_id)):
                return person if all(person.get(k) == v for k, v in fields.items()) else None
            return None

        return await self.wait_for(match)

    def prompts(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [d for n, d in self.events if n == "request" and (kind is None or d["kind"] == kind)]

    def resolutions(self) -> list[dict[str, Any]]:
        return [d for n, d in self.events if n == "request:resolved"]

    def received(self, event: str) -> list[Any]:
        return [d for n, d in self.events if n == event]


@pytest.fixture
async def join(client: TestClient[Any, Any], realtime: Any) -> Callable[..., Any]:
    """``await join(email)``: sign in and connect a new tab for that person."""

    async def connect(email: str) -> Person:
        await sign_in(client, email)
        rt = realtime()
        await rt.connect(client, cookie=session_cookie(client))
        return Person(rt)

    return connect


async def rooms_by_name(client: TestClient[Any, Any], org_id: int) -> dict[str, int]:
    async with client.app[DB]() as session:
        rows = await session.execute(select(Room.name, Room.id).where(Room.org_id == org_id))
        return {name: room_id for name, room_id in rows}
