"""The direct fan-out reaches exactly the right sockets, alone and across processes on Redis.

It bypasses python-socketio's per-recipient tasks by using engine.io internals; these tests are
the seam check that fails if an upgrade moves them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import socketio
from aiohttp import web
from aiohttp.test_utils import TestServer
from redis.asyncio import Redis

from server.realtime.fanout import DirectFanoutManager
from server.realtime.sio import RedisFanoutManager
from tests.conftest import service_url
from tests.waiting import eventually


class Hub:
    """A bare Socket.IO server whose clients join the room named in their auth."""

    def __init__(self, manager: Any) -> None:
        self.sio = socketio.AsyncServer(async_mode="aiohttp", client_manager=manager)
        self.app = web.Application()
        self.sio.attach(self.app)
        self.server = TestServer(self.app, host="127.0.0.1")

        @self.sio.event
        async def connect(sid: str, environ: Any, auth: dict[str, str]) -> None:
            await self.sio.enter_room(sid, auth["room"])

    async def start(self) -> str:
        await self.server.start_server()
        return str(self.server.make_url("/")).rstrip("/")


class Listener:
    def __init__(self) -> None:
        self.client = socketio.AsyncClient(reconnection=False)
        self.got: list[Any] = []
        self.client.on("news", self.heard)

    def heard(self, *args: Any) -> None:
        self.got.append(args[0] if len(args) == 1 else list(args))

    @property
    def sid(self) -> str:
        return str(self.client.get_sid())


MADE: list[Listener] = []


async def close_listeners() -> None:
    """Clients first: a server closing under open WebSockets waits for them."""
    while MADE:
        listener = MADE.pop()
        async with asyncio.timeout(5):
            await listener.client.disconnect()


@pytest.fixture
async def listeners() -> AsyncIterator[Callable[[str, str], Any]]:
    made = MADE

    async def make(url: str, room: str) -> Listener:
        listener = Listener()
        await listener.client.connect(url, auth={"room": room}, transports=["websocket"])
        made.append(listener)
        return listener

    yield make
    await close_listeners()


async def settle(listeners: list[Listener], expected: list[list[Any]]) -> None:
    await eventually(lambda: [listener.got for listener in listeners] == expected)


async def test_broadcast_reaches_room_members_once_and_skips_who_it_should(
    listeners: Callable[[str, str], Any],
) -> None:
    hub = Hub(DirectFanoutManager())
    url = await hub.start()
    try:
        in_room = [await listeners(url, "blue") for _ in range(5)]
        other = await listeners(url, "green")
        await hub.sio.emit("news", {"n": 1}, room="blue", skip_sid=in_room[0].sid)
        await hub.sio.emit("news", {"n": 2}, to=["blue", "green"])
        await hub.sio.emit("news", ("a", "b"), room="green")
        await settle(
            [*in_room, other],
            [[{"n": 2}]] + [[{"n": 1}, {"n": 2}]] * 4 + [[{"n": 2}, ["a", "b"]]],
        )
        # engine.io's per-socket queue: the internal the fan-out writes to.
        socket = hub.sio.eio.sockets[hub.sio.manager.eio_sid_from_sid(other.sid, "/")]
        assert isinstance(socket.queue, asyncio.Queue) and socket.closed is False
    finally:
        await close_listeners()
        await hub.server.close()


async def test_a_closed_socket_is_skipped_without_failing_the_broadcast(
    listeners: Callable[[str, str], Any],
) -> None:
    hub = Hub(DirectFanoutManager())
    url = await hub.start()
    try:
        first, second = await listeners(url, "blue"), await listeners(url, "blue")
        eio_sid = hub.sio.manager.eio_sid_from_sid(first.sid, "/")
        hub.sio.eio.sockets[eio_sid].closed = True
        await hub.sio.emit("news", "hello", room="blue")
        await settle([second], [["hello"]])
        assert first.got == []
        hub.sio.eio.sockets[eio_sid].closed = False
    finally:
        await close_listeners()
        await hub.server.close()


async def test_acks_still_use_the_library_path(listeners: Callable[[str, str], Any]) -> None:
    hub = Hub(DirectFanoutManager())
    url = await hub.start()
    try:
        listener = await listeners(url, "blue")
        listener.client.on("ask", lambda data: data * 2)
        assert await hub.sio.call("ask", 21, to=listener.sid, timeout=5) == 42
    finally:
        await close_listeners()
        await hub.server.close()


async def subscribed(redis_url: str, channel: str, managers: int) -> None:
    """Until Redis counts ``managers`` subscribers on ``channel`` (each manager's listener)."""
    client = Redis.from_url(redis_url)
    try:
        async with asyncio.timeout(5):
            while True:
                ((_, count),) = await client.pubsub_numsub(channel)
                if count >= managers:
                    return
                await asyncio.sleep(0.02)
    finally:
        await client.aclose()


async def test_on_redis_a_broadcast_from_one_process_reaches_sockets_on_both(
    listeners: Callable[[str, str], Any],
) -> None:
    redis_url = service_url("OFFICEHOURS_TEST_REDIS", "Redis")
    channel = f"fanout-test-{uuid.uuid4().hex}"
    hubs = [Hub(RedisFanoutManager(redis_url, channel=channel)) for _ in range(2)]
    urls = [await hub.start() for hub in hubs]
    try:
        here, there = await listeners(urls[0], "blue"), await listeners(urls[1], "blue")
        await subscribed(redis_url, channel, 2)
        await hubs[0].sio.emit("news", "across", room="blue")
        await settle([here, there], [["across"], ["across"]])
    finally:
        await close_listeners()
        for hub in hubs:
            await hub.sio.manager.close()
            await hub.server.close()
