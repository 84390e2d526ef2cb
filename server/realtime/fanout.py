"""Broadcast without a task per recipient.

python-socketio's ``AsyncManager.emit`` encodes a broadcast once, then creates one asyncio task
per recipient and waits for all of them; each task only puts the packet on that socket's send
queue. Here the same encoded packet is put on every queue directly, in one loop, which is what
the tasks did minus their scheduling (measured in bench/presence.py; see docs/benchmarks.md).

It relies on two engine.io internals, both covered by tests/test_fanout.py so that an upgrade
that changes them fails loudly: ``server.eio.sockets`` (sid → socket) and each socket's
``queue`` (an ``asyncio.Queue`` drained by that socket's writer) and ``closed`` flag.
"""

from __future__ import annotations

from typing import Any

import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet


class DirectFanoutManager(socketio.AsyncManager):  # type: ignore[misc]
    """Drop-in manager; on Redis, mix it in after ``AsyncRedisManager`` (see ``sio.py``)."""

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str,
        room: Any = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: Any = None,
        **kwargs: Any,
    ) -> None:
        if callback is not None:
            # Per-recipient ack ids: each packet differs, keep the library's path.
            await super().emit(
                event,
                data,
                namespace,
                room=room,
                skip_sid=skip_sid,
                callback=callback,
                to=to,
                **kwargs,
            )
            return
        target = to or room
        if namespace not in self.rooms:
            return
        if isinstance(data, tuple):
            args = list(data)
        elif data is not None:
            args = [data]
        else:
            args = []
        skip = set(skip_sid) if isinstance(skip_sid, list) else {skip_sid}
        encoded = self.server.packet_class(
            sio_packet.EVENT, namespace=namespace, data=[event, *args]
        ).encode()
        parts = encoded if isinstance(encoded, list) else [encoded]
        packets = [eio_packet.Packet(eio_packet.MESSAGE, part) for part in parts]
        sockets = self.server.eio.sockets
        for sid, eio_sid in self.get_participants(namespace, target):
            if sid in skip:
                continue
            socket = sockets.get(eio_sid)
            if socket is None or socket.closed:
                continue
            for pkt in packets:
                socket.queue.put_nowait(pkt)

    async def disconnect_room(self, rooms: list[str], namespace: str = "/") -> None:
        """Close every connection of this process that is in one of ``rooms`` (the Redis
        manager also tells the other processes to do the same)."""
        for sid, _ in self.get_participants(namespace, rooms):
            await self.server.disconnect(sid, namespace=namespace, ignore_queue=True)
