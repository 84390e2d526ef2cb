"""The Socket.IO Redis manager keeps one Redis client: an emit before anyone connected must
not leave a second client (and its open connection) behind when the listener starts."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient

from server.app import SOCKETIO
from server.realtime.broadcaster import SocketBroadcaster
from tests.conftest import Backend, Office


async def test_an_emit_before_the_first_connection_reuses_one_redis_client(
    client: TestClient[Any, Any], office: Office, join: Any, backend: Backend
) -> None:
    if backend.redis_url is None:
        return  # the in-memory manager has no Redis client
    server: Any = client.app[SOCKETIO]
    await SocketBroadcaster(server).to_user(office.alice.id, "hello", {})
    first = server.manager.redis
    assert first is not None
    await join("alice@acme.example")
    for _ in range(200):  # the listener starts with the first connection
        if getattr(server.manager, "thread", None) is not None and server.manager.pubsub.subscribed:
            break
        await asyncio.sleep(0.01)
    assert server.manager.pubsub.subscribed
    assert server.manager.redis is first
