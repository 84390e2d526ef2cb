"""The one module that builds python-socketio objects (the library is untyped).

Everything else sees typed functions. ``instrument()`` (the admin UI) is never enabled: it
forwards event arguments, chat text included, to its own namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import socketio
from aiohttp import web

from server.realtime.fanout import DirectFanoutManager
from server.settings import Settings


class RedisFanoutManager(socketio.AsyncRedisManager, DirectFanoutManager):  # type: ignore[misc]
    """Redis pub/sub across processes; each process then fans out with ``DirectFanoutManager``
    (the pub/sub manager's local delivery calls ``super().emit``, which the MRO makes ours)."""

    def _redis_connect(self) -> None:
        """Reuse the client an early publish made: python-socketio starts its listener at the
        first connection, and a second client would replace the first, which was then dropped
        with its connection open (an emit before anyone connected leaked one)."""
        if getattr(self, "connected", False) and getattr(self, "redis", None) is not None:
            self.pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            return
        super()._redis_connect()

    async def close(self) -> None:
        """Stop listening and close the Redis connections (python-socketio never does)."""
        listener = getattr(self, "thread", None)
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        if getattr(self, "connected", False):
            await self.pubsub.aclose()
            await self.redis.aclose()
            self.connected = False


def create_server(settings: Settings) -> Any:
    """An AsyncServer for aiohttp; on Redis when configured, so several processes share rooms.

    Origins are an explicit allow-list (never empty: python-socketio reads [] as "allow all"),
    and inbound messages are capped at ``max_message_bytes``.
    """
    origins = list(settings.allowed_origins)
    if not origins or "*" in origins:
        raise ValueError("an explicit, non-empty origin allow-list is required")
    manager: Any = DirectFanoutManager()
    if settings.redis_url is not None:
        manager = RedisFanoutManager(
            settings.redis_url, channel=f"{settings.redis_prefix}:socketio"
        )
    return socketio.AsyncServer(
        async_mode="aiohttp",
        client_manager=manager,
        cors_allowed_origins=origins,
        cors_credentials=True,
        max_http_buffer_size=settings.max_message_bytes,
        logger=False,
        engineio_logger=False,
        ping_interval=20,
        ping_timeout=20,
    )


def attach(server: Any, app: web.Application) -> None:
    server.attach(app, socketio_path="socket.io")


def register(server: Any, namespace: Any) -> None:
    server.register_namespace(namespace)


async def disconnect_all(server: Any) -> None:
    """Close every connection (at shutdown: open WebSockets would otherwise hold the HTTP
    server open until they time out)."""
    for socket in list(server.eio.sockets.values()):
        # Send the close packet but do not wait for a long-polling client to fetch it.
        await socket.close(wait=False)


async def shutdown(server: Any) -> None:
    await server.shutdown()
    if isinstance(server.manager, RedisFanoutManager):
        await server.manager.close()


class RefusedConnection(socketio.exceptions.ConnectionRefusedError):  # type: ignore[misc]
    """Raised from a connect handler as ``(message, {"code", "message"})``; the client's
    ``connect_error`` receives ``{"message": ..., "data": {"code": ..., "message": ...}}``."""
