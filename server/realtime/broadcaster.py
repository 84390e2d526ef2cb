"""The Socket.IO side of ``server.infra.broadcast.Broadcaster``: people and organizations are
Socket.IO rooms (``user:<id>``, ``org:<id>``), which the Redis manager spans across processes.
Every event passes ``outbound.check`` first (its model, in strict mode: the tests)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from server.realtime import outbound, sio


def session_room(session_id: int) -> str:
    """The Socket.IO room of the connections one sign-in session opened."""
    return f"session:{session_id}"


class SocketBroadcaster:
    def __init__(self, server: Any) -> None:
        self._server = server

    async def to_user(self, user_id: int, event: str, data: dict[str, Any]) -> None:
        outbound.check(event, data)
        await self._server.emit(event, data, room=f"user:{user_id}", namespace="/")

    async def to_users(self, user_ids: Iterable[int], event: str, data: dict[str, Any]) -> None:
        outbound.check(event, data)
        rooms = [f"user:{user_id}" for user_id in sorted(set(user_ids))]
        if rooms:
            await self._server.emit(event, data, to=rooms, namespace="/")

    async def to_org(self, org_id: int, event: str, data: dict[str, Any]) -> None:
        outbound.check(event, data)
        await self._server.emit(event, data, room=f"org:{org_id}", namespace="/")

    async def to_connection(self, sid: str, event: str, data: dict[str, Any]) -> None:
        outbound.check(event, data)
        await self._server.emit(event, data, to=sid, namespace="/")

    async def disconnect(self, connection_ids: Iterable[str]) -> None:
        for sid in connection_ids:
            # On Redis, python-socketio forwards this to the process that holds the socket.
            await self._server.disconnect(sid, namespace="/")

    async def end_sessions(self, session_ids: Iterable[int], reason: str) -> None:
        ended = {"reason": reason}
        outbound.check("session:ended", ended)
        rooms = [session_room(s) for s in sorted(set(session_ids))]
        if not rooms:
            return
        # The event goes first on the same queues, so a client learns why before it is cut.
        await self._server.emit("session:ended", ended, to=rooms, namespace="/")
        await sio.disconnect_rooms(self._server, rooms)
