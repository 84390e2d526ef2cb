"""The one module that builds python-socketio objects (the library is untyped).

Everything else sees typed functions. ``instrument()`` (the admin UI) is never enabled: it
forwards event arguments, chat text included, to its own namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from typing import Any

import socketio
from aiohttp import web
from socketio import packet as sio_packet

from server.infra.errors import AppError, ErrorCode
from server.infra.settings import Settings
from server.infra.wire import MAX_JSON_DEPTH, SocketJson, TooDeep
from server.realtime import outbound
from server.realtime.fanout import DirectFanoutManager

log = logging.getLogger("officehours.realtime")

# This module and fanout.py extend python-socketio and python-engineio through internals
# (tests/test_socketio_seams.py lists them): both are pinned to these versions.
SUPPORTED_SOCKETIO = "5.18.1"
SUPPORTED_ENGINEIO = "4.15.1"

LISTEN_RETRY_FIRST_SECONDS = 0.5
LISTEN_RETRY_MAX_SECONDS = 2.0
DISCONNECT_ROOMS = "officehours:disconnect_rooms"


class RedisFanoutManager(socketio.AsyncRedisManager, DirectFanoutManager):  # type: ignore[misc]
    """Redis pub/sub across processes; each process then fans out with ``DirectFanoutManager``
    (the pub/sub manager's local delivery calls ``super().emit``, which the MRO makes ours)."""

    _closed = False

    def _redis_connect(self) -> None:
        # python-socketio makes a new client whenever it (re)connects, and both the first
        # publish and the listener connect at start-up: keep every client so close() can
        # close them all instead of leaking the replaced one's connections.
        super()._redis_connect()
        if not hasattr(self, "_clients"):
            self._clients: list[Any] = []
        self._clients.append((self.redis, self.pubsub))

    async def _redis_listen_with_retries(self) -> Any:
        # python-socketio doubles its wait after each failed reconnect up to a minute, so a
        # Redis restart could cut cross-process delivery for that long: retry every
        # LISTEN_RETRY_MAX_SECONDS at most instead.
        wait = LISTEN_RETRY_FIRST_SECONDS
        while True:
            try:
                self._redis_connect()
                await self._close_replaced()
                await self.pubsub.subscribe(self.channel)
                wait = LISTEN_RETRY_FIRST_SECONDS
                async for message in self.pubsub.listen():
                    yield message
            except Exception as exc:
                if self._closed:
                    return
                log.warning("realtime.redis_listen_failed", extra={"error": type(exc).__name__})
                await asyncio.sleep(wait)
                wait = min(wait * 2, LISTEN_RETRY_MAX_SECONDS)

    async def _close_replaced(self) -> None:
        """Close the clients a reconnect replaced, so an outage of any length leaks none."""
        replaced, self._clients = self._clients[:-1], self._clients[-1:]
        for redis, pubsub in replaced:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
                await redis.aclose()

    async def disconnect_room(self, rooms: list[str], namespace: str = "/") -> None:
        await super().disconnect_room(rooms, namespace)
        await self._publish(
            {
                "method": DISCONNECT_ROOMS,
                "rooms": rooms,
                "namespace": namespace,
                "host_id": self.host_id,
            }
        )

    async def _listen(self) -> Any:
        # python-socketio's listener ignores methods it does not know: closing the connections
        # in a room (a sign-in session's) is handled here, the rest passes through.
        marker = DISCONNECT_ROOMS.encode()
        async for message in super()._listen():
            raw = message.encode() if isinstance(message, str) else message
            if isinstance(raw, bytes) and marker in raw:
                data = self.json.loads(message)
                if data.get("method") == DISCONNECT_ROOMS:
                    if data.get("host_id") != self.host_id:
                        await DirectFanoutManager.disconnect_room(
                            self, list(data.get("rooms") or []), data.get("namespace") or "/"
                        )
                    continue
            yield message

    async def _publish(self, data: Any) -> Any:
        # After close(), a late emit (a disconnect handler finishing during shutdown) must not
        # open a new Redis connection that nobody would close.
        if self._closed:
            return None
        return await super()._publish(data)

    async def close(self) -> None:
        """Stop listening and close the Redis connections (python-socketio never does)."""
        self._closed = True
        listener = getattr(self, "thread", None)
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        for redis, pubsub in getattr(self, "_clients", []):
            await pubsub.aclose()
            await redis.aclose()
        self._clients = []
        self.connected = False


class _Server(socketio.AsyncServer):  # type: ignore[misc]
    """An AsyncServer that never lets a client's event reach a lifecycle handler.

    python-socketio routes an event a client names "connect" or "disconnect" to the same
    handlers as the real thing: a signed-in tab could run its own disconnect bookkeeping (and
    go offline while connected) or re-run authentication with a made-up environ. Such events
    are renamed so the namespace answers them as unknown.
    """

    async def _handle_event(self, eio_sid: str, namespace: str, id: Any, data: Any) -> None:
        if isinstance(data, list) and data and data[0] in self.reserved_events:
            data = [f"client:{data[0]}", *data[1:]]
        await super()._handle_event(eio_sid, namespace, id, data)

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        """A packet that cannot be decoded (nested too deep, a type a server never receives)
        is refused here, with an error ack when it asked for one — not left to
        python-engineio, which would log it as a crash."""
        try:
            await super()._handle_eio_message(eio_sid, data)
        except TooDeep:
            log.info("realtime.packet_refused", extra={"reason": "too_deep"})
            await self._refuse(eio_sid, data)
        except ValueError as exc:
            undecodable = isinstance(exc, json.JSONDecodeError) or str(exc) in _UNDECODABLE
            if not (undecodable or str(exc).startswith("invalid literal for int()")):
                raise  # a fault of ours, not the client's packet: logged as one
            log.info("realtime.packet_refused", extra={"reason": "malformed"})

    async def _refuse(self, eio_sid: str, data: Any) -> None:
        header = _EVENT_HEADER.match(data) if isinstance(data, str) else None
        if header is None or header["id"] is None:
            return
        error = AppError(ErrorCode.INVALID, f"arguments nest deeper than {MAX_JSON_DEPTH} levels")
        ack = self.packet_class(
            sio_packet.ACK,
            namespace=header["namespace"] or "/",
            data=[{"ok": False, "error": error.as_payload()}],
            id=int(header["id"]),
        )
        await self._send_packet(eio_sid, ack)


# What python-socketio raises for a packet no client should send (its own words).
_UNDECODABLE = frozenset(
    {
        "Unexpected CONNECT_ERROR packet.",
        "Unknown packet type.",
        "Unexpected binary packet",
        "Unexpected binary attachment",
        "too many attachments",
        "id field is too long",
    }
)

# The head of an EVENT packet: type 2, an optional namespace, an optional ack id (digits).
_EVENT_HEADER = re.compile(r"2(?:(?P<namespace>/[^,]{0,100}),)?(?P<id>[0-9]{1,15})?")


def create_server(settings: Settings) -> Any:
    """An AsyncServer for aiohttp; on Redis when configured, so several processes share rooms.

    Origins are an explicit allow-list (never empty: python-socketio reads [] as "allow all"),
    inbound messages are capped at ``max_message_bytes`` and their JSON nesting at
    ``server.infra.wire.MAX_JSON_DEPTH``.
    """
    origins = list(settings.allowed_origins)
    if not origins or "*" in origins:
        raise ValueError("an explicit, non-empty origin allow-list is required")
    manager: Any = DirectFanoutManager()
    if settings.redis_url is not None:
        manager = RedisFanoutManager(
            settings.redis_url, channel=f"{settings.redis_prefix}:socketio"
        )
    return _Server(
        async_mode="aiohttp",
        client_manager=manager,
        cors_allowed_origins=origins,
        cors_credentials=True,
        max_http_buffer_size=settings.max_message_bytes,
        # Packets are decoded with bounded nesting, like HTTP bodies.
        json=SocketJson,
        # Logger objects, not False: given False, python-engineio adds a handler of its own
        # that prints plain-text tracebacks beside our structured lines (server.infra.log).
        logger=logging.getLogger("socketio.server"),
        engineio_logger=logging.getLogger("engineio.server"),
        ping_interval=20,
        ping_timeout=20,
    )


def attach(server: Any, app: web.Application) -> None:
    server.attach(app, socketio_path="socket.io")


def register(server: Any, namespace: Any) -> None:
    server.register_namespace(namespace)


def connection_count(server: Any) -> int:
    return len(server.eio.sockets)


async def disconnect_all(server: Any) -> None:
    """Close every connection (at shutdown: open WebSockets would otherwise hold the HTTP
    server open until they time out)."""
    for socket in list(server.eio.sockets.values()):
        # Send the close packet but do not wait for a long-polling client to fetch it.
        await socket.close(wait=False)
        # Then end the socket's writer (None on its queue, as engine.io does itself), which
        # closes the WebSocket or answers the pending long-poll: otherwise the handler stays
        # until engine.io's ping timeout (40 s), browsers ignore the close packet, and the HTTP
        # server's shutdown waits for that handler (tests/test_fanout.py checks ``queue``).
        socket.queue.put_nowait(None)


async def announce(server: Any, event: str, payload: dict[str, Any]) -> None:
    """Send ``event`` to this process's own connections only (on Redis a plain emit would
    reach every process's): at shutdown, "server:restarting"."""
    outbound.check(event, payload)
    await DirectFanoutManager.emit(server.manager, event, payload, "/")


async def disconnect_rooms(server: Any, rooms: list[str]) -> None:
    """Close every connection in these rooms, on every process."""
    await server.manager.disconnect_room(rooms, "/")


async def shutdown(server: Any) -> None:
    await server.shutdown()
    if isinstance(server.manager, RedisFanoutManager):
        await server.manager.close()


class RefusedConnection(socketio.exceptions.ConnectionRefusedError):  # type: ignore[misc]
    """Raised from a connect handler as ``(message, {"code", "message"})``; the client's
    ``connect_error`` receives ``{"message": ..., "data": {"code": ..., "message": ...}}``."""
